/**
 * musicflow on six hosts of one machine (test/helpers/hosts.ts: network
 * namespaces on a private bridge): an S3-protocol server holding the
 * sources, the lake and the archive; Redis and PostgreSQL; the API; three
 * worker hosts running every stage. During a run, the worker host holding a
 * job is cut off for longer than the job lock, until the run is over, then
 * comes back: the job ran again elsewhere, `run --wait` and `/metrics` said a
 * job was held by an unreachable worker, the run succeeded with the KPIs of
 * the independent implementation, the late attempt's result was refused in
 * its own log, and none of its late writes is left in the bucket. Whether
 * a late attempt writes at all depends on where the cut caught it (its S3
 * requests may fail once it is back); test/integration/late-attempt.test.ts
 * makes a late write land after the run's end every time.
 *
 * Opt-in (root, iproute2; minutes, not seconds): MUSICFLOW_MANY_HOSTS=short
 * cuts the host of a KPI date job (what `.ci/run` runs); =full also cuts the
 * hosts of a validate job, of the plan job and of the lake commit, each in a
 * run of its own.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Job } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_KINDS, QUEUES, type JobKind, type KpiDateJob, type ValidateJob } from '@musicflow/contracts';
import { PIPELINE_WORKERS } from '@musicflow/cli';
import { PipelineQueues, readQueueWorkers, readRunJobs } from '@musicflow/flow';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { REPO, SAMPLE, uniqueName } from '../helpers/env.ts';
import { hostNetworkUnavailable, startHostNetwork, type Host, type HostNetwork, type HostProcess } from '../helpers/hosts.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';

const MODE = process.env.MUSICFLOW_MANY_HOSTS;
const unavailable = MODE ? hostNetworkUnavailable() : 'opt-in: set MUSICFLOW_MANY_HOSTS=short or full';
const WORKER_HOSTS = ['w1', 'w2', 'w3'] as const;
const BUCKET = 'musicflow';
const STREAM_FILES = ['streams1.csv', 'streams2.csv', 'streams3.csv'];
const S3_PORT = 9000;
const REDIS_PORT = 6379;
const API_PORT = 3000;
const PASSWORD = 'many-hosts-admin';
const CLI = path.join(REPO, 'bin', 'musicflow.mjs');

async function until<T>(what: string, read: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

describe.skipIf(unavailable)('musicflow on many hosts', () => {
  let net: HostNetwork;
  let postgres: PrivatePostgres;
  let redis: Redis;
  let queues: PipelineQueues;
  let s3: S3Client;
  let apiPort: number;
  let env: Record<string, string>;
  const workers = new Map<number, HostProcess>();
  const prefix = uniqueName('mfh');

  beforeAll(async () => {
    net = await startHostNetwork(['store', 'db', 'api', ...WORKER_HOSTS]);
    const { store, db, api } = net.hosts as Record<'store' | 'db' | 'api', Host>;
    const s3Dir = path.join(net.dir, 's3');
    await fs.mkdir(s3Dir);
    const s3Server = net.spawn(store, process.execPath, [path.join(REPO, 'test/helpers/s3-server.mjs'), store.address, String(S3_PORT), s3Dir, BUCKET]);
    const redisSocket = path.join(net.dir, 'redis.sock');
    net.spawn(db, 'redis-server', [
      ...['--bind', db.address, '--port', String(REDIS_PORT), '--unixsocket', redisSocket, '--unixsocketperm', '700'],
      ...['--save', '', '--appendonly', 'no', '--dir', net.dir, '--protected-mode', 'no'],
    ]);
    postgres = await startPrivatePostgres(PASSWORD, { on: db });
    await net.waitForOutput(s3Server, /ready/, 30_000);

    redis = new Redis({ path: redisSocket, maxRetriesPerRequest: null });
    await until('Redis', () => redis.ping().catch(() => undefined), 30_000);
    queues = new PipelineQueues(redis, prefix);
    s3 = new S3Client({
      endpoint: `http://127.0.0.1:${await net.gateway(store, S3_PORT)}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    for (const table of ['users', 'songs']) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `in/${table}.csv`, Body: await fs.readFile(path.join(SAMPLE, `${table}.csv`)) }));
    }

    // Every host reaches the others by address only: s3:// everywhere, no shared folder.
    env = {
      REDIS_URL: `redis://${db.address}:${REDIS_PORT}`,
      QUEUE_PREFIX: prefix,
      WAREHOUSE_URL: postgres.url('admin', PASSWORD, 'musicflow'),
      STREAMS_URL: `s3://${BUCKET}/in/streams/`,
      USERS_URL: `s3://${BUCKET}/in/users.csv`,
      SONGS_URL: `s3://${BUCKET}/in/songs.csv`,
      LAKE_URL: `s3://${BUCKET}/lake/`,
      ARCHIVE_URL: `s3://${BUCKET}/archive/`,
      AWS_ENDPOINT_URL_S3: `http://${store.address}:${S3_PORT}`,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      S3_CHECKSUMS: 'WHEN_REQUIRED',
      // The sample's 34k events in about 30 validate and transform jobs, spread over the three hosts.
      CHUNK_BYTES: '65536',
      LOG_LEVEL: 'info',
    };
    const apiProcess = net.spawn(api, process.execPath, [CLI, 'start', 'api'], {
      ...env,
      API_HOST: api.address,
      API_PORT: String(API_PORT),
      API_ALLOW_UNAUTHENTICATED: 'true',
    });
    for (const name of WORKER_HOSTS) {
      const proc = net.spawn(net.hosts[name]!, process.execPath, [CLI, 'start', ...PIPELINE_WORKERS], env);
      workers.set(proc.child.pid!, proc);
    }
    await net.waitForOutput(apiProcess, /api listening/, 90_000);
    apiPort = await net.gateway(api, API_PORT);
    await until(
      'every worker host on every stage',
      async () => {
        const names = await Promise.all(Object.values(queues.queues).map(readQueueWorkers));
        return names.every((n) => n.length === WORKER_HOSTS.length) || undefined;
      },
      90_000,
    );
  }, 240_000);

  afterAll(async () => {
    await queues?.close();
    redis?.disconnect();
    s3?.destroy();
    await postgres?.stop();
    await net?.close();
  });

  const metric = async (line: string) => {
    const text = await (await fetch(`http://127.0.0.1:${apiPort}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    return found === undefined ? undefined : Number(found.split(' ').pop());
  };
  const bucketKeys = async (keyPrefix: string) =>
    ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: keyPrefix }))).Contents ?? []).map((o) => o.Key!);

  /** The stream files of a run, the sample's three again: a run archives what it ingests. */
  async function seedStreams(): Promise<void> {
    for (const file of STREAM_FILES) {
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `in/streams/${file}`, Body: await fs.readFile(path.join(SAMPLE, 'streams', file)) }));
    }
  }

  /**
   * The last object an attempt of a job writes, for the kinds whose late attempt can still write once its run
   * ended (a validate job's chunk, though, is archived with its file: its late attempt may fail reading it).
   */
  const lastWrite = (runId: string, job: Job): string | undefined =>
    job.name === 'kpi-date'
      ? `lake/tmp/run=${runId}/kpis/hourly-${(job.data as KpiDateJob).listenDate}.csv`
      : job.name === 'validate'
        ? `lake/tmp/run=${runId}/valid/${(job.data as ValidateJob).chunk.chunkId}.keys`
        : undefined;
  const exists = async (key: string) => (await bucketKeys(key)).includes(key);

  /**
   * The worker host (and job) holding an active job of `kind` of the run, cut off while it holds it, and
   * before its last write when it has one: that write lands once the host is back, after the run ended.
   */
  async function cutHostHolding(runId: string, kind: JobKind): Promise<{ host: HostProcess; jobId: string } | undefined> {
    for (;;) {
      const jobs = await readRunJobs(queues, runId);
      const run = jobs.find((j) => j.name === 'load');
      if (run?.finishedOn) return undefined;
      for (const job of jobs.filter((j) => j.name === kind && j.processedOn && !j.finishedOn && j.processedBy)) {
        const host = workers.get(Number(job.processedBy!.split(':').pop()));
        if (!host) continue;
        net.cut(host.host);
        // Still active and still its: the host holds it, cut off.
        const again = await queues.queues[stageOf(kind)].getJob(job.id!);
        const pending = lastWrite(runId, job);
        const held = (await again?.getState()) === 'active' && again?.processedBy === job.processedBy && again?.processedOn === job.processedOn;
        if (held && !(pending && (await exists(pending)))) return { host, jobId: job.id! };
        net.heal(host.host);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** A run started with `run --wait` on the API host, and its id. */
  async function startRunAndWait(): Promise<{ wait: HostProcess; runId: string }> {
    await seedStreams();
    const wait = net.spawn(net.hosts.api!, process.execPath, [CLI, 'run', '--wait'], { ...env, LOG_LEVEL: 'warn' });
    return { wait, runId: (await net.waitForOutput(wait, /run (\S+) enqueued/, 60_000))[1]! };
  }

  /** Archived files out of the way of the next run. */
  const clearArchive = async () => {
    const archived = await bucketKeys('archive/');
    if (archived.length) await s3.send(new DeleteObjectsCommand({ Bucket: BUCKET, Delete: { Objects: archived.map((Key) => ({ Key })) } }));
  };

  async function runWithPartition(kind: JobKind): Promise<void> {
    // A job that lasts well under a second may be done (or written) before it is caught: then another run.
    let started = await startRunAndWait();
    let cut = await cutHostHolding(started.runId, kind);
    for (let tries = 1; !cut && tries < 8; tries++) {
      expect(await started.wait.exited).toBe(0);
      await clearArchive();
      started = await startRunAndWait();
      cut = await cutHostHolding(started.runId, kind);
    }
    if (!cut) throw new Error(`no ${kind} job could be caught on a worker host in 8 runs`);
    const { wait, runId } = started;
    const { host: victim, jobId } = cut;
    const cutAt = Date.now();
    try {
      // Redis still lists the cut host's worker (its connections are half-open): its unrenewed lock gives it away.
      const worker = new RegExp(`job ${jobId} is held by worker \\S+:${victim.child.pid}, which has not renewed its lock`);
      await net.waitForOutput(wait, worker, 90_000);
      expect(await readQueueWorkers(queues.queues[stageOf(kind)])).toContainEqual(expect.stringMatching(new RegExp(`:${victim.child.pid}$`)));
      const queue = queueNameOf(kind);
      const runDetail = async () =>
        (await (await fetch(`http://127.0.0.1:${apiPort}/runs/${runId}`)).json()) as { health?: { unreachable: { jobId: string }[] } };
      await Promise.all([
        until('musicflow_jobs_unreachable', async () => ((await metric(`musicflow_jobs_unreachable{queue="${queue}"}`)) ?? 0) >= 1 || undefined, 60_000, 1000),
        until(
          'health.unreachable in GET /runs/:id',
          async () => (await runDetail()).health?.unreachable.some((u) => u.jobId === jobId) || undefined,
          60_000,
          1000,
        ),
      ]);

      // Taken over once the lock lapsed, on another host; the run ends while the cut host is still away.
      expect(await wait.exited).toBe(0);
      expect(wait.output()).toContain('SUCCEEDED');
      const takenOver = await queues.queues[stageOf(kind)].getJob(jobId);
      expect(takenOver!.stalledCounter).toBeGreaterThanOrEqual(1);
      expect(takenOver!.processedBy).not.toMatch(new RegExp(`:${victim.child.pid}$`));
    } finally {
      net.heal(victim.host);
    }
    console.info(`${kind} job ${jobId}: host ${victim.host.name} cut for ${((Date.now() - cutAt) / 1000).toFixed(0)} s`);

    // Back on the network, the late attempt finishes and is refused, saying so; its writes do not outlive the run.
    // The lines about the job (a plan job's id begins its catalogue jobs' ids); the host may have been cut before, for another job.
    const own = new RegExp(`"jobId":"${jobId}"|for job ${jobId}[".]`);
    const ownLines = () =>
      victim
        .output()
        .split('\n')
        .filter((l) => own.test(l));
    const tail = () => `\nits lines:\n${ownLines().join('\n')}\nthe host's last lines:\n${victim.output().split('\n').slice(-15).join('\n')}`;
    await until('the late attempt to be refused', () => ownLines().some((l) => l.includes('late result refused')) || undefined, 240_000, 500).catch(
      (err: Error) => Promise.reject(new Error(err.message + tail())),
    );
    expect(ownLines().filter((l) => l.includes('"job completed"'))).toEqual([]);
    const said = ownLines().map((l) => {
      const { msg, err } = JSON.parse(l) as { msg: string; err?: string };
      return err ? `${msg} (${err})` : msg;
    });
    console.info(`${kind} job ${jobId}: the cut host logged: ${said.join(' | ')}`);
    // Its run had ended: after its last write, it deleted the run's temporaries again.
    await until(
      'the late attempt to sweep',
      () => ownLines().some((l) => l.includes('the run had ended: its temporaries were deleted again')) || undefined,
      60_000,
      500,
    );
    expect(ownLines().some((l) => l.includes('job lock lost'))).toBe(true);
    expect(await bucketKeys('lake/tmp/')).toEqual([]);

    // Nothing lost or counted twice: the report's rows and the warehouse's KPIs are those of the files, once.
    const client = new pg.Client({ connectionString: postgres.socketUrl('admin', PASSWORD, 'musicflow') });
    await client.connect();
    try {
      const run = (await client.query('SELECT status, rows_read::int AS rows_read FROM analytics.etl_runs WHERE run_id = $1', [runId])).rows[0];
      expect(run).toEqual({ status: 'succeeded', rows_read: await sampleRows() });
    } finally {
      await client.end();
    }
    expectSameKpis(
      await readWarehouseKpis(postgres.socketUrl('admin', PASSWORD, 'musicflow')),
      await computeKpisWithDuckDB({ streamFiles: STREAM_FILES.map((f) => path.join(SAMPLE, 'streams', f)), songsCsv: path.join(SAMPLE, 'songs.csv') }),
    );
    // Ingested files moved to the archive; sources left empty.
    expect(await bucketKeys('in/streams/')).toEqual([]);
    expect(await bucketKeys('archive/')).toHaveLength(STREAM_FILES.length);
    await clearArchive();
  }

  // Its inputs outlive the run (the date's lake parts): cut before its last write, its late attempt may still write.
  it('a worker host cut off while it holds a KPI date job', async () => {
    await runWithPartition('kpi-date');
  }, 600_000);

  it.runIf(MODE === 'full')(
    'a worker host cut off while it holds a validate job',
    async () => {
      await runWithPartition('validate');
    },
    600_000,
  );

  it.runIf(MODE === 'full')(
    'the worker host running the plan job cut off',
    async () => {
      await runWithPartition('plan');
    },
    600_000,
  );

  it.runIf(MODE === 'full')(
    'the worker host running the lake commit cut off',
    async () => {
      await runWithPartition('commit');
    },
    600_000,
  );
});

const stageOf = (kind: JobKind) => JOB_KINDS[kind].stage;
const queueNameOf = (kind: JobKind) => QUEUES[JOB_KINDS[kind].stage];

/** Data rows of the sample's stream files (each has a header line). */
async function sampleRows(): Promise<number> {
  let rows = 0;
  for (const file of STREAM_FILES) rows += (await fs.readFile(path.join(SAMPLE, 'streams', file), 'utf8')).trimEnd().split('\n').length - 1;
  return rows;
}
