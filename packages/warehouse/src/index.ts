export { Warehouse, WarehouseDataError, ensureDatabase, type StageStrategy } from './warehouse.ts';
export { KPI_TABLES, type KpiTableName } from './sql.ts';
export { kpiRowsToCsv, kpiCsvRecords } from './kpi-csv.ts';
export { classifyConnectionError, explainConnectionError, FATAL_PROBLEMS, WarehouseConnectionError, type WarehouseProblem } from './connection-errors.ts';
