/**
 * Re-running only what failed: after a partial run, fixing its rejected file
 * and `POST /runs/:id/retry {"onlyFailed":true}` loads that file alone (a file
 * that landed since stays for the next run); after a run whose load the
 * warehouse refused, fixing the table and `musicflow retry --only-failed`
 * loads just its dates, recomputed from the lake, and ingests no file.
 */
import fs from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '@musicflow/service-api';
import { startRun } from '@musicflow/flow';
import { DDL } from '../../packages/warehouse/src/sql.ts';
import { deleteKeys, makeBucket, sampleStreams, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';

const BAD_FILE = 'user_id,track_id\n1,abc\n'; // no listen_time column: rejected whole

describe('retry only what failed', () => {
  let db: string;
  let bucket: Bucket;
  let pipeline: TestPipeline;
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 100);
    pipeline = await startPipeline(testConfig({ ...bucket.env, WAREHOUSE_URL: db }));
    app = await buildApp(pipeline.ctx);
  });

  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('after fixing a rejected file, onlyFailed loads it alone', async () => {
    await bucket.addStream('bad.csv', BAD_FILE);
    const partial = await pipeline.run();
    expect(partial).toMatchObject({ status: 'partial', files: { total: 2, loaded: 1, rejected: 1 } });

    await bucket.addStream('bad.csv', await sampleStreams(300, 340));
    await bucket.addStream('landed-since.csv', await sampleStreams(500, 520));
    const res = await app.inject({ method: 'POST', url: `/runs/${partial.runId}/retry`, payload: { onlyFailed: true } });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ created: true, retryOf: partial.runId, scope: 'rejected-files', files: 1 });
    const retried = await waitForReport(pipeline.ctx, res.json().runId);
    expect(retried).toMatchObject({ trigger: 'retry', status: 'succeeded', files: { total: 1, loaded: 1, rejected: 0 }, rows: { read: 40 } });
    const files = (await app.inject(`/runs/${retried.runId}/files`)).json().files as { file: string }[];
    expect(files.map((f) => f.file)).toEqual([expect.stringMatching(/\/bad\.csv$/)]);
    expect(await fs.readdir(bucket.streamsDir)).toEqual(['landed-since.csv']);

    // Nothing failed in the retry: nothing to retry; a bad body is a 400 naming the field.
    const nothing = await app.inject({ method: 'POST', url: `/runs/${retried.runId}/retry`, payload: { onlyFailed: true } });
    expect(nothing.statusCode).toBe(409);
    const bad = await app.inject({ method: 'POST', url: `/runs/${partial.runId}/retry`, payload: { onlyFailed: 'yes' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('onlyFailed');
    await fs.rm(`${bucket.streamsDir}/landed-since.csv`);
  });

  it('after the warehouse refused a load, --only-failed loads just its dates from the lake', async () => {
    // The hourly table narrowed by hand: the stage takes the rows, the MERGE refuses them.
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    try {
      await client.query('ALTER TABLE analytics.hourly_kpis ALTER COLUMN top_artist TYPE VARCHAR(5) USING left(top_artist, 5)');
      await bucket.addStream('next-day.csv', (await sampleStreams(0, 100)).replaceAll('2024-06-25', '2024-06-26'));
      const { runId } = await startRun(pipeline.ctx.config, pipeline.ctx.queues, { trigger: 'test' });
      await expect(waitForReport(pipeline.ctx, runId)).rejects.toThrow(/refused a row loading 2024-06-26/);
      const failed = await (await pipeline.ctx.warehouse()).getRun(runId);
      expect(failed).toMatchObject({ status: 'failed', dates: ['2024-06-26'] });
      expect((await readWarehouseKpis(db)).hourly.some((h) => h.listenDate === '2024-06-26')).toBe(false);

      const hourlyDdl = DDL.find((d) => d.includes('analytics.hourly_kpis'))!;
      expect(hourlyDdl).toContain('top_artist VARCHAR(1024)');
      await client.query('ALTER TABLE analytics.hourly_kpis ALTER COLUMN top_artist TYPE VARCHAR(1024)');
      await bucket.addStream('landed-since.csv', await sampleStreams(700, 720));

      const { REDIS_URL, QUEUE_PREFIX } = pipeline.ctx.config;
      const printed = await runCliInProcess(['retry', runId, '--only-failed'], { ...bucket.env, WAREHOUSE_URL: db, REDIS_URL, QUEUE_PREFIX });
      expect(process.exitCode ?? 0).toBe(0);
      const retriedId = /^run (\S+) enqueued over the date\(s\) whose load failed: 2024-06-26$/.exec(printed)?.[1];
      expect(retriedId, printed).toBeDefined();
      const retried = await waitForReport(pipeline.ctx, retriedId!);
      expect(retried).toMatchObject({ trigger: 'retry', status: 'succeeded', dates: ['2024-06-26'], files: { total: 0 } });
      expect((await readWarehouseKpis(db)).hourly.filter((h) => h.listenDate === '2024-06-26').length).toBeGreaterThan(0);
      // No stream file was taken: the one that landed since, and the failed run's own, wait for the next run.
      expect((await fs.readdir(bucket.streamsDir)).sort()).toEqual(['landed-since.csv', 'next-day.csv']);
    } finally {
      await client.end();
    }
  });
});
