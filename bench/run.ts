/**
 * npm run bench -- --events N [options]   (`--help` lists them: USAGE below)
 *
 * Generates (or reuses) a deterministic data set of N events, computes both KPI
 * tables with DuckDB straight from the CSVs, then runs the real pipeline over
 * real BullMQ queues with W worker processes (`musicflow start`), each with its
 * own peak RSS watched, and checks that the warehouse rows equal DuckDB's.
 * `--sample` runs on data/sample instead (34,038 events). `--profile` writes a
 * V8 CPU profile per worker and prints where the time went; `--timeline`
 * prints when each job of the run started and ended, and in which worker;
 * `--gc` runs the workers with `--trace-gc` and prints each one's collections
 * and main-thread pauses by kind.
 * `--files F` spreads the same events over F files (DuckDB then reads them
 * with one glob); `--catalogue-songs/-users` append generated rows to the
 * catalogue; `--tail-share T` draws that share of the plays uniformly over the
 * whole catalogue and the rest from a head of 10,000 tracks (a long-tail day;
 * without it the plays come from the sample's tracks). When python3 with
 * pandas is there, the old DAG's pandas logic (bench/pandas_kpis.py) runs on
 * the same files too (`--pandas-runs 0`: not). The last line also gives the
 * number of distinct track ids in the event files (`distinct_tracks=`). A
 * worker process that dies during the run is started again and reported.
 * `--s3` puts the stream files, the lake and the archive in an S3-protocol
 * server (s3rver, a process of its own on loopback; the catalogue stays on
 * disk) and prints the S3 requests the workers sent, by kind, as their S3
 * clients counted them (`s3RequestCounts`): what a day costs in requests.
 * s3rver takes a few ms a request, so its wall times are not S3's.
 * `--oracle-files O` gives DuckDB, pandas and the distinct-track count the
 * same events generated into O files instead (the generator's events do not
 * depend on how many files hold them): DuckDB took 14.5 min to read 1M files.
 * `--keep` keeps the run's folder (data, lake) and database, and each
 * worker's log lines in `<run folder>/worker<N>.log`.
 * Every input file (the stream files, or with `--s3` the S3 server's files;
 * the catalogue CSVs) is read once just before the trigger, so runs of
 * either shape start with their inputs in the page cache: this machine pages
 * out a file not read for about a minute, and a cold small file costs
 * several times a warm one (docs/performance.md).
 * `--cold-files` leaves them as the page cache has them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import { closeSync, createWriteStream, openSync, readSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import { loadConfig } from '@musicflow/config';
import { S3_REQUEST_KINDS, type S3RequestKind } from '@musicflow/storage';
import { CATALOGUE_TABLES, type CatalogueJob, type RunReport } from '@musicflow/contracts';
import { PipelineQueues, readRunJobs, readRunProgress, startRun } from '@musicflow/flow';
import { computeKpisWithDuckDB } from '../test/oracle/duckdb-kpis.ts';
import { freePort } from '../test/helpers/private-postgres.ts';
import { generate } from './generate.ts';
import { WORKER_NODE_FLAGS } from './node-flags.ts';
import { diffKpis, readWarehouseKpis, type Tables } from './kpi-compare.ts';
import { summarizeProfiles } from './profile-summary.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
/** Interpreters tried for the pandas comparison, the first that imports pandas wins (a pyenv shim may lack it). */
const PYTHONS = process.env.BENCH_PYTHON ? [process.env.BENCH_PYTHON] : ['python3', '/usr/bin/python3'];
const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_ADMIN = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const USAGE = `usage: npm run bench -- --events N [--workers W] [--files F] [--days D] [--sample] [--profile] [--timeline] [--gc] [--keep]
                        [--chunk-bytes B] [--duckdb-runs R] [--pandas-runs R] [--worker-node-options="..."]
                        [--catalogue-songs S] [--catalogue-users U] [--tail-share T] [--s3] [--oracle-files O] [--data-root DIR] [--cold-files]
(bench/run.ts's first comment says what each does)`;

const BENCH_OPTIONS = {
  events: { type: 'string' },
  workers: { type: 'string', default: '2' },
  files: { type: 'string' },
  /** Listen dates the events spread over (5 by default); `--days 1` is one big day. */
  days: { type: 'string' },
  sample: { type: 'boolean', default: false },
  profile: { type: 'boolean', default: false },
  timeline: { type: 'boolean', default: false },
  gc: { type: 'boolean', default: false },
  keep: { type: 'boolean', default: false },
  'chunk-bytes': { type: 'string' },
  'duckdb-runs': { type: 'string', default: '2' },
  'pandas-runs': { type: 'string', default: '1' },
  'catalogue-songs': { type: 'string' },
  'catalogue-users': { type: 'string' },
  /** Share of plays uniform over the whole catalogue (0-1), the rest from a head of 10k tracks. */
  'tail-share': { type: 'string' },
  /** Node flags of the worker processes; the default is the image's (WORKER_NODE_FLAGS). */
  'worker-node-options': { type: 'string', default: WORKER_NODE_FLAGS.join(' ') },
  'data-root': { type: 'string', default: path.join(os.tmpdir(), 'musicflow-bench') },
  /** Streams, lake and archive in an S3-protocol server on loopback; prints the S3 requests by kind. */
  s3: { type: 'boolean', default: false },
  /** The oracles read the same events generated into this many files (with --files, for a day of very many). */
  'oracle-files': { type: 'string' },
  /** Inputs not read before the trigger: as cold or warm as the page cache has them. */
  'cold-files': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
} as const;

/** The options, or the usage and an exit: `--help` (status 0), or an option it does not know or a missing value (2). */
function benchOptions() {
  try {
    return parseArgs({ args: process.argv.slice(2), options: BENCH_OPTIONS }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}
const values = benchOptions();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (!values.sample && !values.events) {
  console.error(`--events N or --sample is needed\n${USAGE}`);
  process.exit(2);
}

const STAGE_SERVICES = ['extractor', 'validator', 'transformer', 'kpi', 'loader'];
const log = (msg: string) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
const dirUrl = (dir: string) => `${pathToFileURL(dir).href}/`;
const mb = (kb: number) => (kb / 1024).toFixed(0);
const sec = (ms: number) => (ms / 1000).toFixed(2);

/** Reads each of `files` once, whole, into one reused buffer: they are then in the page cache. Returns the bytes read. */
function readOnce(files: readonly string[]): number {
  const buffer = Buffer.allocUnsafe(1 << 20);
  let bytes = 0;
  for (const file of files) {
    const fd = openSync(file, 'r');
    try {
      for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0;) bytes += n;
    } finally {
      closeSync(fd);
    }
  }
  return bytes;
}

/** utime + stime of a process, in seconds (fields 14 and 15 of /proc/<pid>/stat, in clock ticks of 1/100 s). */
async function procCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * Bytes Redis holds for the run's queues (every key under the bench's own prefix, by MEMORY USAGE with
 * every element sampled), and how many keys.
 */
async function redisBytes(connection: Redis, prefix: string): Promise<{ bytes: number; keys: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, page] = await connection.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of page) {
      bytes += Number((await connection.call('MEMORY', 'USAGE', key, 'SAMPLES', '0')) ?? 0);
      keys++;
    }
  } while (cursor !== '0');
  return { bytes, keys };
}

async function procKb(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number | undefined> {
  try {
    const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Start, end and worker of every job of the run, in order of start (`processedBy` is the worker's `host:pid`). */
async function readTimeline(queues: PipelineQueues, runId: string, triggeredAt: number, procs: WorkerProc[]): Promise<string[]> {
  const jobs = await readRunJobs(queues, runId);
  const workerOf = (name: string | undefined) => procs.find((p) => name?.endsWith(`:${p.child.pid}`))?.name ?? name ?? '?';
  const at = (ms: number | undefined) => (ms ? sec(ms - triggeredAt) : '-').padStart(7);
  return jobs
    .sort((a, b) => (a.processedOn ?? 0) - (b.processedOn ?? 0))
    .map((j) => `${at(j.processedOn)} ${at(j.finishedOn)}  ${workerOf(j.processedBy).padEnd(8)} ${j.id!.replace(`-${runId}`, '')}`);
}

/** The catalogue jobs' own times (users and songs, read by two workers at once). */
async function readCatalogueTimes(queues: PipelineQueues, runId: string): Promise<string> {
  const jobs = await readRunJobs(queues, runId);
  return CATALOGUE_TABLES.map((table) => {
    // A table looked up in several jobs (CATALOGUE_*_PER_JOB) has one a shard: each job's time, in shard order.
    const shards = jobs
      .filter((j) => j.name === 'catalogue' && (j.data as CatalogueJob).table === table)
      .sort((a, b) => (a.data as CatalogueJob).shard.index - (b.data as CatalogueJob).shard.index);
    const times = shards.map((j) => (j.processedOn && j.finishedOn ? `${sec(j.finishedOn - j.processedOn)} s` : '?'));
    return `${table} ${times.length ? times.join(' + ') : '?'}${times.length > 1 ? ` (${times.length} jobs)` : ''}`;
  }).join(', ');
}

/** The run's KPI pass jobs: how many, and the rows each read against its own rows (worst pass, and all of them). */
async function readPassReads(queues: PipelineQueues, runId: string): Promise<string> {
  const passes = (await readRunJobs(queues, runId))
    .filter((j) => j.name === 'kpi-pass' && j.returnvalue)
    .map((j) => j.returnvalue as { rows: number; rowsRead: number });
  if (!passes.length) return 'none (every date in one job)';
  const worst = Math.max(...passes.map((p) => p.rowsRead / p.rows));
  const all = passes.reduce((n, p) => n + p.rowsRead, 0) / passes.reduce((n, p) => n + p.rows, 0);
  return `${passes.length}; rows read per own row: worst pass ${worst.toFixed(3)}x, all passes ${all.toFixed(3)}x`;
}

/**
 * A short hash of the warehouse's KPI rows (ordered by key), numbers to 12
 * significant digits so a sum added in another order hashes the same: two
 * runs of the same events (another catalogue size, another worker count)
 * are compared by eye.
 */
function kpiDigest({ genre, hourly }: Tables): string {
  const rounded = (row: object) => Object.values(row).map((v) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v));
  return createHash('sha256')
    .update(JSON.stringify([genre.map(rounded), hourly.map(rounded)]))
    .digest('hex')
    .slice(0, 16);
}

/** Distinct track_id values in the event files, every row counted (the day's breadth; not timed). */
async function countDistinctTracks(streamFiles: string[]): Promise<number> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    const files = streamFiles.map((f) => `'${f.replace(/'/g, "''")}'`).join(', ');
    const reader = await conn.runAndReadAll(`SELECT count(DISTINCT track_id) AS n FROM read_csv([${files}], header = true, all_varchar = true)`);
    return Number(reader.getRowObjectsJS()[0]!.n);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** A non-negative integer option, or undefined when not given; the message names the option. */
function countOption(name: 'catalogue-songs' | 'catalogue-users'): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${JSON.stringify(text)}`);
  return n;
}

const S3_BUCKET = 'bench';

/**
 * An S3-protocol server (s3rver, test/helpers/s3-server.mjs) as a process of its own in `dir`, holding the
 * stream files under `in/streams/`; the environment that points the workers at it.
 */
async function startS3Server(dir: string, streamFiles: string[]): Promise<{ env: Record<string, string>; close: () => Promise<void> }> {
  const port = await freePort();
  const server = spawn(process.execPath, [path.join(REPO, 'test', 'helpers', 's3-server.mjs'), '127.0.0.1', String(port), dir, S3_BUCKET], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout.once('data', () => resolve());
    server.once('exit', (code) => reject(new Error(`the S3 server exited (${code}) before it was ready`)));
  });
  const env = {
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: 'true',
    S3_CHECKSUMS: 'WHEN_REQUIRED',
  };
  const client = new S3Client({
    endpoint: env.AWS_ENDPOINT_URL_S3,
    region: env.AWS_REGION,
    forcePathStyle: true,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = next++; i < streamFiles.length; i = next++) {
        const file = streamFiles[i]!;
        await client.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key: `in/streams/${path.basename(file)}`, Body: await fs.readFile(file) }));
      }
    }),
  );
  client.destroy();
  return {
    env,
    close: async () => {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

interface PandasResult {
  ms: number;
  cpuSeconds: number;
  peakRssMb: number;
  genreRows: number;
  hourlyRows: number;
}

/**
 * The old DAG's KPI logic in pandas over the same files, best of `runs`, timed
 * from outside (interpreter start and pandas import included); undefined,
 * with a message, when python3 or pandas is not there.
 */
async function runPandas(runs: number, songsCsv: string, usersCsv: string, streamFiles: string[]): Promise<PandasResult | undefined> {
  if (!(runs > 0)) return undefined;
  const run = (python: string, args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (b: Buffer) => (stdout += b));
      child.stderr.on('data', (b: Buffer) => (stderr += b));
      child.on('error', (err) => resolve({ code: -1, stdout, stderr: String(err) }));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  let python: string | undefined;
  const failures: string[] = [];
  for (const candidate of PYTHONS) {
    const probe = await run(candidate, ['-c', 'import pandas']);
    if (probe.code === 0) {
      python = candidate;
      break;
    }
    failures.push(`${candidate}: ${probe.stderr.trim().split('\n').pop() || `exit ${probe.code}`}`);
  }
  if (!python) {
    log(`pandas comparison skipped: no python3 with pandas (${failures.join('; ')}); install python3-pandas or set BENCH_PYTHON`);
    return undefined;
  }
  log(`pandas (${python}, the old DAG's KPI logic) over the same ${streamFiles.length} CSV file(s)...`);
  let best: PandasResult | undefined;
  const times: string[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const out = await run(python, [path.join(REPO, 'bench', 'pandas_kpis.py'), songsCsv, usersCsv, ...streamFiles]);
    const ms = performance.now() - t0;
    if (out.code !== 0) throw new Error(`bench/pandas_kpis.py failed: ${out.stderr}`);
    const r = JSON.parse(out.stdout.trim().split('\n').pop()!) as { cpu_seconds: number; peak_rss_mb: number; genre_rows: number; hourly_rows: number };
    times.push(sec(ms));
    if (!best || ms < best.ms) best = { ms, cpuSeconds: r.cpu_seconds, peakRssMb: r.peak_rss_mb, genreRows: r.genre_rows, hourlyRows: r.hourly_rows };
  }
  log(`pandas: ${times.join(' s, ')} s (best ${sec(best!.ms)} s, ${best!.cpuSeconds.toFixed(2)} s CPU, peak RSS ${best!.peakRssMb.toFixed(0)} MB)`);
  return best;
}

interface WorkerProc {
  name: string;
  child: ChildProcess;
  peakKb: number;
  /** CPU seconds (user + system) used between trigger and report: steadier than wall time on a shared machine. */
  cpuSeconds?: number;
  cpuAtTrigger?: number;
  exited: Promise<void>;
  started: Promise<void>;
  /** The longest its main thread, which renews BullMQ job locks, was blocked (from its "stopped" line). */
  loopDelayMaxMs?: number;
  /** With `--gc`: its collections by kind (`--trace-gc` lines), and their main-thread pauses in ms. */
  gc?: Record<string, { count: number; ms: number }>;
  /** The S3 requests it sent, by kind (from its "stopped" line). */
  s3Requests?: Record<S3RequestKind, number>;
}

type LogLine = { level?: number; msg?: string; eventLoopDelayMaxMs?: number; s3Requests?: Record<S3RequestKind, number> };
const parseLogLine = (line: string): LogLine | undefined => {
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
};

async function main(): Promise<void> {
  const workers = Number(values.workers);
  if (!(workers >= 1)) throw new Error('--workers must be a positive integer');

  // --- Data -------------------------------------------------------------
  let streamFiles: string[];
  /** What DuckDB, pandas and the distinct-track count read: the stream files, or the same events in --oracle-files files. */
  let oracleFiles: string[] | undefined;
  let songsCsv: string;
  let usersCsv: string;
  let events: number;
  if (values.sample && (values['catalogue-songs'] || values['catalogue-users'] || values['tail-share'] || values.files)) {
    throw new Error('--files, --catalogue-songs/-users and --tail-share generate data: not with --sample');
  }
  if (values.sample) {
    const sample = path.join(REPO, 'data', 'sample');
    streamFiles = ['streams1.csv', 'streams2.csv', 'streams3.csv'].map((f) => path.join(sample, 'streams', f));
    songsCsv = path.join(sample, 'songs.csv');
    usersCsv = path.join(sample, 'users.csv');
    events = 34_038;
  } else {
    events = Number(values.events);
    if (!Number.isSafeInteger(events) || events < 1) throw new Error('--events must be a positive integer');
    const files = values.files ? Number(values.files) : events >= 1_000_000 ? 5 : events >= 10_000 ? 2 : 1;
    const tailShare = values['tail-share'] === undefined ? undefined : Number(values['tail-share']);
    if (tailShare !== undefined && !(tailShare >= 0 && tailShare <= 1))
      throw new Error(`--tail-share must be a number from 0 to 1, got ${values['tail-share']}`);
    const t0 = Date.now();
    const generated = (files: number) =>
      generate({
        events,
        files,
        days: values.days ? Number(values.days) : undefined,
        catalogueSongs: countOption('catalogue-songs'),
        catalogueUsers: countOption('catalogue-users'),
        tailShare,
        root: values['data-root'],
        sampleDir: path.join(REPO, 'data', 'sample'),
      });
    const data = await generated(files);
    ({ streamFiles, songsCsv, usersCsv } = data);
    log(`data: ${streamFiles.length} file(s) of ${events} events in ${data.dir} (${sec(Date.now() - t0)} s)`);
    if (values['oracle-files']) {
      oracleFiles = (await generated(Number(values['oracle-files']))).streamFiles;
      log(`the oracles read the same events in ${oracleFiles.length} file(s)`);
    }
  }
  oracleFiles ??= streamFiles;

  const id = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const runDir = await fs.mkdtemp(path.join(os.tmpdir(), `musicflow-bench-run-${id}-`));
  const streamsDir = path.join(runDir, 'in', 'streams');
  await fs.mkdir(streamsDir, { recursive: true });
  let s3: Awaited<ReturnType<typeof startS3Server>> | undefined;
  if (values.s3) {
    const u0 = Date.now();
    s3 = await startS3Server(path.join(runDir, 's3'), streamFiles);
    log(`S3 server ${s3.env.AWS_ENDPOINT_URL_S3}: ${streamFiles.length} stream file(s) uploaded (${sec(Date.now() - u0)} s)`);
  } else {
    // The pipeline archives what it ingests: give it hard links (or copies), keep the originals.
    for (const f of streamFiles) {
      const target = path.join(streamsDir, path.basename(f));
      await fs.link(f, target).catch(() => fs.copyFile(f, target));
    }
  }

  // --- DuckDB -------------------------------------------------------------
  // With --files, one glob over the generated files' folder (which holds just them), as one would with thousands.
  const streamGlob = values.files && !values.sample ? path.join(path.dirname(oracleFiles[0]!), '*.csv') : undefined;
  log(`DuckDB over the same ${oracleFiles.length} CSV file(s)${streamGlob ? ` (one read_csv of ${streamGlob})` : ''}...`);
  // Best of --duckdb-runs (default 2): the first run also pays for cold caches on this noisy machine.
  let duckdbMs = Infinity;
  let expected: Awaited<ReturnType<typeof computeKpisWithDuckDB>> | undefined;
  const duckTimes: string[] = [];
  for (let i = 0; i < Math.max(1, Number(values['duckdb-runs'])); i++) {
    const d0 = performance.now();
    expected = await computeKpisWithDuckDB({ streamFiles: oracleFiles, songsCsv, streamGlob });
    const ms = performance.now() - d0;
    duckTimes.push(sec(ms));
    duckdbMs = Math.min(duckdbMs, ms);
  }
  log(`DuckDB: ${duckTimes.join(' s, ')} s (best ${sec(duckdbMs)} s), ${expected!.genre.length} genre rows, ${expected!.hourly.length} hourly rows`);

  const distinctTracks = await countDistinctTracks(oracleFiles);
  log(`events: ${distinctTracks} distinct track ids`);

  const pandas = await runPandas(Number(values['pandas-runs']), songsCsv, usersCsv, oracleFiles);

  // --- Pipeline -------------------------------------------------------------
  const dbName = `musicflow_bench_${id}`;
  const warehouseUrl = new URL(PG_ADMIN);
  warehouseUrl.pathname = `/${dbName}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();

  const env: Record<string, string> = {
    // The image's allocator setting (infra/Dockerfile), unless the caller sets its own.
    MALLOC_MMAP_THRESHOLD_: '131072',
    ...(process.env as Record<string, string>),
    REDIS_URL,
    QUEUE_PREFIX: `mfbench_${id}`,
    WAREHOUSE_URL: warehouseUrl.toString(),
    STREAMS_URL: s3 ? `s3://${S3_BUCKET}/in/streams/` : dirUrl(streamsDir),
    USERS_URL: pathToFileURL(usersCsv).href,
    SONGS_URL: pathToFileURL(songsCsv).href,
    LAKE_URL: s3 ? `s3://${S3_BUCKET}/lake/` : dirUrl(path.join(runDir, 'lake')),
    ...s3?.env,
    // Info, to see each worker's "services started" line; only warnings and errors are shown.
    LOG_LEVEL: 'info',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  if (values['chunk-bytes']) env.CHUNK_BYTES = values['chunk-bytes'];
  const config = loadConfig(env);
  const profDir = path.join(runDir, 'prof');

  const procs: WorkerProc[] = [];
  /** Set once the run is triggered (a death before is a failed start), cleared at shutdown. */
  let supervising = false;
  const deaths: string[] = [];
  /**
   * Starts the worker process of `slot`. One that dies during the run is
   * started again, as docker-compose's `restart: unless-stopped` would: a job
   * that kills its workers then fails the run after JOB_MAX_WORKER_DEATHS
   * instead of leaving the bench waiting on no workers.
   */
  const startWorker = (slot: number, generation: number): WorkerProc => {
    const name = generation ? `worker${slot}.${generation}` : `worker${slot}`;
    const nodeArgs = [
      ...(values['worker-node-options'] ? values['worker-node-options'].split(/\s+/).filter(Boolean) : []),
      ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, name)}`] : []),
      ...(values.gc ? ['--trace-gc'] : []),
    ];
    // The five stage workers only: `start` alone would also start the HTTP API (one port per machine).
    const child = spawn(process.execPath, [...nodeArgs, path.join(REPO, 'bin', 'musicflow.mjs'), 'start', ...STAGE_SERVICES], {
      cwd: REPO,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const proc = { name, child, peakKb: 0 } as WorkerProc;
    // V8 says why it aborts on stderr (`FATAL ERROR: ... JavaScript heap out of memory`): passed through, and kept.
    let fatal: string | undefined;
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.includes('FATAL ERROR')) fatal = line.trim();
      console.error(line);
    });
    proc.exited = new Promise<void>((resolve) =>
      child.once('exit', (code, signal) => {
        resolve();
        if (!supervising) return;
        const death = `${name} (pid ${child.pid}) died: ${signal ? `signal ${signal}` : `exit code ${code}`}${fatal ? `, ${fatal}` : ''}`;
        deaths.push(death);
        log(`${death}; starting another`);
        procs.push(startWorker(slot, generation + 1));
      }),
    );
    // Ready once its worker threads are up: `musicflow start` logs "services started" then.
    // With --keep, every log line of the worker, for reading a run afterwards.
    const keptLog = values.keep ? createWriteStream(path.join(runDir, `${name}.log`)) : undefined;
    proc.started = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        keptLog?.write(`${line}\n`);
        const entry = parseLogLine(line);
        if (entry?.msg === 'services started') resolve();
        if (entry?.msg === 'stopped') Object.assign(proc, { loopDelayMaxMs: entry.eventLoopDelayMaxMs, s3Requests: entry.s3Requests });
        // `[pid:0x...]  123 ms: Scavenge 31.8 (47.8) -> 23.9 (47.8) MB, 0.20 / 0.00 ms ...`: the pause is the first of the two.
        const gc = values.gc && !entry ? /\d+ ms: ([A-Za-z-]+(?: \([a-z]+\))?) .*MB, ([\d.]+) \/ [\d.]+ ms/.exec(line) : null;
        if (gc) {
          const kind = ((proc.gc ??= {})[gc[1]!] ??= { count: 0, ms: 0 });
          kind.count++;
          kind.ms += Number(gc[2]);
          return;
        }
        if (!entry || (entry.level ?? 0) >= 40) console.log(line);
      });
    });
    return proc;
  };
  for (let i = 0; i < workers; i++) procs.push(startWorker(i + 1, 0));
  const sampleRss = async () => {
    for (const p of procs) {
      const kb = p.child.pid ? await procKb(p.child.pid, 'VmHWM') : undefined;
      if (kb !== undefined) p.peakKb = Math.max(p.peakKb, kb);
    }
  };
  const poller = setInterval(() => void sampleRss(), 250);

  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queues = new PipelineQueues(connection, config.QUEUE_PREFIX);
  let report: RunReport | undefined;
  let pipelineMs = 0;
  let timeline: string[] = [];
  let catalogueTimes = '';
  let passReads = '';
  /** Redis bytes of the run: the most seen while it ran (sampled with the progress lines), and what it left. */
  const redisUse = { peak: 0, left: 0, keys: 0 };
  let progressReadMs = 0;
  try {
    const ready = Date.now();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(procs.map((p) => p.started)),
      ...procs.map((p) => p.exited.then(() => Promise.reject(new Error(`${p.name} exited during start-up`)))),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('workers not ready after 60 s')), 60_000))),
    ]).finally(() => clearTimeout(timer));
    const readyMs = Date.now() - ready;
    if (!values['cold-files']) {
      // The hard links in the run's folder share the originals' pages; with --s3, the server's own copies (and their metadata).
      const s3Files = async () =>
        (await fs.readdir(path.join(runDir, 's3'), { recursive: true, withFileTypes: true }))
          .filter((e) => e.isFile())
          .map((e) => path.join(e.parentPath, e.name));
      const inputs = [...(s3 ? await s3Files() : streamFiles), songsCsv, usersCsv];
      const r0 = Date.now();
      const bytes = readOnce(inputs);
      log(`inputs read once into the page cache: ${inputs.length} file(s), ${(bytes / 2 ** 20).toFixed(0)} MB (${sec(Date.now() - r0)} s; --cold-files: not)`);
    }
    log(`${workers} worker process(es) ready (${sec(readyMs)} s); triggering the run`);

    for (const p of procs) p.cpuAtTrigger = p.child.pid ? await procCpuSeconds(p.child.pid) : undefined;
    const t0 = performance.now();
    const triggeredAt = Date.now();
    supervising = true;
    const { runId } = await startRun(config, queues, { trigger: 'bench' });
    let lastLog = 0;
    for (;;) {
      const progress = await readRunProgress(queues, runId);
      if (progress.state === 'completed' && progress.report) {
        pipelineMs = performance.now() - t0;
        report = progress.report;
        for (const p of procs) {
          const now = p.child.pid ? await procCpuSeconds(p.child.pid) : undefined;
          p.cpuSeconds = now !== undefined && p.cpuAtTrigger !== undefined ? now - p.cpuAtTrigger : undefined;
        }
        const left = await redisBytes(connection, config.QUEUE_PREFIX);
        Object.assign(redisUse, { left: left.bytes, keys: left.keys, peak: Math.max(redisUse.peak, left.bytes) });
        // What `run --wait` and GET /runs/:id pay for one look at a finished run.
        const r0 = performance.now();
        await readRunProgress(queues, runId);
        progressReadMs = performance.now() - r0;
        if (values.timeline) timeline = await readTimeline(queues, runId, triggeredAt, procs);
        catalogueTimes = await readCatalogueTimes(queues, runId);
        passReads = await readPassReads(queues, runId);
        break;
      }
      if (progress.state === 'failed') throw new Error(`run ${runId} failed: ${progress.error}`);
      if (performance.now() - lastLog > (values.profile ? 2_000 : 5_000)) {
        lastLog = performance.now();
        const s = progress.stages;
        const rss = await Promise.all(procs.map(async (p) => `${mb((p.child.pid && (await procKb(p.child.pid, 'VmRSS'))) || 0)}`));
        redisUse.peak = Math.max(redisUse.peak, (await redisBytes(connection, config.QUEUE_PREFIX)).bytes);
        log(
          `  ${sec(performance.now() - t0)} s: ` +
            (['extract', 'validate', 'transform', 'kpi', 'load'] as const)
              .map((k) => `${k} ${s[k].completed}/${s[k].total}${s[k].active ? `(+${s[k].active})` : ''}`)
              .join(' ') +
            `; RSS MB ${rss.join('/')} (peak ${procs.map((p) => mb(p.peakKb)).join('/')})`,
        );
      }
      await new Promise((r) => setTimeout(r, events > 200_000 ? 200 : 25));
    }
    await sampleRss();
  } finally {
    clearInterval(poller);
    await sampleRss();
    supervising = false;
    for (const p of procs) p.child.kill('SIGTERM');
    await Promise.race([Promise.all(procs.map((p) => p.exited)), new Promise((r) => setTimeout(r, 30_000))]);
    for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    // Remove this run's queue keys (unique prefix).
    let cursor = '0';
    do {
      const [next, keys] = await connection.scan(cursor, 'MATCH', `${config.QUEUE_PREFIX}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await connection.del(...keys);
    } while (cursor !== '0');
    await queues.close();
    connection.disconnect();
    await s3?.close();
  }

  // --- Compare -------------------------------------------------------------
  const actual = await readWarehouseKpis(warehouseUrl.toString());
  const diffs = diffKpis(actual, expected!);
  if (!values.keep) {
    const adminEnd = new pg.Client({ connectionString: PG_ADMIN });
    await adminEnd.connect();
    await adminEnd.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await adminEnd.end();
  }

  const r = report;
  console.log('');
  console.log(
    `run ${r.runId}: ${r.status}; files ${r.files.loaded}/${r.files.total} loaded; rows read ${r.rows.read}, valid ${r.rows.valid}, ` +
      `rejected ${r.rows.rejected}, duplicate ${r.rows.duplicate}, orphan tracks ${r.rows.orphanTracks}; ` +
      `KPI rows genre ${r.kpiRows.genre}, hourly ${r.kpiRows.hourly}`,
  );
  if (r.error) console.log(`run error: ${r.error}`);
  console.log('stage times (wall clock, first job start to last job end; validate and transform overlap):');
  for (const [stage, ms] of Object.entries(r.stageMs)) console.log(`  ${stage.padEnd(10)} ${sec(ms).padStart(8)} s`);
  console.log(`  ${'end-to-end'.padEnd(10)} ${sec(pipelineMs).padStart(8)} s  (${Math.round(events / (pipelineMs / 1000)).toLocaleString('en-US')} events/s)`);
  console.log(`  ${'duckdb'.padEnd(10)} ${sec(duckdbMs).padStart(8)} s  (${Math.round(events / (duckdbMs / 1000)).toLocaleString('en-US')} events/s)`);
  if (pandas) {
    console.log(
      `  ${'pandas'.padEnd(10)} ${sec(pandas.ms).padStart(8)} s  (${Math.round(events / (pandas.ms / 1000)).toLocaleString('en-US')} events/s; ` +
        `the old DAG's KPI logic: ${pandas.cpuSeconds.toFixed(2)} s CPU, peak RSS ${pandas.peakRssMb.toFixed(0)} MB, ${pandas.genreRows} genre / ${pandas.hourlyRows} hourly rows)`,
    );
  }
  console.log(`  kpi stage vs DuckDB: ${((r.stageMs.kpi ?? 0) / duckdbMs).toFixed(2)}x`);
  console.log(`  catalogue jobs (start to end): ${catalogueTimes}`);
  console.log(`  KPI passes: ${passReads}`);
  console.log('peak RSS (VmHWM):');
  for (const p of procs) console.log(`  ${p.name.padEnd(10)} ${mb(p.peakKb).padStart(6)} MB`);
  if (deaths.length) console.log(`worker processes that died during the run (each started again):\n${deaths.map((d) => `  ${d}`).join('\n')}`);
  const redisMb = (bytes: number) => (bytes / 1024 ** 2).toFixed(1);
  console.log(
    `Redis memory of the run (MEMORY USAGE of its queue keys): ${redisMb(redisUse.left)} MB in ${redisUse.keys} keys once it ended, ` +
      `${redisMb(redisUse.peak)} MB the most seen while it ran (sampled every 5 s); one progress read of the finished run: ${progressReadMs.toFixed(0)} ms`,
  );
  const workerCpu = procs.reduce((sum, p) => sum + (p.cpuSeconds ?? 0), 0);
  console.log(
    `worker CPU time, trigger to report (GC threads included): ${procs.map((p) => `${p.name} ${p.cpuSeconds?.toFixed(2) ?? '?'} s`).join(', ')}; ` +
      `${((workerCpu * 1e6) / events).toFixed(2)} µs per event, ${((100 * workerCpu) / (pipelineMs / 1000) / os.cpus().length).toFixed(0)}% of the machine's cores`,
  );
  if (values.gc) {
    console.log('garbage collections (--trace-gc), count and main-thread pause:');
    for (const p of procs) {
      const kinds = Object.entries(p.gc ?? {}).map(([kind, { count, ms }]) => `${kind} ${count}, ${(ms / 1000).toFixed(2)} s`);
      console.log(`  ${p.name.padEnd(10)} ${kinds.join('; ') || 'none seen'}`);
    }
  }
  console.log("event-loop delay, longest (the thread that renews BullMQ's 30 s job locks, every 15 s):");
  for (const p of procs) console.log(`  ${p.name.padEnd(10)} ${String(p.loopDelayMaxMs ?? '?').padStart(6)} ms`);
  const s3Requests = Object.fromEntries(S3_REQUEST_KINDS.map((kind) => [kind, procs.reduce((n, p) => n + (p.s3Requests?.[kind] ?? 0), 0)]));
  const s3Total = Object.values(s3Requests).reduce((a, b) => a + b, 0);
  if (values.s3) {
    console.log(
      `S3 requests of the run (each worker's S3 client counted them): ${S3_REQUEST_KINDS.map((k) => `${k} ${s3Requests[k]}`).join(', ')}; ` +
        `${s3Total} in all, ${(s3Total / r.files.total).toFixed(1)} a file`,
    );
  }
  const self = await procKb(process.pid, 'VmHWM');
  if (self) console.log(`  ${'bench'.padEnd(10)} ${mb(self).padStart(6)} MB  (this process, DuckDB included)`);

  if (timeline.length) {
    console.log('timeline (s from trigger; a job that ran in steps shows its last start):');
    for (const line of timeline) console.log(`  ${line}`);
  }

  if (values.profile) {
    console.log('');
    for (let i = 0; i < workers; i++) console.log(await summarizeProfiles(path.join(profDir, `worker${i + 1}`)));
  }
  if (values.keep) console.log(`kept: ${runDir} (the workers' logs in worker<N>.log there), database ${dbName}`);
  else await fs.rm(runDir, { recursive: true, force: true });

  if (diffs.length) {
    console.log('');
    console.log('KPI rows differ between the pipeline and DuckDB:');
    for (const d of diffs) console.log(`  ${d}`);
    process.exitCode = 1;
  } else {
    console.log(`KPI rows identical: ${expected!.genre.length} genre, ${expected!.hourly.length} hourly (doubles within 1e-9 relative)`);
  }
  const pipelineS = pipelineMs / 1000;
  const cpu = procs.reduce((sum, p) => sum + (p.cpuSeconds ?? 0), 0);
  const duckdbS = duckdbMs / 1000;
  const peak = Math.max(...procs.map((p) => p.peakKb)) / 1024;
  console.log(
    `bench: events=${events} workers=${workers} pipeline_s=${pipelineS.toFixed(2)} duckdb_s=${duckdbS.toFixed(2)} ` +
      `ratio=${(pipelineS / duckdbS).toFixed(2)} peak_rss_mb=${peak.toFixed(0)}` +
      ` pandas_s=${pandas ? (pandas.ms / 1000).toFixed(2) : 'skipped'} cpu_us_per_event=${((cpu * 1e6) / events).toFixed(2)}` +
      ` kpi_digest=${kpiDigest(actual)} distinct_tracks=${distinctTracks} redis_run_mb=${(redisUse.left / 1024 ** 2).toFixed(1)}` +
      ` redis_peak_mb=${(redisUse.peak / 1024 ** 2).toFixed(1)} files=${r.files.total}` +
      (values.s3 ? ` s3_requests=${s3Total} ${S3_REQUEST_KINDS.map((k) => `s3_${k.toLowerCase()}=${s3Requests[k]}`).join(' ')}` : ''),
  );
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
