/**
 * Wrong credentials get a message that says so, with the fix, and keep the
 * password out of it. Against a private cluster that checks passwords (the
 * shared server trusts every local connection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Warehouse, WarehouseConnectionError } from '@musicflow/warehouse';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

describe('warehouse credentials', () => {
  let server: PrivatePostgres;

  beforeAll(async () => {
    server = await startPrivatePostgres('right-password');
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('a wrong password: authentication failed, fix the user and password in WAREHOUSE_URL', async () => {
    const err = await Warehouse.connect(server.url('admin', 'wrong-password', 'musicflow')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WarehouseConnectionError);
    expect((err as WarehouseConnectionError).problem).toBe('auth-failed');
    expect((err as Error).message).toContain('password authentication failed for user "admin"');
    expect((err as Error).message).toContain('fix the user and password in WAREHOUSE_URL');
    expect((err as Error).message).not.toContain('wrong-password');
  });

  it('the right password: the missing database is created and migrated', async () => {
    const warehouse = await Warehouse.connect(server.url('admin', 'right-password', 'musicflow'));
    try {
      expect(await warehouse.query('SELECT COUNT(*)::int AS n FROM analytics.etl_runs')).toEqual([{ n: 0 }]);
    } finally {
      await warehouse.close();
    }
  });
});
