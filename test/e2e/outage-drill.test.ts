/**
 * The outage drill (issue 11): the warehouse goes away for 2 minutes in the
 * middle of a run, with the default retry settings (15-minute budget, backoff
 * 1 s doubling to 30 s), and the run still ends `succeeded`, its KPI rows
 * those of the DuckDB oracle, recorded once in analytics.etl_runs. Twice: from
 * the KPI stage on (the load comes during the outage), and cutting the load's
 * open transaction. The
 * warehouse is a PostgreSQL cluster of the test's own, stopped as a crash
 * would (`pg_ctl stop -m immediate`) and started again after crash recovery;
 * the shared server is not touched. Each outage lasts 2 minutes of wall
 * time, so the drill runs with MUSICFLOW_SLOW_TESTS=1 (`npm run
 * test:outage-drill`); test/e2e/failover.test.ts covers the same paths in
 * seconds, on a small budget, in every run.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '@musicflow/config';
import { jobIds } from '@musicflow/contracts';
import { retryAttempts, startRun } from '@musicflow/flow';
import { waitFor } from '../api/fixtures.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { dirUrl, fileUrl, REDIS_URL, SAMPLE, sampleStreamsFolder, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const OUTAGE_MS = 120_000;
/** After the warehouse is back, the load's next attempt comes within one capped backoff (30 s), then the load itself. */
const RECOVERY_MS = 3 * 60_000;
const TEST_MS = OUTAGE_MS + RECOVERY_MS + 60_000;
const PASSWORD = 'drill-password';

/** One attempt of the load job as QueueEvents saw it; `retryInMs` once it failed and was delayed. */
interface LoadAttempt {
  startedAt: number;
  retryInMs?: number;
}

describe.runIf(process.env.MUSICFLOW_SLOW_TESTS === '1')('a 2-minute warehouse outage mid-run, with the default retry settings', () => {
  let work: string;
  let server: PrivatePostgres;
  let warehouseUrl: string;
  let config: Config;
  let pipeline: TestPipeline;
  let loadEvents: QueueEvents;

  const query = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  };
  /** The load job's attempts, as QueueEvents reports them, from now on. */
  const watchLoad = (runId: string) => {
    const attempts: LoadAttempt[] = [];
    const loadId = jobIds.load(runId);
    loadEvents.on('active', ({ jobId }) => {
      if (jobId === loadId) attempts.push({ startedAt: Date.now() });
    });
    loadEvents.on('delayed', ({ jobId, delay }) => {
      const last = attempts.at(-1);
      if (jobId === loadId && last) last.retryInMs = Number(delay) - Date.now();
    });
    return attempts;
  };
  /** Takes the warehouse away for OUTAGE_MS; resolves with when it went and came back. */
  const outage = async () => {
    const began = Date.now();
    await server.down();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS - (Date.now() - began)));
    await server.up();
    return { began, ended: Date.now() };
  };
  const expectRecordedOnce = async (runId: string, files: number) => {
    expect(await query('SELECT status FROM analytics.etl_runs WHERE run_id = $1', [runId])).toEqual([{ status: 'succeeded' }]);
    expect(await query('SELECT COUNT(*)::int AS n FROM analytics.etl_run_files WHERE run_id = $1', [runId])).toEqual([{ n: files }]);
  };
  const report = (what: string, runId: string, window: { began: number; ended: number }, attempts: LoadAttempt[], finishedAt: number) => {
    const line = attempts.map(
      (a) => `${((a.startedAt - window.began) / 1000).toFixed(1)} s${a.retryInMs === undefined ? '' : ` (retry in ${(a.retryInMs / 1000).toFixed(1)} s)`}`,
    );
    console.info(
      `${what}: run ${runId}; outage ${((window.ended - window.began) / 1000).toFixed(1)} s; load attempts at ${line.join(', ')}; ` +
        `run finished ${((finishedAt - window.ended) / 1000).toFixed(1)} s after the warehouse was back`,
    );
  };

  beforeAll(async () => {
    work = await tempDir();
    server = await startPrivatePostgres(PASSWORD);
    warehouseUrl = server.url('admin', PASSWORD, 'musicflow');
    config = testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(path.join(work, 'unused')),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      // testConfig's short test backoff and attempt cap, taken off: the drill runs on the defaults.
      JOB_BACKOFF_MS: '',
      JOB_ATTEMPTS: '',
    });
    pipeline = await startPipeline(config);
    loadEvents = new QueueEvents(pipeline.ctx.queues.queues.load.name, { connection: { url: REDIS_URL }, prefix: config.QUEUE_PREFIX });
    await loadEvents.waitUntilReady();
  }, 120_000);

  afterAll(async () => {
    await loadEvents?.close();
    await pipeline?.close();
    await server?.stop();
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('runs on the default retry settings', () => {
    expect(config).toMatchObject({ RETRY_BUDGET_MS: 15 * 60_000, RETRY_BACKOFF_MAX_MS: 30_000, JOB_BACKOFF_MS: 1000 });
    expect(config.JOB_ATTEMPTS).toBeUndefined();
    expect(retryAttempts(config)).toBe(35);
  });

  it(
    'an outage from the KPI stage on, the load arriving during it: succeeded, KPIs of the oracle, recorded once',
    async () => {
      const streams = await sampleStreamsFolder(work, 'streams-1', 'streams1.csv');
      const { runId } = await startRun(config, pipeline.ctx.queues, { trigger: 'test', sources: { streams: dirUrl(streams) } });
      const attempts = watchLoad(runId);
      // The KPI stage has started once its KPI job was first taken.
      await waitFor('the KPI stage to start', async () => (await pipeline.ctx.queues.queues.kpi.getJob(jobIds.kpi(runId)))?.processedOn, 120_000, 20);
      const w = await outage();
      const finished = await waitForReport(pipeline.ctx, runId, RECOVERY_MS);
      const finishedAt = Date.now();
      report('KPI stage outage', runId, w, attempts, finishedAt);

      expect(finished.status).toBe('succeeded');
      // The warehouse went while the KPI stage ran; the load came during the outage, failed there, and succeeded once it was back.
      expect((await pipeline.ctx.queues.queues.kpi.getJob(jobIds.kpi(runId)))?.finishedOn).toBeGreaterThan(w.began);
      expect(attempts[0]!.startedAt).toBeGreaterThanOrEqual(w.began);
      expect(attempts[0]!.startedAt).toBeLessThan(w.ended);
      expect(attempts.at(-1)!.startedAt).toBeGreaterThanOrEqual(w.ended);
      await expectRecordedOnce(runId, 1);
      expect(await query('SELECT COUNT(*)::int AS n FROM analytics.etl_runs')).toEqual([{ n: 1 }]);
      expectSameKpis(
        await readWarehouseKpis(warehouseUrl),
        await computeKpisWithDuckDB({ streamFiles: [path.join(SAMPLE, 'streams', 'streams1.csv')], songsCsv: path.join(SAMPLE, 'songs.csv') }),
      );
    },
    TEST_MS,
  );

  it(
    "an outage that cuts the load's open transaction: rolled back, loaded again once back, recorded once",
    async () => {
      const streams = await sampleStreamsFolder(work, 'streams-2', 'streams2.csv');
      // Holds the run table, so the load's transaction waits inside, its KPI rows merged but not committed, when the server goes.
      const holder = new pg.Client({ connectionString: warehouseUrl });
      holder.on('error', () => undefined); // the outage cuts it too
      await holder.connect();
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE analytics.etl_runs IN ACCESS EXCLUSIVE MODE');
      const { runId } = await startRun(config, pipeline.ctx.queues, { trigger: 'test', sources: { streams: dirUrl(streams) } });
      const attempts = watchLoad(runId);
      await waitFor(
        "the load's transaction to wait on the run table",
        async () => (await query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'DELETE FROM analytics.etl_runs%'`)).length > 0,
        120_000,
      );
      const w = await outage();
      const finished = await waitForReport(pipeline.ctx, runId, RECOVERY_MS);
      const finishedAt = Date.now();
      await holder.end().catch(() => undefined);
      report('outage mid-load', runId, w, attempts, finishedAt);

      expect(finished.status).toBe('succeeded');
      // The attempt under way when the server went failed; a later one, once it was back, loaded the run.
      expect(attempts[0]!.startedAt).toBeLessThan(w.began);
      expect(attempts.at(-1)!.startedAt).toBeGreaterThanOrEqual(w.ended);
      await expectRecordedOnce(runId, 1);
      expect(await query('SELECT COUNT(*)::int AS n FROM analytics.etl_runs')).toEqual([{ n: 2 }]);
      // Both runs' files are in the lake: the KPIs of their dates are those of both files.
      expectSameKpis(
        await readWarehouseKpis(warehouseUrl),
        await computeKpisWithDuckDB({
          streamFiles: ['streams1.csv', 'streams2.csv'].map((f) => path.join(SAMPLE, 'streams', f)),
          songsCsv: path.join(SAMPLE, 'songs.csv'),
        }),
      );
    },
    TEST_MS,
  );
});
