/**
 * Every worker process SIGKILLed mid-run: `musicflow run --wait` says so
 * within a minute and keeps waiting; workers started again finish the run.
 * The users source is read through a proxy that holds connections, so the
 * catalogue job is active (and stuck) when the workers die. The API (in this
 * process, no workers of its own) shows the same in GET /runs/:id and /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds } from '@musicflow/contracts';
import { PIPELINE_WORKERS } from '@musicflow/cli';
import { createServiceContext, readQueueWorkers, type ServiceContext } from '@musicflow/flow';
import { buildApp } from '@musicflow/service-api';
import { REPO, testConfig } from '../helpers/env.ts';
import { startHeldUsersSources, waitFor, type HeldUsersSources } from '../helpers/held-users.ts';

interface Spawned {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function musicflow(args: string[], env: Record<string, string>): Spawned {
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), ...args], { env: { ...process.env, ...env } });
  let output = '';
  child.stdout!.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (output += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe('a run whose workers all die', () => {
  let sources: HeldUsersSources;
  let env: Record<string, string>;
  let ctx: ServiceContext;
  let app: FastifyInstance;
  const spawned: Spawned[] = [];

  beforeAll(async () => {
    sources = await startHeldUsersSources();
    env = sources.env;
    ctx = createServiceContext(testConfig(env), 'test');
    app = await buildApp(ctx);
  });

  const metric = async (line: string) => {
    const text = (await app.inject({ url: '/metrics' })).body;
    return Number(
      text
        .split('\n')
        .find((l) => l.startsWith(`${line} `))
        ?.split(' ')
        .pop(),
    );
  };

  afterAll(async () => {
    for (const s of spawned) s.child.kill('SIGKILL');
    await app?.close();
    await ctx?.close();
    await sources?.close();
  });

  it('run --wait warns within a minute that no worker is left, and the run completes once workers are back', async () => {
    const first = musicflow(['start', ...PIPELINE_WORKERS], env);
    spawned.push(first);
    const pidSuffix = `:${first.child.pid}`;
    await waitFor('the workers', async () => (await readQueueWorkers(ctx.queues.queues.extract)).some((w) => w.endsWith(pidSuffix)), 30_000);

    const wait = musicflow(['run', '--wait'], env);
    spawned.push(wait);
    const runId = await waitFor('the run id', () => /run (\S+) enqueued/.exec(wait.output())?.[1], 30_000);
    // The users catalogue job is active, held by the proxy: the workers die with it in hand.
    const usersJob = jobIds.catalogue(runId, 'users');
    await waitFor('the users job to start', async () => (await ctx.queues.queues.extract.getJobState(usersJob)) === 'active', 30_000);
    first.child.kill('SIGKILL');
    const killedAt = Date.now();

    const warning = await waitFor('the warning', () => /warning: no worker on queue extractor for \d+ s[^\n]*/.exec(wait.output())?.[0], 60_000);
    const warnedAfter = Date.now() - killedAt;
    expect(warnedAfter).toBeLessThan(60_000);
    expect(warning).toContain('start one with musicflow start extractor');
    expect(wait.output()).toMatch(new RegExp(`warning: job ${usersJob} was taken by worker \\S+${pidSuffix}, which is gone`));
    expect(await ctx.queues.queues.extract.getJobState(usersJob)).toBe('active');

    const detail = (await app.inject({ url: `/runs/${runId}` })).json();
    expect(detail.status).toBe('running');
    expect(detail.health.stages).toContainEqual(
      expect.objectContaining({ stage: 'extract', queue: 'extractor', workers: [], noWorkerSeconds: expect.any(Number) }),
    );
    expect(detail.health.orphaned).toEqual([
      expect.objectContaining({ jobId: usersJob, stage: 'extract', worker: expect.stringMatching(new RegExp(`${pidSuffix}$`)) }),
    ]);
    expect(detail.health.warnings).toContainEqual(expect.stringMatching(/^no worker on queue extractor for \d+ s/));
    expect(await metric('musicflow_queue_workers{queue="extractor"}')).toBe(0);
    expect(await metric('musicflow_jobs_orphaned{queue="extractor"}')).toBe(1);
    expect(await metric('musicflow_queue_no_worker_seconds{queue="extractor"}')).toBeGreaterThanOrEqual(0);

    // Workers back, the source answering: BullMQ hands the job back once its lock expires, and the run ends.
    sources.proxy.release();
    const second = musicflow(['start', ...PIPELINE_WORKERS], env);
    spawned.push(second);
    const restartedAt = Date.now();
    expect(await wait.exited).toBe(0);
    console.info(`warned ${(warnedAfter / 1000).toFixed(1)} s after the kill; run done ${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the restart`);
    expect(wait.output()).toContain('SUCCEEDED');
    // BullMQ found the job stalled and ran it again (run --wait names it only if it polls while the job is still unfinished).
    expect((await ctx.queues.queues.extract.getJob(usersJob))?.stalledCounter).toBe(1);
    expect(wait.output()).toContain('workers are back: the run is moving again');
    expect(await metric('musicflow_jobs_stalled_total{queue="extractor"}')).toBe(1);
    expect(await metric('musicflow_jobs_orphaned{queue="extractor"}')).toBe(0);
    expect((await app.inject({ url: `/runs/${runId}` })).json().health).toBeUndefined();
    second.child.kill('SIGTERM');
    await second.exited;
  }, 300_000);
});
