/**
 * Wrong credentials get a message that says so, with the fix, and keep the
 * password out of it. Against a private cluster that checks passwords (the
 * shared server trusts every local connection).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Warehouse, WarehouseConnectionError } from '@musicflow/warehouse';
import { REPO, uniqueName } from '../helpers/env.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const exec = promisify(execFile);

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

  it('musicflow start with a wrong password exits 1 with that message, starting nothing', async () => {
    const out = await exec(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), 'start', 'loader'], {
      env: { ...process.env, LOG_LEVEL: 'warn', QUEUE_PREFIX: uniqueName('mft'), WAREHOUSE_URL: server.url('admin', 'wrong-password', 'musicflow') },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number | null; killed: boolean; stderr: string }) => ({ code: err.killed ? 'killed' : err.code, stderr: err.stderr }),
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('PostgreSQL authentication failed at postgres://admin:***@127.0.0.1:');
    expect(out.stderr).not.toContain('wrong-password');
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
