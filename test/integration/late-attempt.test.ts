/**
 * An attempt that outlives its job lock (its host cut off for longer than the
 * lock, test/e2e/many-hosts.test.ts does it with real hosts): its result is
 * refused and its log says so, and what it writes after its run ended is
 * deleted. In one process: the processor drops its own lock, as its lapse
 * would, and plays the run's end (the loader's mark and deletion) before its
 * late write.
 */
import { Writable } from 'node:stream';
import fs from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds, QUEUES, type RunContext } from '@musicflow/contracts';
import type { Job } from 'bullmq';
import { createServiceContext, defineStage, enterStep, LockLostError, markRunEnded, runStageWorker, type ServiceContext } from '@musicflow/flow';
import { LAKE_LAYOUT } from '@musicflow/lake';
import { dirUrl, tempDir, testConfig } from '../helpers/env.ts';

describe('a late attempt', () => {
  let work: string;
  let ctx: ServiceContext;
  const lines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    work = await tempDir();
    const base = createServiceContext(testConfig({ LAKE_URL: dirUrl(path.join(work, 'lake')), LOG_LEVEL: 'info' }), 'test');
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString())), done()) });
    ctx = { ...base, logger: pino({ level: 'info' }, sink) };
  });
  afterAll(async () => {
    await ctx.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  const run = (runId: string): RunContext => ({
    runId,
    trigger: 'test',
    startedAt: new Date().toISOString(),
    sources: { streams: 'file:///in/', users: 'file:///in/users.csv', songs: 'file:///in/songs.csv' },
    lake: ctx.config.LAKE_URL,
    archive: 'file:///archive/',
  });

  /** Runs one catalogue job through a real worker whose processor is `body`; resolves with the job's log lines. */
  async function attempt(runId: string, body: (lockKey: string, job: Job, token: string | undefined) => Promise<void>): Promise<Record<string, unknown>[]> {
    const stage = defineStage({
      stage: 'extract',
      createProcessors: () => ({
        plan: () => Promise.reject(new Error('not in this test')),
        catalogue: async (job, _data, _log, token) => {
          await body(`${ctx.queues.prefix}:${QUEUES.extract}:${job.id}:lock`, job, token);
          return undefined;
        },
      }),
    });
    const jobId = jobIds.catalogue(runId, 'users');
    await ctx.queues.queues.extract.add('catalogue', { run: run(runId), table: 'users', keysUrls: [], partUrls: [] }, { jobId });
    const worker = runStageWorker(stage, ctx);
    const own = () => lines.filter((l) => l.jobId === jobId);
    try {
      const deadline = Date.now() + 30_000;
      while (!own().some((l) => /late result refused|job completed/.test(String(l.msg)))) {
        if (Date.now() > deadline) throw new Error(`job ${jobId} never finished: ${JSON.stringify(own())}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      // BullMQ's own refusal follows.
      await new Promise((resolve) => setTimeout(resolve, 300));
    } finally {
      await worker.close(0);
    }
    return own();
  }

  it('is refused in its log, and its writes after its run ended are deleted', async () => {
    const runId = '20261205-230000-aaaaaa';
    const temp = LAKE_LAYOUT.runTemp(ctx.config.LAKE_URL, runId);
    const own = await attempt(runId, async (lockKey) => {
      await ctx.store.write(LAKE_LAYOUT.validEvents(ctx.config.LAKE_URL, runId, 'early'), 'written before the host was cut off');
      // The lock lapses while the host is away, another attempt takes the job, the run ends: the loader marks it and deletes.
      await ctx.queues.connection.del(lockKey);
      await markRunEnded(ctx.queues.connection, ctx.queues.prefix, runId, temp);
      await ctx.store.deleteFolder(temp);
      // The host is back: the write it had in flight lands.
      await ctx.store.write(LAKE_LAYOUT.validEvents(ctx.config.LAKE_URL, runId, 'late'), 'landed after the run ended');
    });
    expect(own.map((l) => l.msg)).toEqual([
      'job started',
      expect.stringMatching(/^late result refused/),
      "the run had ended: its temporaries were deleted again, after this late attempt's writes",
    ]);
    expect(lines).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringMatching(/^job lock lost/) }));
    expect(await fs.readdir(path.join(work, 'lake', 'tmp', `run=${runId}`)).catch(() => [])).toEqual([]);
  });

  it('entering a step after its lock lapsed, writes no step data into the job: refused in its log', async () => {
    const runId = '20261205-230000-cccccc';
    let thrown: unknown;
    const own = await attempt(runId, async (lockKey, job, token) => {
      await ctx.queues.connection.del(lockKey);
      thrown = await enterStep(ctx, job, token, { ...(job.data as object), step: 'late' }).catch((err: unknown) => err);
      throw thrown;
    });
    expect(thrown).toBeInstanceOf(LockLostError);
    expect(own.map((l) => l.msg)).toEqual(['job started', expect.stringMatching(/^late result refused/)]);
    const job = await ctx.queues.queues.extract.getJob(jobIds.catalogue(runId, 'users'));
    expect(job!.data).not.toHaveProperty('step');
    expect(job!.data).toMatchObject({ table: 'users' });
  });

  it('holding its lock, completes and leaves the temporaries of its unfinished run to the loader', async () => {
    const runId = '20261205-230000-bbbbbb';
    const own = await attempt(runId, async () => {
      await ctx.store.write(LAKE_LAYOUT.validEvents(ctx.config.LAKE_URL, runId, 'chunk'), 'events');
    });
    expect(own.map((l) => l.msg)).toEqual(['job started', 'job completed']);
    expect(await fs.readdir(path.join(work, 'lake', 'tmp', `run=${runId}`, 'valid'))).toEqual(['chunk.events']);
  });
});
