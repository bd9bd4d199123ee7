/**
 * Fail whole: `musicflow start` with API_PORT already taken exits non-zero
 * with a message naming the port, instead of running its workers without an API.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabase, REPO, tempDir, uniqueName } from '../helpers/env.ts';

const exec = promisify(execFile);

describe('musicflow start', () => {
  let blocker: net.Server;
  let port: number;
  let warehouseUrl: string;

  beforeAll(async () => {
    blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    port = (blocker.address() as net.AddressInfo).port;
    warehouseUrl = await createTestDatabase();
  });
  afterAll(async () => {
    await new Promise((resolve) => blocker.close(resolve));
    await dropTestDatabase(warehouseUrl);
  });

  it('exits 1 naming the port when API_PORT is taken, with no worker left running', async () => {
    const dir = await tempDir();
    const out = await exec(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), 'start'], {
      env: {
        ...process.env,
        LOG_LEVEL: 'warn',
        API_HOST: '127.0.0.1',
        API_PORT: String(port),
        WAREHOUSE_URL: warehouseUrl,
        QUEUE_PREFIX: uniqueName('mft'),
        STREAMS_URL: `file://${dir}/streams/`,
        LAKE_URL: `file://${dir}/lake/`,
      },
      // A half-started process would keep running: the timeout kills it and the test fails.
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number | null; killed: boolean; stderr: string }) => ({ code: err.killed ? 'killed' : err.code, stderr: err.stderr }),
    );
    expect(out.code).toBe(1);
    expect(out.stderr).toContain(`API_PORT ${port} is already in use`);
  });
});
