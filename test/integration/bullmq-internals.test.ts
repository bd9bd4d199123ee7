/**
 * What musicflow reads from BullMQ beyond its public API (packages/flow/src/bullmq-internals.ts),
 * checked against the installed BullMQ: these fail when an upgrade changes it.
 */
import path from 'node:path';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedulerFiringTime, startSandboxThreads } from '@musicflow/flow';
import { REDIS_URL, REPO, uniqueName } from '../helpers/env.ts';
import { deleteKeys } from '../api/fixtures.ts';

describe('BullMQ internals musicflow relies on', () => {
  const prefix = uniqueName('mft');
  const queueName = 'internals';
  let connection: Redis;
  let queue: Queue;

  beforeAll(() => {
    connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    queue = new Queue(queueName, { connection, prefix });
  });

  afterAll(async () => {
    await queue?.close();
    connection?.disconnect();
    await deleteKeys(prefix);
  });

  it("a scheduler job's firing time, read from its id, is the time the scheduler says it is due", async () => {
    await queue.upsertJobScheduler('daily', { pattern: '0 2 * * *', tz: 'UTC' }, { name: 'trigger', data: {} });
    const scheduler = await queue.getJobScheduler('daily');
    const [job] = await queue.getJobs(['delayed']);
    expect(job?.repeatJobKey).toBe('daily');
    expect(scheduler?.next).toBeGreaterThan(Date.now());
    expect(schedulerFiringTime(job!).getTime()).toBe(scheduler!.next);
    expect(schedulerFiringTime(job!).toISOString()).toMatch(/T02:00:00\.000Z$/);
    await queue.removeJobScheduler('daily');
  });

  it('sandbox threads started with the worker are the ones that take its first jobs', async () => {
    const worker = new Worker(queueName, path.join(REPO, 'test', 'helpers', 'thread-probe.mjs'), {
      connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }),
      prefix,
      concurrency: 2,
      useWorkerThreads: true,
      autorun: false,
    });
    const events = new QueueEvents(queueName, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix });
    try {
      await startSandboxThreads(worker, path.join(REPO, 'test', 'helpers', 'thread-probe.mjs'), 2);
      const warmedBy = Date.now();
      void worker.run();
      await events.waitUntilReady();
      const jobs = await queue.addBulk([
        { name: 'probe', data: {} },
        { name: 'probe', data: {} },
      ]);
      const answers = (await Promise.all(jobs.map((job) => job.waitUntilFinished(events, 30_000)))) as { loadedAt: number }[];
      for (const answer of answers) expect(answer.loadedAt).toBeLessThanOrEqual(warmedBy);
    } finally {
      await worker.close();
      await events.close();
    }
  });

  it('says which file to update when the pool is gone', async () => {
    await expect(startSandboxThreads({} as Worker, 'x.mjs', 1)).rejects.toThrow(/packages\/flow\/src\/bullmq-internals\.ts/);
  });
});
