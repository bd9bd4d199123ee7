export { main } from './main.ts';
export { startServices, SERVICE_NAMES, PIPELINE_WORKERS, type ServiceName } from './services.ts';
export { waitForRun } from './wait.ts';
export { migrateWarehouse } from './migrate.ts';
export { formatReport, formatTable } from './format.ts';
