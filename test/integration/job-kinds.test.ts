/**
 * Job kinds by name (issue 12): a worker picks the schema and the processor by
 * the job's name; results tell their kind; the one place that reads a BullMQ
 * key format (ignoredFailures) and the reason BullMQ fails a parent with when
 * its child fails are checked against real BullMQ here.
 */
import { FlowProducer, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { childResults, JOB_KINDS, kindsOf, QUEUES } from '@musicflow/contracts';
import { createServiceContext, ignoredFailures, PipelineQueues, runStageWorker, type RunningWorker, type ServiceContext } from '@musicflow/flow';
import { validateStage } from '@musicflow/service-validator';
import { REDIS_URL, testConfig, uniqueName } from '../helpers/env.ts';

describe('job kinds', () => {
  let ctx: ServiceContext;
  let worker: RunningWorker;
  let events: QueueEvents;

  beforeAll(async () => {
    ctx = createServiceContext(testConfig({ JOB_ATTEMPTS: '1' }), 'test');
    worker = runStageWorker(validateStage, ctx);
    events = new QueueEvents(ctx.queues.queues.validate.name, { connection: { url: REDIS_URL }, prefix: ctx.config.QUEUE_PREFIX });
    await events.waitUntilReady();
  });
  afterAll(async () => {
    await worker?.close();
    await events?.close();
    await ctx?.close();
  });

  const failureOf = async (name: string, data: unknown) => {
    const job = await ctx.queues.queues.validate.add(name, data, { jobId: uniqueName('job') });
    return job.waitUntilFinished(events).then(
      () => 'completed',
      (err: Error) => err.message,
    );
  };

  it('fails a job of a kind its queue does not carry at once, naming the kinds it does', async () => {
    expect(kindsOf('validate')).toEqual(['validate']);
    expect(await failureOf('kpi-date', {})).toMatch(/no job kind "kpi-date" on the validate queue \(it carries validate\)/);
  });

  it("checks a job's data against its kind's schema, naming the field", async () => {
    expect(await failureOf('validate', { run: {} })).toMatch(/invalid validate \S+ job data: run\.runId: /);
  });

  it('knows every kind by its stage', () => {
    expect(Object.fromEntries(Object.entries(JOB_KINDS).map(([k, v]) => [k, v.stage]))).toEqual({
      plan: 'extract',
      catalogue: 'extract',
      validate: 'validate',
      transform: 'transform',
      commit: 'transform',
      kpi: 'kpi',
      'kpi-date': 'kpi',
      'kpi-pass': 'kpi',
      recompute: 'kpi',
      load: 'load',
      archive: 'load',
      backfill: 'load',
    });
  });

  it('tells children results apart by kind, not by their keys', () => {
    const values = {
      'a:b:c': { kind: 'catalogue', startedAt: 0, finishedAt: 1, table: 'users', url: 'u', wanted: 1, kept: 1, rejected: 0 },
      'x:y:z': {
        kind: 'validate',
        startedAt: 0,
        finishedAt: 1,
        chunkId: 'c',
        validUrl: 'v',
        keysUrl: 'k',
        validationsUrl: 'w',
        segments: 0,
        distinct: { tracks: 0, users: 0 },
      },
    };
    expect(childResults(values, 'catalogue').map((r) => r.table)).toEqual(['users']);
    expect(childResults(values, 'validate').map((r) => r.chunkId)).toEqual(['c']);
    expect(() => childResults({ k: { kind: 'nonsense' } }, 'validate')).toThrow();
  });

  it("names a parent's failed children by job id, as BullMQ keeps them", async () => {
    const prefix = uniqueName('mfk');
    const connection = { url: REDIS_URL };
    const flows = new FlowProducer({ connection, prefix });
    const child = new Worker('children', async () => Promise.reject(new Error('boom')), { connection, prefix });
    const parent = new Worker('parents', async (job) => ignoredFailures(job), { connection, prefix });
    const parentEvents = new QueueEvents('parents', { connection, prefix });
    try {
      await parentEvents.waitUntilReady();
      const { job } = await flows.add({
        name: 'parent',
        queueName: 'parents',
        opts: { jobId: 'the-parent' },
        children: [{ name: 'child', queueName: 'children', opts: { jobId: 'the-child-1', ignoreDependencyOnFailure: true } }],
      });
      expect(await job.waitUntilFinished(parentEvents)).toEqual([{ jobId: 'the-child-1', reason: 'boom' }]);
    } finally {
      await Promise.all([child.close(), parent.close(), parentEvents.close(), flows.close()]);
      const queue = new Queue('children', { connection, prefix });
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("gives a failure's first reason through parents that failed with their child", async () => {
    // load <- kpi (failed by its kpi-date child) <- kpi-date (failed by its kpi-pass child) <- kpi-pass, as a run's flow.
    const queues = new PipelineQueues(new Redis(REDIS_URL, { maxRetriesPerRequest: null }), uniqueName('mfk'));
    const connection = { url: REDIS_URL, maxRetriesPerRequest: null };
    const prefix = queues.prefix;
    const kpi = new Worker(
      QUEUES.kpi,
      async (job) => {
        if (job.name === 'kpi-pass') throw new UnrecoverableError('kpi-pass the-pass: its worker process died 3 times');
      },
      { connection, prefix },
    );
    const load = new Worker(QUEUES.load, async (job) => [await ignoredFailures(job), await ignoredFailures(job, queues)], { connection, prefix });
    const loadEvents = new QueueEvents(QUEUES.load, { connection, prefix });
    try {
      await loadEvents.waitUntilReady();
      const { job } = await queues.flows.add({
        name: 'load',
        queueName: QUEUES.load,
        opts: { jobId: 'the-load' },
        children: [
          {
            name: 'kpi',
            queueName: QUEUES.kpi,
            opts: { jobId: 'the-kpi', ignoreDependencyOnFailure: true },
            children: [
              {
                name: 'kpi-date',
                queueName: QUEUES.kpi,
                opts: { jobId: 'the-date', failParentOnFailure: true },
                children: [{ name: 'kpi-pass', queueName: QUEUES.kpi, opts: { jobId: 'the-pass', failParentOnFailure: true } }],
              },
            ],
          },
        ],
      });
      const [plain, resolved] = (await job.waitUntilFinished(loadEvents, 30_000)) as { jobId: string; reason: string }[][];
      expect(plain).toEqual([{ jobId: 'the-kpi', reason: `child ${queues.queueKey('kpi')}:the-date failed` }]);
      expect(resolved).toEqual([{ jobId: 'the-kpi', reason: 'kpi-pass the-pass: its worker process died 3 times' }]);
    } finally {
      await Promise.all([kpi.close(), load.close(), loadEvents.close()]);
      for (const queue of Object.values(queues.queues)) await queue.obliterate({ force: true });
      await queues.close();
      queues.connection.disconnect();
    }
  });
});
