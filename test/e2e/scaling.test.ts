/**
 * Chunked and parallel processing must not change a single KPI: one big file
 * processed whole by one worker set gives the same warehouse rows as the same
 * file cut into many chunks spread over three worker sets, or run on worker
 * threads.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServiceContext, type Service, type ServiceContext } from '@musicflow/flow';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, waitForReport } from '../helpers/pipeline.ts';
import { startRun } from '@musicflow/flow';
import { jobIds, type KpiDateResult, type RunReport } from '@musicflow/contracts';

describe('chunks and worker replicas', () => {
  let work: string;
  let big: string;
  const databases: string[] = [];

  beforeAll(async () => {
    work = await tempDir();
    // The three sample files as one file of 34k rows.
    const parts = await Promise.all(['streams1.csv', 'streams2.csv', 'streams3.csv'].map((f) => fs.readFile(path.join(SAMPLE, 'streams', f), 'utf8')));
    big = parts.map((p, i) => (i === 0 ? p : p.slice(p.indexOf('\n') + 1))).join('');
  });
  afterAll(async () => {
    await Promise.all(databases.map(dropTestDatabase));
    await fs.rm(work, { recursive: true, force: true });
  });

  async function setup(name: string, chunkBytes: number, extra: Record<string, string> = {}) {
    const streams = path.join(work, name, 'streams');
    await fs.mkdir(streams, { recursive: true });
    await fs.writeFile(path.join(streams, 'day.csv'), big);
    const warehouseUrl = await createTestDatabase();
    databases.push(warehouseUrl);
    const config = testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(streams),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, name, 'lake')),
      CHUNK_BYTES: String(chunkBytes),
      ...extra,
    });
    return { config, warehouseUrl };
  }

  let whole: Awaited<ReturnType<typeof setup>>;
  let wholeReport: RunReport;

  it('one worker set, whole file == three worker sets, 24 chunks', async () => {
    whole = await setup('whole', 64 * 1024 * 1024);
    const single = await startPipeline(whole.config);
    wholeReport = await single.run().finally(() => single.close());
    expect(wholeReport.status).toBe('succeeded');

    const split = await setup('split', 64 * 1024);
    const contexts: ServiceContext[] = [0, 1, 2].map((i) => createServiceContext(split.config, `replica-${i}`));
    const services: Service[] = (await Promise.all(contexts.map((ctx) => startServices(ctx, PIPELINE_WORKERS)))).flat();
    try {
      const { runId } = await startRun(split.config, contexts[0]!.queues, { trigger: 'test' });
      const splitReport = await waitForReport(contexts[0]!, runId);
      expect(splitReport.status).toBe('succeeded');
      expect(splitReport.rows).toEqual(wholeReport.rows);
    } finally {
      await Promise.all(services.map((s) => s.close()));
      await Promise.all(contexts.map((c) => c.close()));
    }

    const parts = await fs.readdir(path.join(work, 'split', 'lake', 'processed', 'listen_date=2024-06-25'));
    expect(parts.length).toBeGreaterThan(20);
    expect(await readWarehouseKpis(split.warehouseUrl)).toEqual(await readWarehouseKpis(whole.warehouseUrl));
  });

  it('the catalogue looked up in several jobs a table (CATALOGUE_TRACKS_PER_JOB, CATALOGUE_USERS_PER_JOB) gives the same rows and report', async () => {
    const sharded = await setup('sharded', 256 * 1024, { CATALOGUE_TRACKS_PER_JOB: '2000', CATALOGUE_USERS_PER_JOB: '2000' });
    const pipeline = await startPipeline(sharded.config);
    try {
      const report = await pipeline.run();
      expect(report.status).toBe('succeeded');
      const jobs = await pipeline.ctx.queues.queues.extract.getJobs(['completed']);
      const shards = (table: string) => jobs.filter((j) => j.id!.startsWith(`extract-${report.runId}-${table}-`)).map((j) => j.id);
      expect(shards('songs').length).toBeGreaterThan(2);
      expect(shards('users').length).toBeGreaterThan(2);
      expect(report.catalogue).toEqual(wholeReport.catalogue);
      expect(report.rows).toEqual(wholeReport.rows);
    } finally {
      await pipeline.close();
    }
    expect(await readWarehouseKpis(sharded.warehouseUrl)).toEqual(await readWarehouseKpis(whole.warehouseUrl));
  });

  it('validate, transform and KPI jobs on worker threads (WORKER_THREADS, two at a time, the date split into pass jobs) give the same rows', async () => {
    // 34k events of one date, at most 10k a pass: four pass jobs, each waited for by the date job on a thread.
    const threaded = await setup('threads', 256 * 1024, { WORKER_THREADS: 'true', WORKER_CONCURRENCY: '2', KPI_EVENTS_PER_PASS: '10000' });
    const pipeline = await startPipeline(threaded.config);
    try {
      const report = await pipeline.run();
      expect(report.status).toBe('succeeded');
      const dateJob = await pipeline.ctx.queues.queues.kpi.getJob(jobIds.kpiDate(report.runId, '2024-06-25'));
      expect((dateJob!.returnvalue as KpiDateResult).passes).toBe(4);
      // The three stages' workers are sandboxed (a file processor, no function in this thread), so their jobs
      // ran on the threads their pools hold: two each, started with the worker, idle again now.
      const pools = pipeline.services
        .map((s) => (s as { worker?: { opts: { useWorkerThreads?: boolean }; childPool?: { getAllFree(): unknown[] } } }).worker)
        .filter((w) => w?.opts.useWorkerThreads);
      expect(pools).toHaveLength(3);
      for (const w of pools) expect(w!.childPool!.getAllFree().length).toBe(2);
    } finally {
      await pipeline.close();
    }
    expect(await readWarehouseKpis(threaded.warehouseUrl)).toEqual(await readWarehouseKpis(whole.warehouseUrl));
  });
});
