/**
 * The contracts between stages: queue names, job names, and the zod schema of
 * every job's data and return value. Jobs carry references and counts, never rows.
 */
import { z } from 'zod';

export const STAGES = ['extract', 'validate', 'transform', 'kpi', 'load'] as const;
export type Stage = (typeof STAGES)[number];

/** One BullMQ queue per stage; the worker service of the same name consumes it. */
export const QUEUES = {
  extract: 'extractor',
  validate: 'validator',
  transform: 'transformer',
  kpi: 'kpi',
  load: 'loader',
} as const satisfies Record<Stage, string>;

/** Job ids are derived, never random, so a retried step cannot add a job twice. */
export const jobIds = {
  load: (runId: string) => `load-${runId}`,
  kpi: (runId: string) => `kpi-${runId}`,
  extract: (runId: string) => `extract-${runId}`,
  catalogue: (runId: string, table: CatalogueTable) => `extract-${runId}-${table}`,
  validate: (runId: string, chunkId: string) => `validate-${runId}-${chunkId}`,
  transform: (runId: string, chunkId: string) => `transform-${runId}-${chunkId}`,
  kpiDate: (runId: string, listenDate: string) => `kpi-${runId}-${listenDate}`,
  /** With the pass count: a date job retried into a different count adds a new set instead of mixing two partitions. */
  kpiPass: (runId: string, listenDate: string, pass: number, count: number) => `kpi-${runId}-${listenDate}-pass${pass}of${count}`,
};

export const RUN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;
export const runIdSchema = z.string().regex(RUN_ID_PATTERN, 'run id: lowercase letters, digits and -');

export const sourcesSchema = z.object({
  streams: z.string().min(1),
  users: z.string().min(1),
  songs: z.string().min(1),
});
export type Sources = z.infer<typeof sourcesSchema>;

export const runTriggerSchema = z.enum(['cli', 'api', 'schedule', 'demo', 'retry', 'bench', 'test', 'recompute']);
export type RunTrigger = z.infer<typeof runTriggerSchema>;

/** What every job of a run knows about the run. */
export const runContextSchema = z.object({
  runId: runIdSchema,
  trigger: runTriggerSchema,
  startedAt: z.iso.datetime(),
  sources: sourcesSchema,
  /** Folder URL of the lake (processed parts, quarantine, run temporaries). */
  lake: z.string(),
  archive: z.string(),
});
export type RunContext = z.infer<typeof runContextSchema>;

/** A byte range of one stream file, cut at a record boundary by the extractor. */
export const chunkSchema = z.object({
  /** Stable id of the source file: its key under the streams folder, made safe for object names. */
  fileId: z.string(),
  fileUrl: z.string(),
  chunkId: z.string(),
  index: z.number().int().min(0),
  count: z.number().int().min(1),
  start: z.number().int().min(0),
  end: z.number().int().min(0),
  /** Physical line number (1-based) of the first byte of the chunk. */
  firstLine: z.number().int().min(1),
  header: z.array(z.string()),
  gzip: z.boolean(),
});
export type Chunk = z.infer<typeof chunkSchema>;

export const REJECT_REASONS = ['invalid_user_id', 'invalid_track_id', 'invalid_listen_time'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
export type ReasonCounts = Partial<Record<RejectReason, number>>;

const timing = { startedAt: z.number(), finishedAt: z.number() };

export const CATALOGUE_TABLES = ['users', 'songs'] as const;
export type CatalogueTable = (typeof CATALOGUE_TABLES)[number];

/** One catalogue table into the run's snapshot: the extract job's children, one per table, so they run on two workers. */
export const catalogueJobSchema = z.object({ run: runContextSchema, table: z.enum(CATALOGUE_TABLES) });
export type CatalogueJob = z.infer<typeof catalogueJobSchema>;
export const extractRunJobSchema = z.object({ run: runContextSchema });
export type ExtractRunJob = z.infer<typeof extractRunJobSchema>;
export const extractJobSchema = z.union([catalogueJobSchema, extractRunJobSchema]);

export const catalogueResultSchema = z.object({
  ...timing,
  table: z.enum(CATALOGUE_TABLES),
  /** The table's snapshot, a run temporary. */
  url: z.string(),
  /** Distinct users, or songs (tracks), kept. */
  kept: z.number().int(),
  rejected: z.number().int(),
});
export type CatalogueResult = z.infer<typeof catalogueResultSchema>;
export const rejectedFileSchema = z.object({ file: z.string(), reasons: z.array(z.string()) });
export type RejectedFile = z.infer<typeof rejectedFileSchema>;

export const extractResultSchema = z.object({
  ...timing,
  usersUrl: z.string(),
  songsUrl: z.string(),
  users: z.number().int(),
  songs: z.number().int(),
  catalogueRejected: z.number().int(),
  files: z.array(z.object({ fileId: z.string(), url: z.string(), size: z.number(), chunks: z.number().int() })),
  /** Files rejected before any row was read (missing columns, unterminated quote, no header). */
  rejectedFiles: z.array(rejectedFileSchema),
});
export type ExtractResult = z.infer<typeof extractResultSchema>;

export const chunkJobSchema = z.object({ run: runContextSchema, chunk: chunkSchema });
export type ChunkJob = z.infer<typeof chunkJobSchema>;

export const validateResultSchema = z.object({
  ...timing,
  fileId: z.string(),
  fileUrl: z.string(),
  chunkId: z.string(),
  /** A chunk that cannot be parsed rejects its whole file. */
  parseError: z.string().optional(),
  rowsRead: z.number().int(),
  rowsValid: z.number().int(),
  rejected: z.record(z.string(), z.number().int()),
  /** Clean events of the chunk as binary column blocks (ingest's CleanEventsWriter), a run temporary. */
  validUrl: z.string(),
  quarantineUrl: z.string().optional(),
});
export type ValidateResult = z.infer<typeof validateResultSchema>;

export const lakePartSchema = z.object({ listenDate: z.string(), url: z.string(), rows: z.number().int() });
export type LakePart = z.infer<typeof lakePartSchema>;

export const transformResultSchema = z.object({
  ...timing,
  validation: validateResultSchema,
  /** Parts staged under the run's temporaries; the KPI stage publishes those of accepted files. */
  parts: z.array(lakePartSchema),
  orphanTracks: z.number().int(),
  orphanUsers: z.number().int(),
});
export type TransformResult = z.infer<typeof transformResultSchema>;

/**
 * The run's KPI job. It publishes the accepted parts, adds one date job per
 * listen date they touch, records `dates` here and waits for them (BullMQ's
 * step-job pattern); when it runs again it combines their results.
 */
export const kpiRunJobSchema = z.object({
  run: runContextSchema,
  dates: z.object({ snapshotSeq: z.number().int(), startedAt: z.number(), listenDates: z.array(z.string()) }).optional(),
});
export type KpiRunJob = z.infer<typeof kpiRunJobSchema>;

/**
 * KPIs of one listen date from all of its parts; `ours` are the parts this
 * run published. A date with more events than KPI_EVENTS_PER_PASS is split
 * into pass jobs, recorded in `passes`, and the job waits for them (the
 * step-job pattern) before it merges their partials.
 */
export const kpiDateJobSchema = z.object({
  run: runContextSchema,
  listenDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  ours: z.array(z.string()),
  passes: z.object({ count: z.number().int().min(2), rows: z.number().int(), startedAt: z.number() }).optional(),
});
export type KpiDateJob = z.infer<typeof kpiDateJobSchema>;

/**
 * One pass over a date's parts: the plays of the users `userPassOf` puts in
 * pass `pass` of `count`. `parts` are the date's parts as its date job listed
 * them, so every pass reads the same ones.
 */
export const kpiPassJobSchema = z.object({
  run: runContextSchema,
  listenDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  parts: z.array(z.string()).min(1),
  ours: z.array(z.string()),
  pass: z.number().int().min(0),
  count: z.number().int().min(2),
});
export type KpiPassJob = z.infer<typeof kpiPassJobSchema>;

const isoDate = z.iso.date({ error: 'must be a calendar date YYYY-MM-DD' });
/** Listen dates to recompute from the lake: `from` to `to` (both included); no `to`, every date from `from` on. */
export const recomputeRangeSchema = z
  .object({ from: isoDate, to: isoDate.optional(), reEnrich: z.boolean().default(false) })
  .refine((r) => !r.to || r.from <= r.to, { message: '`to` must not be before `from`', path: ['to'] });
export type RecomputeRange = z.infer<typeof recomputeRangeSchema>;

/**
 * The KPI job of a recompute run: it lists the lake's dates in the range, adds
 * one date job each (the ingest run's date jobs, with no part of its own),
 * records `dates` and waits for them, then hands the loader their rows.
 */
export const kpiRecomputeJobSchema = z.object({
  run: runContextSchema,
  recompute: recomputeRangeSchema,
  dates: kpiRunJobSchema.shape.dates,
});
export type KpiRecomputeJob = z.infer<typeof kpiRecomputeJobSchema>;

export const kpiPassResultSchema = z.object({
  ...timing,
  pass: z.number().int(),
  count: z.number().int(),
  /** The pass's counts (`KpiAccumulator.toPartial`), as JSON in the object store. */
  partialUrl: z.string(),
  /** This run's events of the pass's users that were already known. */
  duplicate: z.number().int(),
  /** Events of the pass's users. */
  rows: z.number().int(),
  /** Distinct events of the pass's users (passes split users, so they add up). */
  events: z.number().int().optional(),
});
export type KpiPassResult = z.infer<typeof kpiPassResultSchema>;

const trackInfoSchema = z.object({
  name: z.string(),
  artists: z.array(z.string()),
  genres: z.array(z.string()),
  durationMs: z.number(),
  popularity: z.number(),
});
const hours = <T extends z.ZodType>(item: T) => z.array(item).length(24);

/** A pass's partial counts, the file a pass job writes for its date job (see `KpiPartial` in @musicflow/kpi). */
export const kpiPartialSchema = z.object({
  tracks: z.array(z.object({ id: z.string(), info: trackInfoSchema.nullable() })),
  artists: z.array(z.string()),
  dates: z.array(
    z.object({
      day: z.number().int(),
      listeners: hours(z.number()),
      hourPlays: hours(z.number()),
      trackHours: z.array(z.number().int()),
      cataloguedPlays: z.array(z.number().int()),
      artistPlays: hours(z.array(z.number().int())),
    }),
  ),
});

/** The KPI queue's jobs: a pass job has `pass`, a date job `listenDate`, a recompute run's job `recompute`, an ingest run's job none. */
export const kpiJobSchema = z.union([kpiPassJobSchema, kpiDateJobSchema, kpiRecomputeJobSchema, kpiRunJobSchema]);

export const kpiDateResultSchema = z.object({
  ...timing,
  listenDate: z.string(),
  genreUrl: z.string(),
  hourlyUrl: z.string(),
  genreRows: z.number().int(),
  hourlyRows: z.number().int(),
  /** This run's events of the date that were already known. */
  duplicate: z.number().int(),
  rows: z.number().int(),
  /** Pass jobs over shares of the date's users (KPI_EVENTS_PER_PASS); 1 for a date that fits one. */
  passes: z.number().int().default(1),
  /** Distinct events of the date in the lake, as the accumulator added them: what the loader's data check expects. */
  events: z.number().int().optional(),
});
export type KpiDateResult = z.infer<typeof kpiDateResultSchema>;
export const loadJobSchema = z.object({ run: runContextSchema });

export const runStatusSchema = z.enum(['queued', 'running', 'succeeded', 'partial', 'failed']);
export type RunStatus = z.infer<typeof runStatusSchema>;

/** One data check over the loaded KPIs (see the loader): a failed one makes the run `partial`. */
export const dataCheckSchema = z.object({ name: z.string(), passed: z.boolean(), detail: z.string().optional() });
export type DataCheck = z.infer<typeof dataCheckSchema>;

export const stageTimesSchema = z.record(z.string(), z.number());

/** The run report: what `run --wait`, `GET /runs/:id` and `analytics.etl_runs` show. */
export const runReportSchema = z.object({
  runId: z.string(),
  trigger: z.string(),
  status: runStatusSchema,
  startedAt: z.string(),
  finishedAt: z.string().optional(),
  sources: sourcesSchema,
  files: z.object({
    total: z.number().int(),
    loaded: z.array(z.string()),
    rejected: z.array(rejectedFileSchema),
  }),
  rows: z.object({
    read: z.number().int(),
    valid: z.number().int(),
    rejected: z.number().int(),
    rejectedByReason: z.record(z.string(), z.number().int()),
    duplicate: z.number().int(),
    orphanTracks: z.number().int(),
    orphanUsers: z.number().int(),
  }),
  catalogue: z.object({ users: z.number().int(), songs: z.number().int(), rejected: z.number().int() }),
  dates: z.array(z.string()),
  kpiRows: z.object({ genre: z.number().int(), hourly: z.number().int() }),
  /** Wall-clock milliseconds per stage, first job start to last job end. */
  stageMs: stageTimesSchema,
  error: z.string().optional(),
  /** Data checks run after the load, over the dates it loaded. */
  checks: z.array(dataCheckSchema).optional(),
});
export type RunReport = z.infer<typeof runReportSchema>;

/** What the KPI stage hands the loader. */
export const kpiResultSchema = z.object({
  ...timing,
  report: runReportSchema,
  /** KPI rows as CSV, one file per listen date. */
  genreUrls: z.array(z.string()),
  hourlyUrls: z.array(z.string()),
  snapshotSeq: z.number().int(),
  /** Per listen date, its distinct events in the lake (the date jobs' `events`). */
  dateEvents: z.record(z.string(), z.number().int()).optional(),
});
export type KpiResult = z.infer<typeof kpiResultSchema>;

/** Parses job data at a worker's boundary with a message naming the job and field. */
export function parseJobData<T extends z.ZodType>(schema: T, data: unknown, what: string): z.output<T> {
  const result = schema.safeParse(data);
  if (!result.success) {
    const detail = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new Error(`invalid ${what} job data: ${detail}`);
  }
  return result.data;
}

/**
 * Daily runs: a BullMQ job scheduler on this queue adds one small trigger job
 * per firing (a scheduler cannot add a flow); its worker calls startRun.
 */
export const SCHEDULER_QUEUE = 'scheduler';
export const DAILY_SCHEDULER_ID = 'daily';
export const scheduleTriggerJobSchema = z.object({
  schedulerId: z.string().min(1),
  /** Sources of the scheduled runs; any left out come from the environment of the worker. */
  sources: sourcesSchema.partial().optional(),
});
export type ScheduleTriggerJob = z.infer<typeof scheduleTriggerJobSchema>;

export * from './alerts.ts';
