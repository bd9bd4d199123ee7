import { redactUrl, type Config } from '@musicflow/config';
import { explainConnectionError, Warehouse } from '@musicflow/warehouse';

/**
 * Applies the warehouse's pending migrations (every service does too, at
 * start-up, when its role may): what an admin runs before services whose
 * role may create nothing. Returns what the warehouse then records.
 */
export async function migrateWarehouse(config: Config): Promise<string> {
  const warehouse = await Warehouse.connect(config.WAREHOUSE_URL, config.WAREHOUSE_LOAD).catch((err: unknown) => {
    throw explainConnectionError(config.WAREHOUSE_URL, err);
  });
  try {
    const applied = await warehouse.appliedMigrations();
    return [
      `warehouse ${redactUrl(config.WAREHOUSE_URL)}: every migration applied`,
      ...applied.map((m) => `  ${m.version}  ${m.name}  (${m.appliedAt.toISOString()})`),
    ].join('\n');
  } finally {
    await warehouse.close();
  }
}
