/**
 * Entries of a file:// streams folder the service's user may not read (a
 * file, a gzip file, a folder) are an outcome of the run, not an outage:
 * each is rejected with an `unreadable:` reason in the report, never
 * retried, and the good file beside them loads. The tests run as root, who
 * reads everything: the workers here are a real `musicflow start` process
 * run as the unprivileged user `nobody` (setpriv).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds } from '@musicflow/contracts';
import { PIPELINE_WORKERS } from '@musicflow/cli';
import { createServiceContext, startRun, type ServiceContext } from '@musicflow/flow';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, REDIS_URL, REPO, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { waitForReport } from '../helpers/pipeline.ts';
import { deleteKeys } from '../api/fixtures.ts';

const NOBODY = { uid: 65534, gid: 65534 };
const HEADER = 'user_id,track_id,listen_time\n';
const ROW = '26213,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 17:43:13\n';

/** The folders from `dir` up that others may not pass through (a checkout under `mktemp -d` is 0700), with their modes. */
async function closedToOthers(dir: string): Promise<{ folder: string; mode: number }[]> {
  const closed: { folder: string; mode: number }[] = [];
  for (let folder = path.resolve(dir); ; folder = path.dirname(folder)) {
    const { mode } = await fs.stat(folder);
    if (!(mode & 0o001)) closed.push({ folder, mode: mode & 0o7777 });
    if (folder === path.dirname(folder)) return closed;
  }
}

describe('unreadable entries of a file:// streams folder', () => {
  let work: string;
  let warehouseUrl: string;
  let env: Record<string, string>;
  let ctx: ServiceContext;
  let worker: ChildProcess | undefined;
  let workerExited: Promise<void> | undefined;
  let workerLog = '';
  let opened: { folder: string; mode: number }[] = [];

  beforeAll(async () => {
    // `nobody` runs the checkout's code: it may pass through the folders above it for the test (not list them).
    opened = await closedToOthers(REPO);
    for (const { folder, mode } of opened) await fs.chmod(folder, mode | 0o001);
    work = await tempDir();
    const streams = path.join(work, 'streams');
    await fs.mkdir(path.join(streams, 'locked'), { recursive: true });
    await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(streams, 'good.csv'));
    await fs.copyFile(path.join(SAMPLE, 'users.csv'), path.join(work, 'users.csv'));
    await fs.copyFile(path.join(SAMPLE, 'songs.csv'), path.join(work, 'songs.csv'));
    await fs.writeFile(path.join(streams, 'secret.csv'), HEADER + ROW);
    await pipeline(Readable.from([HEADER + ROW]), createGzip(), createWriteStream(path.join(streams, 'secret.csv.gz')));
    await fs.writeFile(path.join(streams, 'locked', 'day.csv'), HEADER + ROW);
    // Everything belongs to `nobody` (the archive moves files out of the folder, the lake is written), but for
    // the three entries it may not read, which stay root's alone.
    for (const entry of ['', 'streams', 'streams/good.csv', 'streams/locked/day.csv', 'users.csv', 'songs.csv']) {
      await fs.chown(path.join(work, entry), NOBODY.uid, NOBODY.gid);
    }
    await fs.chmod(work, 0o755);
    await fs.chmod(path.join(streams, 'secret.csv'), 0o600);
    await fs.chmod(path.join(streams, 'secret.csv.gz'), 0o600);
    await fs.chmod(path.join(streams, 'locked'), 0o700);
    for (const folder of ['lake', 'archive']) {
      await fs.mkdir(path.join(work, folder));
      await fs.chown(path.join(work, folder), NOBODY.uid, NOBODY.gid);
    }

    warehouseUrl = await createTestDatabase();
    const config = testConfig({
      STREAMS_URL: dirUrl(streams),
      USERS_URL: fileUrl(path.join(work, 'users.csv')),
      SONGS_URL: fileUrl(path.join(work, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      ARCHIVE_URL: dirUrl(path.join(work, 'archive')),
      WAREHOUSE_URL: warehouseUrl,
    });
    env = {
      REDIS_URL,
      QUEUE_PREFIX: config.QUEUE_PREFIX,
      JOB_BACKOFF_MS: '100',
      JOB_ATTEMPTS: '3',
      STREAMS_URL: config.STREAMS_URL,
      USERS_URL: config.USERS_URL,
      SONGS_URL: config.SONGS_URL,
      LAKE_URL: config.LAKE_URL,
      ARCHIVE_URL: config.ARCHIVE_URL,
      WAREHOUSE_URL: warehouseUrl,
      HOME: work,
      PATH: process.env.PATH ?? '/usr/bin:/bin',
    };
    ctx = createServiceContext(config, 'test');
  });

  afterAll(async () => {
    if (worker && worker.exitCode === null) {
      worker.kill('SIGTERM');
      await workerExited;
    }
    await ctx?.close();
    if (ctx) await deleteKeys(ctx.config.QUEUE_PREFIX);
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    if (work) await fs.rm(work, { recursive: true, force: true });
    for (const { folder, mode } of opened) await fs.chmod(folder, mode);
  });

  it('rejects each with its reason, retries nothing, and loads the good file beside them', async () => {
    // Root reads them all: a worker running as root would not show the outcome.
    for (const entry of ['secret.csv', 'secret.csv.gz', 'locked/day.csv']) await fs.access(path.join(work, 'streams', entry), fs.constants.R_OK);

    worker = spawn(
      'setpriv',
      ['--reuid=nobody', '--regid=nogroup', '--clear-groups', process.execPath, path.join(REPO, 'bin', 'musicflow.mjs'), 'start', ...PIPELINE_WORKERS],
      {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    worker.stdout!.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    worker.stderr!.on('data', (chunk: Buffer) => (workerLog += chunk.toString()));
    workerExited = new Promise((resolve) => worker!.once('exit', () => resolve()));

    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    const report = await waitForReport(ctx, runId).catch((err: Error) => {
      throw new Error(`${err.message}\nworker output:\n${workerLog.slice(-4000)}`);
    });

    expect(report.status, report.error).toBe('partial');
    expect(report.files).toMatchObject({ total: 4, loaded: 1, rejected: 3 });
    const streamsUrl = ctx.config.STREAMS_URL;
    expect(report.files.firstRejected.map((f) => f.file).sort()).toEqual([`${streamsUrl}locked/`, `${streamsUrl}secret.csv`, `${streamsUrl}secret.csv.gz`]);
    for (const { reasons } of report.files.firstRejected) expect(reasons).toEqual([expect.stringMatching(/^unreadable: permission denied/)]);
    expect(report.rows.valid).toBeGreaterThan(0);

    // Planned in one attempt: no failed attempt of the plan job, and nothing retried.
    const plan = await ctx.queues.queues.extract.getJob(jobIds.plan(runId));
    expect(plan!.stacktrace ?? []).toEqual([]);
    expect(plan!.failedReason).toBeUndefined();
    // The lake was written by `nobody`: the outcome is that user's.
    const written = await fs.readdir(path.join(work, 'lake'), { recursive: true });
    const owners = await Promise.all(written.map(async (entry) => (await fs.stat(path.join(work, 'lake', entry))).uid));
    expect(owners.length).toBeGreaterThan(0);
    expect(new Set(owners)).toEqual(new Set([NOBODY.uid]));
    // The good file was archived; the unreadable ones stay where they were.
    await expect(fs.access(path.join(work, 'streams', 'good.csv'))).rejects.toThrow();
    for (const entry of ['secret.csv', 'secret.csv.gz', 'locked/day.csv']) await fs.access(path.join(work, 'streams', entry));
  });
});
