/**
 * The production build: bin/musicflow.mjs runs the compiled CLI and services (built by the
 * global setup, test/setup/build.ts) on plain node, worker threads included: the sample goes
 * through, and neither tsx nor any TypeScript source is loaded.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabase, REPO, tempDir, uniqueName } from '../helpers/env.ts';

const exec = promisify(execFile);

describe('the compiled build', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup) await c();
  });

  it('runs the demo on plain node, worker threads included, loading no tsx and no .ts file', async () => {
    const dir = await tempDir();
    const warehouseUrl = await createTestDatabase();
    cleanup.push(
      () => fs.rm(dir, { recursive: true, force: true }),
      () => dropTestDatabase(warehouseUrl),
    );
    const moduleLog = path.join(dir, 'modules.log');
    const { stdout } = await exec(
      process.execPath,
      ['--import', pathToFileURL(path.join(REPO, 'test', 'helpers', 'module-log.mjs')).href, path.join(REPO, 'bin', 'musicflow.mjs'), 'demo'],
      {
        env: {
          ...process.env,
          MUSICFLOW_MODULE_LOG: moduleLog,
          MUSICFLOW_DEMO_DIR: path.join(dir, 'demo'),
          WAREHOUSE_URL: warehouseUrl,
          QUEUE_PREFIX: uniqueName('mft'),
          WORKER_THREADS: 'true',
          LOG_LEVEL: 'warn',
        },
        timeout: 90_000,
      },
    );
    expect(stdout).toContain('SUCCEEDED');
    expect(stdout).toContain('34,038 read, 34,038 valid, 0 rejected, 0 duplicate');
    // The version and the commit `npm run build` stamped (packages/config/build-info.mjs): what the run recorded.
    const { commit } = JSON.parse(await fs.readFile(path.join(REPO, 'packages', 'config', 'dist', 'build-info.json'), 'utf8')) as { commit: string };
    const { version } = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    expect(commit).toMatch(/^[0-9a-f]{40}(-dirty)?$/);
    expect(stdout).toMatch(new RegExp(`version +musicflow ${version.replace(/\./g, '\\.')} commit ${commit.slice(0, 12)}`));

    const loaded = (await fs.readFile(moduleLog, 'utf8')).split('\n').filter(Boolean);
    const ours = loaded.filter((url) => url.startsWith(pathToFileURL(REPO).href) && !url.includes('/node_modules/'));
    expect(ours).toContain(pathToFileURL(path.join(REPO, 'apps', 'cli', 'dist', 'bin.js')).href);
    for (const stage of ['validator', 'transformer', 'kpi']) {
      expect(ours).toContain(pathToFileURL(path.join(REPO, 'services', stage, 'dist', 'thread.js')).href);
    }
    expect(ours).toContain(pathToFileURL(path.join(REPO, 'packages', 'flow', 'dist', 'thread-entry.mjs')).href);
    expect(ours.filter((url) => !url.includes('/dist/') && !url.endsWith('/bin/musicflow.mjs') && !url.endsWith('/module-log.mjs'))).toEqual([]);
    expect(loaded.filter((url) => url.includes('/node_modules/tsx/') || url.endsWith('.ts'))).toEqual([]);
  });
});
