/**
 * Run health: a stage whose queue has no worker shows, with since when, and
 * the run completes once its workers are there. In-process workers (the
 * killed-process case is test/e2e/dead-workers.test.ts).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServices } from '@musicflow/cli';
import {
  createServiceContext,
  readQueueWorkers,
  readRunHealth,
  readUnrenewedLocks,
  redisConnection,
  startRun,
  workerName,
  type RunHealth,
  type Service,
  type ServiceContext,
} from '@musicflow/flow';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig, uniqueName } from '../helpers/env.ts';
import { waitForReport } from '../helpers/pipeline.ts';

async function until(read: () => Promise<RunHealth>, ok: (h: RunHealth) => boolean, timeoutMs = 30_000): Promise<RunHealth> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const health = await read();
    if (ok(health)) return health;
    if (Date.now() > deadline) throw new Error(`health never matched: ${JSON.stringify(health)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('run health', () => {
  let warehouseUrl: string;
  let ctx: ServiceContext;
  const services: Service[] = [];

  beforeAll(async () => {
    warehouseUrl = await createTestDatabase();
    // A copy of one sample file: the run moves what it ingests to the archive.
    const work = await tempDir();
    await fs.mkdir(path.join(work, 'streams'));
    await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(work, 'streams', 'streams1.csv'));
    const config = testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(path.join(work, 'streams')),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
    });
    ctx = createServiceContext(config, 'test');
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.close()));
    await ctx?.close();
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
  });

  it('names the queue without a worker and since when, then clears once workers come', async () => {
    services.push(...(await startServices(ctx, ['extractor', 'validator', 'transformer'])));
    // A worker's blocking connection takes its name once connected, a moment after start.
    await expect.poll(() => readQueueWorkers(ctx.queues.queues.extract)).toEqual([workerName()]);
    expect(await readQueueWorkers(ctx.queues.queues.kpi)).toEqual([]);

    const startedAt = Date.now();
    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    const stuck = await until(
      () => readRunHealth(ctx.queues, runId, { lockMs: ctx.config.JOB_LOCK_MS, graceMs: 0 }),
      (h) => h.stages.some((s) => s.stage === 'kpi'),
    );
    const kpi = stuck.stages.find((s) => s.stage === 'kpi')!;
    expect(kpi).toMatchObject({ queue: 'kpi', pending: 1, workers: [] });
    expect(kpi.noWorkerSince).toBeGreaterThanOrEqual(startedAt);
    // The loader waits for the KPI job, not for a worker of its own; the earlier stages are done.
    expect(stuck.stages.map((s) => s.stage)).toEqual(['kpi']);
    expect(stuck.warnings).toEqual([
      expect.stringMatching(/^no worker on queue kpi for \d+ s \(1 job of this run waiting\): start one with musicflow start kpi$/),
    ]);
    // Under the grace period, no warning yet.
    expect((await readRunHealth(ctx.queues, runId, { lockMs: ctx.config.JOB_LOCK_MS, graceMs: 60_000 })).warnings).toEqual([]);

    services.push(...(await startServices(ctx, ['kpi', 'loader'])));
    const report = await waitForReport(ctx, runId);
    expect(report.status).toBe('succeeded');
    const done = await readRunHealth(ctx.queues, runId, { lockMs: ctx.config.JOB_LOCK_MS, graceMs: 0 });
    expect(done).toMatchObject({ stages: [], orphaned: [], stalled: [], warnings: [] });
  }, 60_000);

  it('a job whose lock goes unrenewed counts as unreachable after a share of JOB_LOCK_MS, not of a fixed 30 s', async () => {
    const lockMs = 3_000;
    const queue = new Queue(uniqueName('lock'), { connection: ctx.queues.connection, prefix: ctx.config.QUEUE_PREFIX });
    // A worker taking the job by hand: its lock is set for lockMs and never renewed, as on a host cut off.
    const connection = redisConnection(ctx.config, 'worker');
    const worker = new Worker(queue.name, null, { connection, prefix: ctx.config.QUEUE_PREFIX, lockDuration: lockMs });
    try {
      await queue.add('held', {});
      const job = await worker.getNextJob('held-token');
      // Just taken: its lock is fresh (a 30 s lock would make it look unrenewed for 27 s already).
      expect(await readUnrenewedLocks(queue, [job], lockMs)).toEqual([]);
      await expect.poll(() => ctx.queues.connection.pttl(`${queue.toKey(job.id!)}:lock`), { timeout: 10_000 }).toBe(-2);
      expect(await readUnrenewedLocks(queue, [job], lockMs)).toEqual([expect.objectContaining({ unrenewedMs: lockMs, lapsed: true })]);
    } finally {
      await worker.close(true);
      await queue.obliterate({ force: true });
      await queue.close();
      connection.disconnect();
    }
  });
});
