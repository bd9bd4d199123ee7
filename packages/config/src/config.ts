import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { z } from 'zod';

const dirUrl = (p: string) => pathToFileURL(path.resolve(p)).href.replace(/\/?$/, '/');

const objectUrl = z
  .string()
  .refine((v) => /^(s3|file):\/\//.test(v), 'must be an s3:// or file:// URL');
const folderUrl = objectUrl.transform((v) => (v.endsWith('/') ? v : `${v}/`));
const sourceUrl = z
  .string()
  .refine((v) => /^(s3|file|postgres|postgresql):\/\//.test(v), 'must be an s3://, file:// or postgres:// URL');
/** `26h`, `90m`, `45s`, `2d`, or plain seconds → milliseconds. */
const duration = z
  .string()
  .regex(/^\d+(\.\d+)?\s*(ms|s|m|h|d)?$/, 'must be a duration such as 26h, 90m, 45s or a number of seconds')
  .transform((v) => {
    const [, n, unit = 's'] = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/.exec(v)!;
    return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit as 'ms' | 's' | 'm' | 'h' | 'd'];
  });
const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/** Every setting of every service, read from the environment once at start-up. */
export const configSchema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  WAREHOUSE_URL: z
    .string()
    .refine((v) => /^postgres(ql)?:\/\//.test(v), 'must be a postgres:// URL')
    .default('postgres://postgres@127.0.0.1:5432/musicflow'),
  /** `copy` streams the stage with COPY FROM STDIN (PostgreSQL); `insert` uses multi-row INSERTs (any Redshift client). */
  WAREHOUSE_LOAD: z.enum(['copy', 'insert']).default('copy'),
  STREAMS_URL: folderUrl.default(dirUrl('.musicflow/bucket/streams')),
  USERS_URL: sourceUrl.default(dirUrl('.musicflow/bucket') + 'users.csv'),
  SONGS_URL: sourceUrl.default(dirUrl('.musicflow/bucket') + 'songs.csv'),
  LAKE_URL: folderUrl.default(dirUrl('.musicflow/lake')),
  /** Defaults to the `archive/` sibling of STREAMS_URL. */
  ARCHIVE_URL: folderUrl.optional(),
  QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and - only').default('musicflow'),
  API_HOST: z.string().default('0.0.0.0'),
  API_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  API_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** When true, GET routes also require API_TOKEN. */
  API_PROTECT_READS: boolean.default(false),
  DAILY_CRON: z.string().default('0 2 * * *'),
  TZ_SCHEDULE: z.string().default('UTC'),
  /** Where alerts go: a JSON POST (Slack-compatible `text`) for failed/partial runs, failed data checks and stale data. */
  ALERT_WEBHOOK_URL: z.string().url().refine((v) => /^https?:\/\//.test(v), 'must be an http:// or https:// URL').optional(),
  /** No successful run for longer than this (ms after parsing) means the KPIs are stale: an alert, and `stale` in /freshness. */
  FRESHNESS_MAX_AGE: duration.default(26 * 3_600_000),
  /** Share of a file's rows that may be bad before the whole file is rejected. */
  REJECT_THRESHOLD: z.coerce.number().min(0).max(1).default(0.05),
  /** Stream files larger than this are split into chunks processed in parallel. */
  CHUNK_BYTES: z.coerce.number().int().min(1024).default(32 * 1024 * 1024),
  /**
   * A listen date with more events than this is split into pass jobs over its parts, each over a share
   * of its users, so duplicate detection in one job holds at most this many events (about 12-24 bytes each).
   */
  KPI_EVENTS_PER_PASS: z.coerce.number().int().min(1000).default(2_000_000),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(1),
  /** Run the CPU-heavy stages (validate, transform, kpi) on worker threads, off the thread that renews job locks. */
  WORKER_THREADS: boolean.default(false),
  JOB_ATTEMPTS: z.coerce.number().int().min(1).default(5),
  JOB_BACKOFF_MS: z.coerce.number().int().min(0).default(1000),
  /** s3rver, MinIO and other S3-compatible servers want path-style URLs and no streaming checksums. */
  S3_FORCE_PATH_STYLE: boolean.default(false),
  S3_CHECKSUMS: z.enum(['WHEN_SUPPORTED', 'WHEN_REQUIRED']).default('WHEN_SUPPORTED'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = z.output<typeof configSchema> & { ARCHIVE_URL: string };

/** Parses the environment; a bad value throws an error that names the variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = configSchema.safeParse(present);
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const cfg = result.data;
  return { ...cfg, ARCHIVE_URL: cfg.ARCHIVE_URL ?? archiveSibling(cfg.STREAMS_URL) };
}

/** `s3://b/in/streams/` → `s3://b/in/archive/` (SPEC 6). */
export function archiveSibling(streamsUrl: string): string {
  const trimmed = streamsUrl.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  return `${trimmed.slice(0, cut)}/archive/`;
}
