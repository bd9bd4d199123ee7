/**
 * A warehouse outage longer than the old retry window (a handful of quick
 * attempts) only delays a run: retries are bounded by RETRY_BUDGET_MS. The
 * shared PostgreSQL is never stopped: the services reach it through a TCP
 * proxy on loopback that this test cuts and restores. Budget and backoff are
 * small here so the test takes seconds; the default budget is 15 minutes.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '@musicflow/config';
import { jobIds } from '@musicflow/contracts';
import { retryAttempts, startRun } from '@musicflow/flow';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, PG_ADMIN, SAMPLE, sampleStreamsFolder, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

// The retry policy before the budget, with this test's backoff: 3 attempts, given up after 0.1 + 0.2 s.
const OLD_ATTEMPTS = 3;

describe('a warehouse outage during a run', () => {
  let work: string;
  let warehouseUrl: string;
  let proxy: TcpProxy;
  let config: Config;
  let pipeline: TestPipeline;

  const attemptsMade = async (queue: 'load' | 'extract', id: string) => (await pipeline.ctx.queues.queues[queue].getJob(id))?.attemptsMade ?? 0;
  const until = async (condition: () => Promise<boolean>, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const runRow = async (runId: string) => {
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    const { rows } = await client.query('SELECT status, error FROM analytics.etl_runs WHERE run_id = $1', [runId]);
    await client.end();
    return rows[0];
  };

  beforeAll(async () => {
    work = await tempDir();
    warehouseUrl = await createTestDatabase();
    const admin = new URL(PG_ADMIN);
    proxy = await startTcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    config = testConfig({
      WAREHOUSE_URL: proxy.via(warehouseUrl),
      STREAMS_URL: dirUrl(path.join(work, 'unused')),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      JOB_ATTEMPTS: '', // no count limit: the budget alone decides
      JOB_BACKOFF_MS: '100',
      RETRY_BACKOFF_MAX_MS: '500',
      RETRY_BUDGET_MS: '3000',
    });
    pipeline = await startPipeline(config);
    await pipeline.ctx.warehouse(); // pooled connections that the outage cuts
  });
  afterAll(async () => {
    await pipeline?.close();
    await proxy?.close();
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('outlasting the old retries, the run succeeds with the KPIs of a run without the outage', async () => {
    const streams = await sampleStreamsFolder(work, 'streams-a', 'streams1.csv');
    await proxy.down();
    const { runId } = await startRun(config, pipeline.ctx.queues, { trigger: 'test', sources: { streams: dirUrl(streams) } });
    // The loader has failed more often than the old policy allowed in all: it would have failed the run by now.
    await until(async () => (await attemptsMade('load', jobIds.load(runId))) > OLD_ATTEMPTS);
    await proxy.up();

    const report = await waitForReport(pipeline.ctx, runId);
    expect(report.status).toBe('succeeded');
    expect(await runRow(runId)).toMatchObject({ status: 'succeeded' });
    expectSameKpis(
      await readWarehouseKpis(warehouseUrl),
      await computeKpisWithDuckDB({ streamFiles: [path.join(SAMPLE, 'streams', 'streams1.csv')], songsCsv: path.join(SAMPLE, 'songs.csv') }),
    );
  });

  it('a fault that outlasts the budget fails the run, recorded once the warehouse answers, its files left in place', async () => {
    const streams = await sampleStreamsFolder(work, 'streams-b', 'streams2.csv');
    const songs = fileUrl(path.join(work, 'missing-songs.csv')); // reading it fails on every attempt
    await proxy.down();
    const { runId } = await startRun(config, pipeline.ctx.queues, { trigger: 'test', sources: { streams: dirUrl(streams), songs } });
    // The songs job spends its budget; the loader then meets the outage and keeps trying within its own.
    await until(async () => (await attemptsMade('load', jobIds.load(runId))) >= 2);
    const songsJob = await pipeline.ctx.queues.queues.extract.getJob(jobIds.catalogue(runId, 'songs'));
    expect(await songsJob?.getState()).toBe('failed');
    expect(songsJob?.attemptsMade).toBe(retryAttempts(config));
    expect(songsJob!.finishedOn! - songsJob!.timestamp).toBeGreaterThanOrEqual(config.RETRY_BUDGET_MS);
    expect(await runRow(runId)).toBe(undefined); // not recorded yet: the loader cannot reach the warehouse
    await proxy.up();

    const report = await waitForReport(pipeline.ctx, runId);
    expect(report.status).toBe('failed');
    expect(report.error).toContain('missing-songs.csv');
    expect(await runRow(runId)).toMatchObject({ status: 'failed' });
    await fs.access(path.join(streams, 'streams2.csv'));
  });

  it('a load that outlasts its own budget fails the run, recorded by the next load that reaches the warehouse', async () => {
    const streams = await sampleStreamsFolder(work, 'streams-c', 'streams3.csv');
    await proxy.down();
    const { runId } = await startRun(config, pipeline.ctx.queues, { trigger: 'test', sources: { streams: dirUrl(streams) } });
    await until(async () => (await pipeline.ctx.queues.queues.load.getJobState(jobIds.load(runId))) === 'failed');
    expect(await attemptsMade('load', jobIds.load(runId))).toBe(retryAttempts(config));
    await proxy.up();
    expect(await runRow(runId)).toBe(undefined);

    const empty = path.join(work, 'streams-empty');
    await fs.mkdir(empty);
    await pipeline.run({ streams: dirUrl(empty) }); // any next run's load records it
    expect(await runRow(runId)).toMatchObject({ status: 'failed', error: expect.stringContaining('load: ') });
    await fs.access(path.join(streams, 'streams3.csv'));
  });
});
