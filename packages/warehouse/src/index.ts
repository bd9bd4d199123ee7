export { Warehouse, WarehouseDataError, ensureDatabase, type KpiLoad, type LoadOutcome, type RunTotalsRow, type StageStrategy } from './warehouse.ts';
export { KPI_TABLES, type KpiTableName } from './sql.ts';
export { kpiRowsToCsv, kpiCsvRecords } from './kpi-csv.ts';
export { classifyConnectionError, explainConnectionError, FATAL_PROBLEMS, WarehouseConnectionError, type WarehouseProblem } from './connection-errors.ts';
export {
  checkSettings,
  evaluateChecks,
  reportWithChecks,
  summarizeChecks,
  type CheckOutcome,
  type CheckResult,
  type CheckSettings,
  type DateMeasures,
  type LoadedDate,
} from './checks.ts';
export { readFreshness, listListenDates, loadedDatesIn, type Freshness } from './freshness.ts';
export { LAST_FINISHED_REPORT_SQL } from './sql.ts';
export { fitRunRecord } from './run-record.ts';
export { columnChanges, recordSchemaDrift, type ColumnChanges } from './schema-drift.ts';
export { readTrends, addDays, MAX_TREND_DAYS, TREND_GENRES, TREND_RUNS, type Trends, type TrendDay, type TrendRun } from './trends.ts';
