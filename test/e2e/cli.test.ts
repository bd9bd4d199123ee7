import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import stringWidth from 'string-width';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabase, REPO, tempDir, uniqueName } from '../helpers/env.ts';

const exec = promisify(execFile);

async function musicflow(args: string[], env: Record<string, string>) {
  return exec(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    timeout: 90_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

describe('musicflow CLI', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup) await c();
  });

  for (const width of [80, 120]) {
    it(`demo runs the sample data end to end and prints both KPI tables and the report within ${width} columns`, async () => {
      const dir = await tempDir();
      const warehouseUrl = await createTestDatabase();
      cleanup.push(
        () => fs.rm(dir, { recursive: true, force: true }),
        () => dropTestDatabase(warehouseUrl),
      );
      // Not a terminal: COLUMNS says the width.
      const out = await musicflow(['demo'], { MUSICFLOW_DEMO_DIR: dir, WAREHOUSE_URL: warehouseUrl, QUEUE_PREFIX: uniqueName('mft'), COLUMNS: String(width) });
      expect(out.code).toBe(0);
      const lines = out.stdout.split('\n');
      expect(lines.filter((l) => stringWidth(l) > width)).toEqual([]);
      expect(out.stdout).toMatch(/analytics\.genre_kpis, listen_date 2024-06-25 \(113 rows\): the 15 most played/);
      // The 15 most played genres, durations as m:ss, then where the other 98 are.
      const table = lines.slice(lines.findIndex((l) => l.startsWith('genre ')) + 2);
      const genres = table.slice(0, table.indexOf(''));
      expect(genres).toHaveLength(15);
      expect(genres[0]).toMatch(/^sertanejo\s+381\s+4:21\s/);
      expect(genres.every((l) => /\s\d:\d\d\s/.test(l))).toBe(true);
      expect(out.stdout.replace(/\s+/g, ' ')).toContain(
        '… and 98 more genres: analytics.genre_kpis has all 113; `musicflow start api` shows them at http://localhost:3000/dashboard?date=2024-06-25',
      );
      expect(out.stdout).toMatch(/analytics\.hourly_kpis, listen_date 2024-06-25/);
      expect(out.stdout).toMatch(/^\s+23\s+477\s+911\s/m);
      expect(out.stdout).toContain('SUCCEEDED');
      expect(out.stdout).toContain('34,038 read, 34,038 valid, 0 rejected, 0 duplicate');
    });
  }

  it('says which service is down, where, and how to start it, instead of a stack trace', async () => {
    const out = await musicflow(['demo'], {
      REDIS_URL: 'redis://127.0.0.1:1',
      WAREHOUSE_URL: 'postgres://postgres:secret@127.0.0.1:1/musicflow',
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('Redis is not reachable at redis://127.0.0.1:1');
    expect(out.stderr).toContain('PostgreSQL refuses connections at postgres://postgres:***@127.0.0.1:1/musicflow');
    expect(out.stderr).toContain('pg_ctlcluster');
    expect(out.stderr).toContain('redis-server');
    expect(out.stderr).not.toContain('secret');
    expect(out.stderr).not.toMatch(/\n\s+at /);
  });

  it('rejects a bad setting naming the variable', async () => {
    const out = await musicflow(['run'], { CHUNK_BYTES: 'lots', STREAMS_URL: 'ftp://x/' });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('CHUNK_BYTES');
    expect(out.stderr).toContain('STREAMS_URL: must be an s3:// or file:// URL');
  });
});
