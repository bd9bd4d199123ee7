/**
 * Graceful shutdown: `musicflow start` (API, scheduler and the five workers)
 * as a real child process gets SIGTERM in the middle of a run and exits 0; the
 * run completes once workers are back, with every event counted exactly once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { PipelineQueues, readRunProgress } from '@musicflow/flow';
import { createTestDatabase, dropTestDatabase, fileUrl, REDIS_URL, REPO, SAMPLE, testConfig, uniqueName } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { deleteKeys, makeBucket, waitFor, type Bucket } from './fixtures.ts';

const SAMPLE_EVENTS = 34_038; // data/sample/README.md: no duplicates among them

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('SIGTERM during a run', () => {
  let db: string;
  let bucket: Bucket;
  let env: Record<string, string>;
  let child: ChildProcess | undefined;
  let pipeline: TestPipeline | undefined;
  let redis: Redis;
  let queues: PipelineQueues;
  let output = '';

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(0);
    // The full sample in small chunks: a couple of hundred validate/transform jobs, one at a time.
    for (const name of ['streams1.csv', 'streams2.csv', 'streams3.csv']) {
      await fs.copyFile(path.join(SAMPLE, 'streams', name), path.join(bucket.streamsDir, name));
    }
    env = {
      ...bucket.env,
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      WAREHOUSE_URL: db,
      REDIS_URL,
      QUEUE_PREFIX: uniqueName('mft'),
      CHUNK_BYTES: String(24 * 1024),
      WORKER_CONCURRENCY: '1',
      JOB_ATTEMPTS: '3',
      JOB_BACKOFF_MS: '100',
      API_HOST: '127.0.0.1',
      API_PORT: String(await freePort()),
      LOG_LEVEL: 'info',
    };
    redis = new Redis(REDIS_URL);
    queues = new PipelineQueues(redis, env.QUEUE_PREFIX!);
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await pipeline?.close();
    await queues?.close();
    redis?.disconnect();
    if (env) await deleteKeys(env.QUEUE_PREFIX!);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('exits 0 without losing the run, which completes once a worker is back', async () => {
    const proc = spawn(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), 'start'], {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    proc.stdout.on('data', (d) => (output += String(d)));
    proc.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const base = `http://127.0.0.1:${env.API_PORT}`;

    await waitFor('the child API to answer /health', async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok, 30_000, 200);
    const started = await fetch(`${base}/runs`, { method: 'POST' });
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };

    // Mid-run: some chunks transformed, many still to go.
    const mid = await waitFor(
      'the run to be under way',
      async () => {
        const p = await readRunProgress(queues, runId);
        return p.stages.transform.completed >= 3 ? p : undefined;
      },
      60_000,
      20,
    );
    expect(mid.stages.transform.total).toBeGreaterThan(mid.stages.transform.completed + 20);
    const signalled = Date.now();
    proc.kill('SIGTERM');
    const { code, signal } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalled).toBeLessThan(35_000);
    expect(output).toContain('shutting down');

    // The run is neither finished nor lost: its jobs wait in Redis.
    const after = await readRunProgress(queues, runId);
    expect(['running', 'queued']).toContain(after.state);
    expect(after.stages.transform.completed).toBeLessThan(after.stages.transform.total);
    // Structured logs carry the run id and job id on the lines of the run.
    const jobLines = output.split('\n').filter((l) => l.includes('"job completed"'));
    expect(jobLines.length).toBeGreaterThan(3);
    for (const line of jobLines) expect(JSON.parse(line)).toMatchObject({ runId, jobId: expect.any(String) });

    // Workers come back (here in this process): the run completes, each event counted once.
    pipeline = await startPipeline(testConfig({ ...env, LOG_LEVEL: 'warn' }));
    const report = await waitForReport(pipeline.ctx, runId, 90_000);
    expect(report).toMatchObject({
      status: 'succeeded',
      files: { total: 3, rejected: 0 },
      rows: { read: SAMPLE_EVENTS, valid: SAMPLE_EVENTS, rejected: 0, duplicate: 0 },
    });
    expect(report.files.loaded).toBe(3);
    const final = await readRunProgress(queues, runId);
    expect(final.stages.validate.failed + final.stages.transform.failed).toBe(0);
    const warehouse = await pipeline.ctx.warehouse();
    const [plays] = await warehouse.query<{ n: number }>('SELECT SUM(total_plays) AS n FROM analytics.hourly_kpis');
    expect(Number(plays!.n)).toBe(SAMPLE_EVENTS);
    const runs = await warehouse.query<{ run_id: string; status: string }>('SELECT run_id, status FROM analytics.etl_runs');
    expect(runs).toEqual([{ run_id: runId, status: 'succeeded' }]);
  });
});
