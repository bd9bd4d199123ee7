import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { z } from 'zod';
import { DATA_CHECK_NAMES, DEFAULT_CHECK_SEVERITY, isDataCheckName, type CheckSeverity, type DataCheckName } from '@musicflow/contracts';
import { postgresUrlProblems, type PostgresTarget } from './postgres.ts';
import { readSecretFile } from './secrets.ts';

const dirUrl = (p: string) => pathToFileURL(path.resolve(p)).href.replace(/\/?$/, '/');

const objectUrl = z.string().refine((v) => /^(s3|file):\/\//.test(v), 'must be an s3:// or file:// URL');
const folderUrl = objectUrl.transform((v) => (v.endsWith('/') ? v : `${v}/`));
const sourceUrl = z.string().refine((v) => /^(s3|file|postgres|postgresql):\/\//.test(v), 'must be an s3://, file:// or postgres:// URL');
/** `26h`, `90m`, `45s`, `2d`, or plain seconds → milliseconds. */
const duration = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)?$/, 'must be a duration such as 26h, 90m, 45s or a number of seconds')
  .transform((v) => {
    const [, n, unit = 's'] = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v)!;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  });
const utcTime = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time of day HH:MM, such as 06:00');
/** `a, b,,c` → `['a', 'b', 'c']`. */
const commaList = z.string().transform((v) =>
  v
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean),
);
/** `host:port` (an IPv6 host in brackets) → the node ioredis' Cluster wants. */
const clusterNode = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/]+):\d{1,5}$/, 'each node must be host:port')
  .transform((v) => {
    const at = v.lastIndexOf(':');
    return { host: v.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(v.slice(at + 1)) };
  });
const httpUrl = z
  .string()
  .url()
  .refine((v) => /^https?:\/\//.test(v), 'must be an http:// or https:// URL');
/** `name:level,...` over the defaults (DEFAULT_CHECK_SEVERITY): every check's severity. */
const checkSeverity = z
  .string()
  .default('')
  .transform((v, ctx) => {
    const severity: Record<DataCheckName, CheckSeverity> = { ...DEFAULT_CHECK_SEVERITY };
    for (const item of v
      .split(',')
      .map((i) => i.trim())
      .filter(Boolean)) {
      const [, name = '', level] = /^([^:]*):\s*(warn|error)$/.exec(item) ?? [];
      if (!level) ctx.addIssue({ code: 'custom', message: `"${item}" must be check:warn or check:error` });
      else if (!isDataCheckName(name.trim()))
        ctx.addIssue({ code: 'custom', message: `unknown check "${name.trim()}": the checks are ${DATA_CHECK_NAMES.join(', ')}` });
      else severity[name.trim() as DataCheckName] = level as CheckSeverity;
    }
    return severity;
  });
const boolean = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Every setting of every service, read from the environment once at start-up. */
export const configSchema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Redis' password, read from this file for every new connection (REDIS_URL then carries none). */
  REDIS_PASSWORD_FILE: z.string().optional(),
  /** CA bundle (PEM) that a `rediss://` server's certificate must be signed by; default: Node's public CAs. */
  REDIS_CA_FILE: z.string().optional(),
  /**
   * Seeds (`host:port,host:port`) of a Redis Cluster: set, every connection is a cluster client that
   * finds the other nodes itself, with REDIS_URL's credentials and TLS (its host and port are unused).
   */
  REDIS_CLUSTER_NODES: commaList.pipe(z.array(clusterNode).min(1, 'must list at least one host:port')).optional(),
  WAREHOUSE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/musicflow'),
  WAREHOUSE_PASSWORD_FILE: z.string().optional(),
  /** `copy` streams the stage with COPY FROM STDIN (PostgreSQL); `insert` uses multi-row INSERTs (any Redshift client). */
  WAREHOUSE_LOAD: z.enum(['copy', 'insert']).default('copy'),
  STREAMS_URL: folderUrl.default(dirUrl('.musicflow/bucket/streams')),
  USERS_URL: sourceUrl.default(dirUrl('.musicflow/bucket') + 'users.csv'),
  SONGS_URL: sourceUrl.default(dirUrl('.musicflow/bucket') + 'songs.csv'),
  USERS_PASSWORD_FILE: z.string().optional(),
  SONGS_PASSWORD_FILE: z.string().optional(),
  LAKE_URL: folderUrl.default(dirUrl('.musicflow/lake')),
  /** Defaults to the `archive/` sibling of STREAMS_URL. */
  ARCHIVE_URL: folderUrl.optional(),
  /** On a Redis Cluster it carries a hash tag (`{musicflow}`): every queue of a flow, and every key musicflow sets, in one slot. */
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]*(\{[A-Za-z0-9_-]+\})?[A-Za-z0-9_-]*$/, 'letters, digits, _ and - only, with at most one hash tag such as {musicflow}')
    .min(1)
    .default('musicflow'),
  /** Default: 0.0.0.0 with API_TOKEN, loopback (127.0.0.1) without. */
  API_HOST: z.string().optional(),
  /** Lets the API listen on a non-loopback API_HOST without API_TOKEN (anyone reaching the port may start runs). */
  API_ALLOW_UNAUTHENTICATED: boolean.default(false),
  /**
   * Comma-separated URL prefixes that per-run sources (POST /runs, retries) must fall under.
   * Default: the STREAMS_URL folder, USERS_URL and SONGS_URL themselves (never the folder around them: the archive).
   */
  SOURCE_URL_PREFIXES: commaList.pipe(z.array(sourceUrl).min(1, 'must list at least one URL prefix')).optional(),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** When true, GET routes also require API_TOKEN. */
  API_PROTECT_READS: boolean.default(false),
  /** Host names the API answers to besides localhost, API_HOST and IP addresses (comma-separated): the DNS-rebinding guard. */
  API_ALLOWED_HOSTS: z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
    ),
  /** Wrong or missing tokens one client may present per minute before its requests needing the token get 429. */
  API_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).default(30),
  /** The shortest time between two firings a schedule may have (PUT /schedules/daily); 0 lifts the bound. */
  SCHEDULE_MIN_INTERVAL: duration.default(3_600_000),
  DAILY_CRON: z.string().default('0 2 * * *'),
  TZ_SCHEDULE: z.string().default('UTC'),
  /** Where alerts go: a JSON POST (Slack-compatible `text`) for failed/partial runs, failed data checks and stale data. */
  ALERT_WEBHOOK_URL: httpUrl.optional(),
  /** No successful run for longer than this (ms after parsing) means the KPIs are stale: an alert, and `stale` in /freshness. */
  FRESHNESS_MAX_AGE: duration.default(26 * 3_600_000),
  /**
   * A listen date's KPIs are due by this UTC time of the next day (`HH:MM`): an error alert when missed, a
   * "recovered" one when met late. DEADLINE_WARN, an earlier time, warns first. Both off when unset.
   */
  DEADLINE: utcTime.optional(),
  DEADLINE_WARN: utcTime.optional(),
  /** How often every API and scheduler replica checks the deadlines (they agree through Redis on one alert each). */
  DEADLINE_CHECK_INTERVAL: duration.default(60_000),
  /**
   * The landing sensor: every this long one API or scheduler replica lists STREAMS_URL and starts a run once
   * new or changed stream files have stayed unchanged for SENSOR_QUIET. Off when unset.
   */
  SENSOR_INTERVAL: duration.optional(),
  SENSOR_QUIET: duration.default(60_000),
  /** Severity of each data check (`daily_plays_anomaly:error,hourly_plays_match_lake:warn`); the rest keep DEFAULT_CHECK_SEVERITY. */
  CHECK_SEVERITY: checkSeverity,
  /** An error-level check that fails on a listen date keeps that date out of the load (the other dates load, the run is partial). */
  CHECKS_BLOCK_ON_ERROR: boolean.default(false),
  /** The anomaly checks compare a date with the median of this many loaded dates before it... */
  ANOMALY_TRAILING_DATES: z.coerce.number().int().min(1).max(366).default(7),
  /** ...once at least this many are loaded (fewer: the check passes, saying so)... */
  ANOMALY_MIN_DATES: z.coerce.number().int().min(1).max(366).default(3),
  /** ...and fail when the date is more than this many times above or below it. */
  ANOMALY_RATIO: z.coerce.number().gt(1).default(3),
  /** Share of a file's rows that may be bad before the whole file is rejected. */
  REJECT_THRESHOLD: z.coerce.number().min(0).max(1).default(0.05),
  /** Stream files larger than this are split into chunks processed in parallel. */
  CHUNK_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(32 * 1024 * 1024),
  /**
   * Bounds on a stream file (docs/data-contract.md, "File bounds"): a file that breaks one is rejected with
   * the bound's name as its reason, never retried; the other files of the run load. A record (a line, or
   * several when a quoted field holds line ends) longer than MAX_RECORD_BYTES, or with more than
   * MAX_COLUMNS fields; a `.gz` file that inflates past MAX_DECOMPRESSED_BYTES, or past MAX_GZIP_RATIO
   * times its size on disk; a name (its key under the streams folder) longer than MAX_FILE_KEY_BYTES.
   */
  MAX_RECORD_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .max(256 * 1024 * 1024)
    .default(1024 * 1024),
  MAX_COLUMNS: z.coerce.number().int().min(3).max(1_000_000).default(1000),
  MAX_DECOMPRESSED_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(4 * 1024 ** 3),
  MAX_GZIP_RATIO: z.coerce.number().min(1).default(100),
  MAX_FILE_KEY_BYTES: z.coerce.number().int().min(16).max(4096).default(1024),
  /**
   * Symbolic links in a file:// streams folder: `skip` (reported, never followed), or `inside` (a link to a
   * file whose real path is under the folder's real path is read; any other link is skipped and reported).
   */
  FILE_LINKS: z.enum(['skip', 'inside']).default('skip'),
  /**
   * A listen date with more events than this is split into pass jobs over its parts, each over a share
   * of its users, so duplicate detection in one job holds at most this many events (about 12-24 bytes each).
   */
  KPI_EVENTS_PER_PASS: z.coerce.number().int().min(1000).default(2_000_000),
  /**
   * A listen date whose parts play more distinct tracks than this (summed over its parts: an upper bound) is
   * split into more passes, so a pass's track, artist and name state (about 200-300 bytes a track) stays
   * bounded on a long-tail day whatever its events.
   */
  KPI_TRACKS_PER_PASS: z.coerce.number().int().min(1000).default(300_000),
  /**
   * A run whose chunks name more distinct track ids than this (summed over the chunks: an upper bound) looks up
   * its songs in more jobs, each holding the ids of one shard of them (a fingerprint of 16-20 bytes a track),
   * so a catalogue job's memory stays bounded whatever the run's tracks. Each job reads a CSV catalogue whole.
   */
  CATALOGUE_TRACKS_PER_JOB: z.coerce.number().int().min(1).default(4_000_000),
  /** The same for users (an int32 set, 5-9 bytes a user). */
  CATALOGUE_USERS_PER_JOB: z.coerce.number().int().min(1).default(16_000_000),
  /**
   * Source files whose duplicate events (re-delivered rows, counted by the KPI date and pass jobs) the load
   * holds at once while it writes the run's files to analytics.etl_run_files: more files with duplicates than
   * this are joined in shares (each share a read of the run's file list), so its memory stays bounded whatever
   * a run re-delivers.
   */
  KPI_FILE_DUPLICATES_HELD: z.coerce.number().int().min(1).default(100_000),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** Run the CPU-heavy stages (validate, transform, kpi) on worker threads, off the thread that renews job locks. */
  WORKER_THREADS: boolean.default(false),
  /**
   * Retries for infrastructure faults are bounded by time: the first after JOB_BACKOFF_MS, each next one
   * twice as long up to RETRY_BACKOFF_MAX_MS, until the delays add up to RETRY_BUDGET_MS (a warehouse
   * failover takes 60-120 s, an outage up to 5 minutes must only delay a run). JOB_ATTEMPTS, when set,
   * also caps the number of attempts.
   */
  RETRY_BUDGET_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(15 * 60_000),
  RETRY_BACKOFF_MAX_MS: z.coerce.number().int().min(1).default(30_000),
  JOB_BACKOFF_MS: z.coerce.number().int().min(1).default(1000),
  JOB_ATTEMPTS: z.coerce.number().int().min(1).optional(),
  /**
   * A job that kills its worker process (out of memory, a native crash, a kill) is handed to the next
   * worker once its lock expires; after this many of its workers died it fails, naming them, and its run fails.
   */
  JOB_MAX_WORKER_DEATHS: z.coerce.number().int().min(1).max(100).default(3),
  /** A job's lock: a worker that stops renewing it (died, or its event loop blocked) loses the job this long after. */
  JOB_LOCK_MS: z.coerce.number().int().min(1000).default(30_000),
  /**
   * Finished jobs kept in Redis (for Bull Board, GET /runs/:id and `run --wait` of a finished run), per queue:
   * at most this many seconds and this many jobs, whichever is reached first. A job's data and result are a
   * few hundred bytes whatever the files of its chunk; the counts must exceed the chunks of one run.
   */
  JOBS_KEEP_COMPLETED_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3600),
  JOBS_KEEP_COMPLETED_COUNT: z.coerce.number().int().min(0).default(5000),
  JOBS_KEEP_FAILED_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(14 * 24 * 3600),
  JOBS_KEEP_FAILED_COUNT: z.coerce.number().int().min(0).default(5000),
  /** Per-file rows of analytics.etl_run_files are deleted this many days after their run started (0: kept forever). */
  RUN_FILES_KEEP_DAYS: z.coerce.number().int().min(0).default(90),
  /**
   * Ingested files one archive job moves: a run's archive is files / this many jobs, spread over every loader
   * (1M files: 500 jobs of a few hundred bytes of Redis each).
   */
  ARCHIVE_FILES_PER_JOB: z.coerce.number().int().min(1).max(100_000).default(2000),
  /**
   * An archived object bigger than this is copied in parts (S3 UploadPartCopy, each at most this big):
   * a single CopyObject stops at 5 GiB.
   */
  S3_MULTIPART_COPY_BYTES: z.coerce
    .number()
    .int()
    .min(5 * 1024 * 1024)
    .max(5 * 1024 ** 3)
    .default(5 * 1024 ** 3),
  /** s3rver, MinIO and other S3-compatible servers want path-style URLs and no streaming checksums. */
  S3_FORCE_PATH_STYLE: boolean.default(false),
  S3_CHECKSUMS: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).default('WHEN_SUPPORTED'),
  /**
   * OpenTelemetry traces, OTLP over HTTP (JSON), the SDKs' standard variables: `<ENDPOINT>/v1/traces`, or the
   * traces endpoint as given. Off when neither is set. OTEL_EXPORTER_OTLP_HEADERS and OTEL_BSP_* are read by the SDK.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: httpUrl.optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: httpUrl.optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default('musicflow'),
  /** OpenLineage run events (START, COMPLETE, FAIL, ABORT) are POSTed to `<OPENLINEAGE_URL>/api/v1/lineage`; off when unset. */
  OPENLINEAGE_URL: httpUrl.optional(),
  /** Sent as `Authorization: Bearer <key>` (Marquez, hosted catalogues). */
  OPENLINEAGE_API_KEY: z.string().min(1).optional(),
  /** The job namespace of musicflow's runs (one per deployment: musicflow-prod, musicflow-staging). */
  OPENLINEAGE_NAMESPACE: z.string().min(1).max(256).default('musicflow'),
  /** A lineage event not accepted within this long is logged and dropped: lineage never holds up a run. */
  OPENLINEAGE_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.output<typeof configSchema> & { ARCHIVE_URL: string; API_HOST: string; SOURCE_URL_PREFIXES: string[] };

/** Parses the environment; a bad value throws an error that names the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const invalid = (lines: string[]) => new Error(`Invalid configuration:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  const token = apiTokenFromFile(present);
  if ('problem' in token) throw invalid([token.problem]);
  const result = configSchema.safeParse({ ...present, ...token.env });
  if (!result.success) {
    throw invalid(
      result.error.issues.map((i) => `${i.path.join('.')}${i.path[0] === 'API_TOKEN' && token.env.API_TOKEN ? ' (from API_TOKEN_FILE)' : ''}: ${i.message}`),
    );
  }
  const cfg = result.data;
  const problems = [...connectionProblems(cfg), ...[redisClusterProblem(cfg), anomalyProblem(cfg)].filter((p): p is string => p !== undefined)];
  if (problems.length) throw invalid(problems);
  return {
    ...cfg,
    ARCHIVE_URL: cfg.ARCHIVE_URL ?? archiveSibling(cfg.STREAMS_URL),
    API_HOST: cfg.API_HOST ?? (cfg.API_TOKEN ? '0.0.0.0' : '127.0.0.1'),
    SOURCE_URL_PREFIXES: cfg.SOURCE_URL_PREFIXES ?? [cfg.STREAMS_URL, cfg.USERS_URL, cfg.SONGS_URL],
  };
}

/** API_TOKEN_FILE (a Docker or Kubernetes secret) read into API_TOKEN, once at start-up. */
function apiTokenFromFile(env: Record<string, string | undefined>): { env: { API_TOKEN?: string } } | { problem: string } {
  const file = env.API_TOKEN_FILE;
  if (!file) return { env: {} };
  if (env.API_TOKEN) return { problem: 'API_TOKEN and API_TOKEN_FILE are both set: keep one' };
  try {
    return { env: { API_TOKEN: readSecretFile(file, 'API_TOKEN_FILE') } };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

/** Each connection's URL and the variable that names its password file. */
const PASSWORD_FILES = [
  { setting: 'WAREHOUSE_URL', file: 'WAREHOUSE_PASSWORD_FILE' },
  { setting: 'USERS_URL', file: 'USERS_PASSWORD_FILE' },
  { setting: 'SONGS_URL', file: 'SONGS_PASSWORD_FILE' },
  { setting: 'REDIS_URL', file: 'REDIS_PASSWORD_FILE' },
] as const;

const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url);

/**
 * What stops a connection's secrets or TLS settings from working, one line
 * each, found at start-up rather than at the first connection: a password
 * both in a URL and in a file, an unreadable file, TLS parameters that are
 * unknown, unsafe or point at a missing file.
 */
function connectionProblems(cfg: z.output<typeof configSchema>): string[] {
  const problems: string[] = [];
  for (const { setting, file } of PASSWORD_FILES) {
    const url = cfg[setting];
    const secretFile = cfg[file];
    if (!secretFile) continue;
    if (setting !== 'REDIS_URL' && !isPostgresUrl(url)) problems.push(`${file} is set, but ${setting} is not a postgres:// URL`);
    else if (new URL(url).password) problems.push(`${setting} carries a password and ${file} is set: keep one (the file, to rotate it without a restart)`);
    try {
      readSecretFile(secretFile, file);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  for (const setting of ['WAREHOUSE_URL', 'USERS_URL', 'SONGS_URL'] as const) {
    if (isPostgresUrl(cfg[setting])) problems.push(...postgresUrlProblems(cfg[setting], setting));
  }
  if (cfg.REDIS_CA_FILE) {
    if (!cfg.REDIS_URL.startsWith('rediss://')) problems.push('REDIS_CA_FILE is set, but REDIS_URL is not a rediss:// (TLS) URL: use rediss://');
    try {
      fs.accessSync(cfg.REDIS_CA_FILE, fs.constants.R_OK);
    } catch {
      problems.push(`REDIS_CA_FILE: ${cfg.REDIS_CA_FILE} cannot be read: mount the CA bundle there or fix the path`);
    }
  }
  return problems;
}

/** The warehouse's connection, or a configured catalogue table's, with the variable it came from and its password file. */
export function postgresTarget(config: Config, setting: 'WAREHOUSE_URL' | 'USERS_URL' | 'SONGS_URL'): PostgresTarget {
  const variable = PASSWORD_FILES.find((p) => p.setting === setting)!.file;
  const file = config[variable];
  return { url: config[setting], setting, passwordFile: file ? { path: file, variable } : undefined };
}

/**
 * The connection of a run's catalogue source: the configured one's password
 * file applies only when the run reads the configured database (the same URL
 * but for a password), never to a database a run names itself.
 */
export function catalogueTarget(config: Config, table: 'users' | 'songs', url: string): PostgresTarget {
  const configured = postgresTarget(config, table === 'users' ? 'USERS_URL' : 'SONGS_URL');
  const withoutPassword = (u: string) => {
    const parsed = new URL(u);
    parsed.password = '';
    return parsed.href;
  };
  if (withoutPassword(url) === withoutPassword(configured.url)) return { ...configured, url };
  return { url, setting: `the run's ${table} source` };
}

/**
 * What stops the settings from working on a Redis Cluster, or undefined: BullMQ's scripts touch several
 * keys of a queue, and a flow several queues, so every key must fall in one slot (one hash tag); and a
 * cluster has database 0 only.
 */
function redisClusterProblem(cfg: Pick<Config, 'REDIS_CLUSTER_NODES' | 'QUEUE_PREFIX' | 'REDIS_URL'>): string | undefined {
  if (!cfg.REDIS_CLUSTER_NODES) return undefined;
  if (!/\{[^}]+\}/.test(cfg.QUEUE_PREFIX)) {
    return `QUEUE_PREFIX: must carry a hash tag on a Redis Cluster (REDIS_CLUSTER_NODES is set), such as {${cfg.QUEUE_PREFIX}}`;
  }
  if (!['', '/', '/0'].includes(new URL(cfg.REDIS_URL).pathname)) {
    return 'REDIS_URL: a Redis Cluster has database 0 only (REDIS_CLUSTER_NODES is set): remove the database number from the URL';
  }
  return undefined;
}

/**
 * Whether a source URL falls under one of the prefixes. Both are normalized
 * first (`..` segments resolved), so `file:///in/../etc/` is not under `file:///in/`;
 * a prefix that is not a folder (a database URL) matches only itself.
 */
export function isAllowedSource(url: string, prefixes: readonly string[]): boolean {
  const normalize = (u: string) => {
    try {
      return new URL(u).href;
    } catch {
      return undefined;
    }
  };
  const target = normalize(url);
  if (!target) return false;
  return prefixes.some((prefix) => {
    const p = normalize(prefix);
    return p !== undefined && (p.endsWith('/') ? target.startsWith(p) : target === p);
  });
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/** Why the API must not listen as configured (a non-loopback address without a token), or undefined. */
export function unsafeBindProblem(config: Pick<Config, 'API_HOST' | 'API_TOKEN' | 'API_ALLOW_UNAUTHENTICATED'>): string | undefined {
  if (config.API_TOKEN || config.API_ALLOW_UNAUTHENTICATED || LOOPBACK.test(config.API_HOST)) return undefined;
  return (
    `API_HOST ${config.API_HOST} would open the API to the network without API_TOKEN: anyone reaching the port could start runs. ` +
    'Set API_TOKEN (at least 16 characters), or listen on loopback (unset API_HOST), or set API_ALLOW_UNAUTHENTICATED=true to accept it.'
  );
}

function anomalyProblem(cfg: Pick<Config, 'ANOMALY_MIN_DATES' | 'ANOMALY_TRAILING_DATES'>): string | undefined {
  if (cfg.ANOMALY_MIN_DATES <= cfg.ANOMALY_TRAILING_DATES) return undefined;
  return `ANOMALY_MIN_DATES (${cfg.ANOMALY_MIN_DATES}) is over ANOMALY_TRAILING_DATES (${cfg.ANOMALY_TRAILING_DATES}): the anomaly checks would never run; lower it`;
}

/** `s3://b/in/streams/` → `s3://b/in/archive/` (SPEC 6). */
export function archiveSibling(streamsUrl: string): string {
  const trimmed = streamsUrl.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return `${trimmed.slice(0, cut)}/archive/`;
}
