export { Warehouse, ensureDatabase, type RunTotalsRow, type StageStrategy } from './warehouse.ts';
export { KPI_TABLES, type KpiTableName } from './sql.ts';
export { kpiRowsToCsv, kpiCsvRecords } from './kpi-csv.ts';
