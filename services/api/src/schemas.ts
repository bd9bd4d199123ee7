/**
 * The zod schemas of the HTTP API: request bodies, params and queries (validated
 * by the type provider, 400 naming the field) and responses (serialized through
 * them and published in the OpenAPI document).
 */
import { z } from 'zod';
import { CronExpressionParser } from 'cron-parser';
import { normalizeSourceUrl, sourceUrlProblem } from '@musicflow/config';
import { addDays, MAX_TREND_DAYS } from '@musicflow/warehouse';
import { RUN_ID_PATTERN, runReportSchema, STAGES, runStatusSchema, runFileSchema } from '@musicflow/contracts';

// ---------- shared pieces ----------

const CRON_MAX_CHARS = 128;
const TIME_ZONE_MAX_CHARS = 64;
/** Paging past this many rows is no use to anyone and only makes the stores skip them. */
const MAX_OFFSET = 1_000_000;

/** A source URL the stores can use (bounded, no query on an object URL, sane segments), in its one spelling. */
const usableSource = (schemes: RegExp, what: string) =>
  z
    .string()
    .superRefine((value, ctx) => {
      const problem = schemes.test(value) ? sourceUrlProblem(value) : what;
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform(normalizeSourceUrl);
const streamsUrl = usableSource(/^(s3|file):\/\/\S+$/, 'must be an s3:// or file:// folder URL')
  // The same folder with or without its trailing slash is the same source (and the same active-run key).
  .transform((v) => (v.endsWith('/') ? v : `${v}/`));
const catalogueUrl = usableSource(/^(s3|file|postgres|postgresql):\/\/\S+$/, 'must be an s3://, file:// or postgres:// URL');

export const runIdParam = z.string().regex(RUN_ID_PATTERN, 'must be a run id (lowercase letters, digits and -, 3-63 characters)');

/** A five- or six-field cron pattern (seconds first when six), as BullMQ job schedulers take it. */
export const cronSchema = z
  .string()
  .max(CRON_MAX_CHARS, `must be at most ${CRON_MAX_CHARS} characters`)
  .trim()
  .superRefine((value, ctx) => {
    const fields = value.split(/\s+/).length;
    if (fields !== 5 && fields !== 6) {
      ctx.addIssue({ code: 'custom', message: `must be a cron pattern of 5 or 6 fields, got ${fields}` });
      return;
    }
    try {
      CronExpressionParser.parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `not a valid cron pattern: ${(err as Error).message}` });
    }
  });

/** Firings a schedule's shortest interval is looked for in: any pattern with a short gap shows it within its first day or week. */
const FIRINGS_CHECKED = 100;

/** The shortest time between two of the next firings of `cron` in `tz`, in ms (Infinity when it fires once at most). */
export function shortestCronInterval(cron: string, tz: string): number {
  const firings = CronExpressionParser.parse(cron, { tz });
  let previous = firings.next().getTime();
  let shortest = Infinity;
  for (let i = 1; i < FIRINGS_CHECKED && firings.hasNext(); i++) {
    const next = firings.next().getTime();
    shortest = Math.min(shortest, next - previous);
    previous = next;
  }
  return shortest;
}

/** An IANA time zone name the runtime knows (`UTC`, `Europe/Paris`, ...). */
export const timeZoneSchema = z
  .string()
  .max(TIME_ZONE_MAX_CHARS, `must be at most ${TIME_ZONE_MAX_CHARS} characters`)
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as UTC or Europe/Paris');

export const errorSchema = z.object({
  statusCode: z.number().int(),
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ in: z.string(), field: z.string(), message: z.string() })).optional(),
});

// ---------- runs ----------

export const startRunBody = z
  .strictObject({
    streams: streamsUrl.optional().describe('Folder of stream CSV files; default STREAMS_URL'),
    users: catalogueUrl.optional().describe('users.csv or postgres:// database with a users table; default USERS_URL'),
    songs: catalogueUrl.optional().describe('songs.csv or postgres:// database with a songs table; default SONGS_URL'),
  })
  // No body at all (`curl -X POST /runs`) reaches the validator as null: run over the default sources.
  .nullish();

/** The run status of the contracts: one definition for workers, API and warehouse. */
export const runStatus = runStatusSchema;

export const startedRunResponse = z.object({
  runId: z.string(),
  /** False when a run over the same sources was already active: that run is returned (HTTP 200) instead of a new one (202). */
  created: z.boolean(),
  status: runStatus,
  url: z.string(),
  retryOf: z.string().optional(),
  /** A retry's scope: the run's sources, its rejected files (how many), or the dates whose load failed. */
  scope: z.enum(['sources', 'rejected-files', 'failed-dates']).optional(),
  files: z.number().int().optional(),
  dates: z.array(z.string()).optional(),
});

export const retryRunBody = z
  .strictObject({
    onlyFailed: z.boolean().default(false).describe('only the rejected files (current versions) or the dates whose load failed'),
  })
  // No body at all (`curl -X POST /runs/<id>/retry`): a retry over the run's sources.
  .nullish();

export const cancelledRunResponse = z.object({
  runId: z.string(),
  /** The loader records the run `cancelled` once its active jobs have stopped: GET the url until then. */
  status: z.literal('cancelling'),
  /** Jobs removed before any worker took them. */
  removedJobs: z.number().int(),
  url: z.string(),
});

export const runParams = z.strictObject({ id: runIdParam });

export const listRunsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).max(MAX_OFFSET).default(0),
});

const stageProgress = z.object({
  total: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  active: z.number().int(),
  percent: z.number(),
  rows: z.number(),
});

export const stagesSchema = z.object(Object.fromEntries(STAGES.map((s) => [s, stageProgress])) as Record<(typeof STAGES)[number], typeof stageProgress>);

export const runSummary = z.object({
  runId: z.string(),
  trigger: z.string(),
  status: runStatus,
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  files: z.object({ total: z.number().int(), loaded: z.number().int(), rejected: z.number().int() }).optional(),
  rows: z.object({ read: z.number().int(), valid: z.number().int(), rejected: z.number().int(), duplicate: z.number().int() }).optional(),
  error: z.string().optional(),
});
export type RunSummary = z.infer<typeof runSummary>;

export const listRunsResponse = z.object({
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
  runs: z.array(runSummary),
});

export const runHealth = z
  .object({
    checkedAt: z.string(),
    /** Stages with jobs of the run ready to run, and the workers consuming their queue. */
    stages: z.array(
      z.object({
        stage: z.enum(STAGES),
        queue: z.string(),
        pending: z.number().int(),
        workers: z.array(z.string()),
        noWorkerSince: z.string().optional(),
        noWorkerSeconds: z.number().optional(),
      }),
    ),
    orphaned: z.array(z.object({ jobId: z.string(), stage: z.enum(STAGES), worker: z.string(), since: z.string() })),
    unreachable: z
      .array(z.object({ jobId: z.string(), stage: z.enum(STAGES), worker: z.string(), unrenewedSeconds: z.number().int(), lapsed: z.boolean() }))
      .describe('Jobs held by a worker that stopped renewing their lock (its host cut off, or the process stuck)'),
    stalled: z.array(z.object({ jobId: z.string(), stage: z.enum(STAGES), stalledCount: z.number().int() })),
    warnings: z.array(z.string()),
  })
  .describe('Whether a queued or running run can move: workers per stage it waits on, jobs whose worker is gone or unreachable, stalled jobs');

export const runDetail = z.object({
  runId: z.string(),
  trigger: z.string().optional(),
  status: runStatus,
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  sources: z.object({ streams: z.string(), users: z.string(), songs: z.string() }).optional(),
  /** Per-stage job progress while the run's jobs are kept in Redis (a week); null for older runs. */
  stages: stagesSchema.nullable(),
  report: runReportSchema.optional(),
  error: z.string().optional(),
  /** While the run is queued or running. */
  health: runHealth.optional(),
});
export type RunDetail = z.infer<typeof runDetail>;

export const runFilesQuery = z.strictObject({
  status: runFileSchema.shape.status.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(MAX_OFFSET).default(0),
});

export const runFilesResponse = z.object({
  runId: z.string(),
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
  files: z.array(runFileSchema),
});

// ---------- KPIs ----------

const calendarDate = z.iso.date({ error: 'must be a calendar date YYYY-MM-DD' });

export const kpiQuery = z.strictObject({
  date: calendarDate.describe('listen_date (UTC)'),
});

/** Days a trends view shows when the query does not say. */
export const DEFAULT_TREND_DAYS = 28;

/** A range of listen dates: by default the last DEFAULT_TREND_DAYS days up to today (UTC); at most MAX_TREND_DAYS. */
export const trendsQuery = z
  .strictObject({
    from: calendarDate.optional().describe(`first listen date (UTC); default ${DEFAULT_TREND_DAYS - 1} days before \`to\``),
    to: calendarDate.optional().describe('last listen date (UTC), included; default today'),
  })
  .transform(({ from, to }) => {
    const last = to ?? new Date().toISOString().slice(0, 10);
    return { from: from ?? addDays(last, 1 - DEFAULT_TREND_DAYS), to: last };
  })
  .refine((r) => r.from <= r.to, { message: '`to` must not be before `from`', path: ['to'] })
  .refine((r) => addDays(r.from, MAX_TREND_DAYS - 1) >= r.to, { message: `a range spans at most ${MAX_TREND_DAYS} days`, path: ['to'] });

const loadColumns = { run_id: z.string(), updated_at: z.string() };

export const genreRow = z.object({
  listen_date: z.string(),
  genre: z.string(),
  listen_count: z.number(),
  avg_track_duration_ms: z.number().nullable(),
  avg_popularity: z.number().nullable(),
  popularity_index: z.number().nullable(),
  most_popular_track_id: z.string().nullable(),
  most_popular_track_name: z.string().nullable(),
  most_popular_track_plays: z.number().nullable(),
  ...loadColumns,
});

export const hourlyRow = z.object({
  listen_date: z.string(),
  listen_hour: z.number().int(),
  unique_listeners: z.number(),
  total_plays: z.number(),
  unique_tracks: z.number(),
  track_diversity_index: z.number().nullable(),
  top_artist: z.string().nullable(),
  top_artist_plays: z.number().nullable(),
  ...loadColumns,
});

export const genreResponse = z.object({ date: z.string(), rows: z.array(genreRow) });
export const hourlyResponse = z.object({ date: z.string(), rows: z.array(hourlyRow) });

// ---------- health ----------

const check = z.object({ status: z.enum(['up', 'down']), ms: z.number(), error: z.string().optional() });
export const healthResponse = z.object({
  status: z.enum(['ok', 'down']),
  /** On 503: what is down, e.g. "down: redis, objectStore". */
  message: z.string().optional(),
  checks: z.object({ redis: check, warehouse: check, objectStore: check }),
});

// ---------- schedules ----------

export const scheduleView = z.object({
  id: z.string(),
  cron: z.string().nullable(),
  tz: z.string().nullable(),
  /** Next firing, ISO 8601 UTC; null when the scheduler has no pending job. */
  nextRunAt: z.string().nullable(),
  /** Where the current pattern came from: the environment at start-up, or PUT /schedules/:id. */
  source: z.enum(['env', 'api']).nullable(),
});
export type ScheduleView = z.infer<typeof scheduleView>;

export const schedulesResponse = z.object({ schedules: z.array(scheduleView) });
export const scheduleParams = z.strictObject({ id: z.literal('daily', { error: 'only the "daily" schedule exists' }) });
export const scheduleBody = z.strictObject({
  cron: cronSchema.describe('cron pattern, e.g. "0 2 * * *"'),
  tz: timeZoneSchema.optional().describe('IANA time zone; default: keep the current one'),
});
