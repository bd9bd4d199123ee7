/**
 * A run whose infrastructure fault outlasts the retries ends `failed`: the
 * error is recorded, the sources stay in place, no KPI row is written and the
 * run's temporaries are deleted.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { startRun } from '@musicflow/flow';

describe('a failed run', () => {
  let work: string;
  let warehouseUrl: string;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    work = await tempDir();
    await fs.mkdir(path.join(work, 'streams'));
    await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(work, 'streams', 'streams1.csv'));
    warehouseUrl = await createTestDatabase();
    pipeline = await startPipeline(
      testConfig({
        WAREHOUSE_URL: warehouseUrl,
        STREAMS_URL: dirUrl(path.join(work, 'streams')),
        USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
        // The songs export is missing: reading it fails on every attempt.
        SONGS_URL: fileUrl(path.join(work, 'missing-songs.csv')),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
        JOB_ATTEMPTS: '2',
      }),
    );
  });
  afterAll(async () => {
    await pipeline?.close();
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('records the error, leaves the sources, writes no KPI row and cleans up', async () => {
    const { runId } = await startRun(pipeline.ctx.config, pipeline.ctx.queues, { trigger: 'test' });
    const report = await waitForReport(pipeline.ctx, runId);
    expect(report.status).toBe('failed');
    expect(report.error).toContain('missing-songs.csv');

    await fs.access(path.join(work, 'streams', 'streams1.csv'));
    await expect(fs.readdir(path.join(work, 'lake', 'tmp', `run=${runId}`))).rejects.toThrow();
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    const runs = await client.query('SELECT status, error FROM analytics.etl_runs');
    const kpis = await client.query('SELECT COUNT(*)::int AS n FROM analytics.genre_kpis');
    await client.end();
    expect(runs.rows).toHaveLength(1);
    expect(runs.rows[0].status).toBe('failed');
    expect(runs.rows[0].error).toContain('missing-songs.csv');
    expect(kpis.rows[0].n).toBe(0);
  });
});
