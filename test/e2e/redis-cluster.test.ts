/**
 * musicflow on a Redis Cluster the test starts (three masters with a replica
 * each, on loopback): every connection is a cluster client (REDIS_URL points
 * at a port where nothing listens, so one plain connection would hang the
 * run), the queue prefix carries a hash tag so a flow's queues and
 * musicflow's own keys share one slot, and a master killed mid-run is replaced
 * by its replica without failing the run. KPIs are checked against the DuckDB
 * implementation of SPEC 4.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '@musicflow/config';
import { jobIds, QUEUES, SCHEDULER_QUEUE } from '@musicflow/contracts';
import { activeKey, createServiceContext, readRunProgress, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, REPO, SAMPLE, sampleStreamsFolder, tempDir, testConfig, uniqueName } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { waitForReport } from '../helpers/pipeline.ts';
import { startRedisCluster, type LocalRedisCluster } from '../helpers/redis-cluster.ts';

const exec = promisify(execFile);

describe('on a Redis Cluster', () => {
  let cluster: LocalRedisCluster;
  let work: string;
  let warehouseUrl: string;
  let env: Record<string, string>;
  let config: Config;
  let ctx: ServiceContext;
  let services: Service[];
  let api: string;
  const prefix = `{${uniqueName('mft')}}`;
  const sample = (name: string) => path.join(SAMPLE, 'streams', name);
  const oracle = (files: string[]) => computeKpisWithDuckDB({ streamFiles: files.map(sample), songsCsv: path.join(SAMPLE, 'songs.csv') });

  beforeAll(async () => {
    [cluster, work, warehouseUrl] = await Promise.all([startRedisCluster(), tempDir(), createTestDatabase()]);
    env = {
      REDIS_CLUSTER_NODES: cluster.nodes,
      // Nothing listens there: a connection that ignored the cluster would never reach Redis.
      REDIS_URL: 'redis://127.0.0.1:1',
      QUEUE_PREFIX: prefix,
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(path.join(work, 'unused')),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      // Several chunks per file, so a run has many jobs in flight when a master dies.
      CHUNK_BYTES: '150000',
      API_PORT: '0',
      // Redis commands fail while the cluster has no master for the slot (a few seconds): the budget outlasts that.
      JOB_ATTEMPTS: '',
      JOB_BACKOFF_MS: '200',
      RETRY_BACKOFF_MAX_MS: '2000',
      RETRY_BUDGET_MS: '60000',
    };
    config = testConfig(env);
    ctx = createServiceContext(config, 'test');
    services = await startServices(ctx, [...PIPELINE_WORKERS, 'api']);
    api = (services.at(-1) as Service & { url: string }).url;
  });

  afterAll(async () => {
    try {
      await Promise.all((services ?? []).map((s) => s.close()));
      await ctx?.close();
    } finally {
      await cluster?.stop();
    }
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('a run through the API and the CLI: KPIs of the oracle, every key under the hash tag in the cluster', async () => {
    const streams = await sampleStreamsFolder(work, 'streams-a', 'streams1.csv');
    const health = await fetch(`${api}/health`);
    expect(health.status).toBe(200);
    const { schedules } = (await (await fetch(`${api}/schedules`)).json()) as { schedules: { id: string; source: string }[] };
    expect(schedules).toEqual([expect.objectContaining({ id: 'daily', source: 'env' })]);

    // The CLI enqueues (checking Redis first) and waits on the cluster too.
    const cli = await exec(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), 'run', '--streams', dirUrl(streams), '--wait'], {
      env: { ...process.env, ...env, LOG_LEVEL: 'warn' },
      timeout: 90_000,
    });
    expect(cli.stdout).toContain('SUCCEEDED');
    const runId = /run (\S+)/.exec(cli.stdout + cli.stderr)?.[1];
    expect(runId).toBeDefined();

    const run = (await (await fetch(`${api}/runs/${runId}`)).json()) as { status: string; report: { rows: { read: number } } };
    expect(run).toMatchObject({ status: 'succeeded', report: { rows: { read: 11346 } } });
    expectSameKpis(await readWarehouseKpis(warehouseUrl), await oracle(['streams1.csv']));

    const keys = await cluster.keysUnder(prefix);
    expect(keys).toContain(`${prefix}:${QUEUES.load}:${jobIds.load(runId!)}`);
    expect(keys).toContain(`${prefix}:${SCHEDULER_QUEUE}:schedule-source:daily`);
    // The active-run guard was set (and cleared by the loader) in the same slot: a second run starts at once.
    expect(keys).not.toContain(activeKey(prefix, { streams: dirUrl(streams), users: config.USERS_URL, songs: config.SONGS_URL }));
    const metrics = await (await fetch(`${api}/metrics`)).text();
    expect(metrics).toMatch(/musicflow_job_duration_seconds_count\{queue="loader",status="completed"\} [1-9]/);
  });

  it("the master of the hash tag's slot killed mid-run: its replica takes over, the run succeeds with the same KPIs", async () => {
    const streams = await sampleStreamsFolder(work, 'streams-b', 'streams2.csv');
    const master = await cluster.masterOf(prefix);
    const { runId } = await startRun(config, ctx.queues, { trigger: 'test', sources: { streams: dirUrl(streams) } });
    // Mid-run: chunks are being validated, none of the run is loaded yet.
    for (;;) {
      const progress = await readRunProgress(ctx.queues, runId);
      if (progress.stages.validate.completed > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    cluster.kill(master);
    await cluster.waitForFailover(prefix);
    expect(await cluster.masterOf(prefix)).not.toBe(master);

    const report = await waitForReport(ctx, runId, 90_000);
    expect(report.status).toBe('succeeded');
    expect(report.rows).toMatchObject({ read: 11346, valid: 11346, rejected: 0 });
    expectSameKpis(await readWarehouseKpis(warehouseUrl), await oracle(['streams1.csv', 'streams2.csv']));
  });
});
