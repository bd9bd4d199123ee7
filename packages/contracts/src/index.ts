/**
 * The contracts between stages: queue names, job names, and the zod schema of
 * every job's data and return value. Jobs carry references and counts, never rows.
 */
import { z } from 'zod';
import { blockedDateSchema, CHECK_SEVERITIES, schemaDriftSchema } from './checks.ts';

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
  /** The run's KPI job: an ingest run's `kpi`, a recompute run's `recompute`. */
  kpi: (runId: string) => `kpi-${runId}`,
  recompute: (runId: string) => `recompute-${runId}`,
  commit: (runId: string) => `commit-${runId}`,
  plan: (runId: string) => `extract-${runId}`,
  /** A table looked up in several jobs (`CatalogueShard`) has one a shard; in one, the table's name alone. */
  catalogue: (runId: string, table: CatalogueTable, shard: CatalogueShard = ONE_SHARD) =>
    shard.count === 1 ? `extract-${runId}-${table}` : `extract-${runId}-${table}-${shard.index}of${shard.count}`,
  validate: (runId: string, chunkId: string) => `validate-${runId}-${chunkId}`,
  transform: (runId: string, chunkId: string) => `transform-${runId}-${chunkId}`,
  kpiDate: (runId: string, listenDate: string) => `kpi-${runId}-${listenDate}`,
  /** With the pass count: a date job retried into a different count adds a new set instead of mixing two partitions. */
  kpiPass: (runId: string, listenDate: string, pass: number, count: number) => `kpi-${runId}-${listenDate}-pass${pass}of${count}`,
  /** One slice of the run's ingested files moved to the archive, by its place in the run's file list. */
  archive: (runId: string, slice: number) => `archive-${runId}-${slice}`,
  backfill: (backfillId: string) => `backfill-${backfillId}`,
  /** The recompute run of one date of a backfill. */
  backfillRun: (backfillId: string, listenDate: string) => `${backfillId}-${listenDate}`,
};

export const RUN_ID_PATTERN = /^[a-z0-9][a-z0-9-]{2,62}$/;
export const runIdSchema = z.string().regex(RUN_ID_PATTERN, 'run id: lowercase letters, digits and -');

/** Which objects under the streams prefix are stream files: CSV, plain or gzipped. */
export const STREAM_FILE = /\.csv(\.gz)?$/i;
export const isStreamFile = (url: string) => STREAM_FILE.test(url);

export const sourcesSchema = z.object({
  streams: z.string().min(1),
  users: z.string().min(1),
  songs: z.string().min(1),
});
export type Sources = z.infer<typeof sourcesSchema>;

export const runTriggerSchema = z.enum(['cli', 'api', 'schedule', 'demo', 'retry', 'bench', 'test', 'recompute', 'backfill', 'sensor']);
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
  /** An ingest run reads the stream files, a recompute run the lake (absent: ingest). Lineage names the job after it. */
  kind: z.enum(['ingest', 'recompute']).optional(),
  /** W3C trace context of the run's trace (`traceparent`, `tracestate`) when tracing is on: every job's span joins it. */
  trace: z.object({ traceparent: z.string().max(128), tracestate: z.string().max(512).optional() }).optional(),
});
export type RunContext = z.infer<typeof runContextSchema>;
export type RunKind = NonNullable<RunContext['kind']>;

/** A byte range of one stream file, cut at a record boundary by the planner. */
export const segmentSchema = z.object({
  /** Stable id of the source file: its key under the streams folder, made safe for object names. */
  fileId: z.string(),
  fileUrl: z.string(),
  /** This range's place among the file's ranges: parts are named after file and index. */
  index: z.number().int().min(0),
  count: z.number().int().min(1),
  start: z.number().int().min(0),
  end: z.number().int().min(0),
  /** Physical line number (1-based) of the first byte of the range. */
  firstLine: z.number().int().min(1),
  /** Absent: a small file the plan did not read, this segment from its first byte: its validator reads and checks the header. */
  header: z.array(z.string()).optional(),
  gzip: z.boolean(),
});
export type Segment = z.infer<typeof segmentSchema>;

/**
 * The unit of validate and transform work: a range of a big file, or several
 * small files packed together up to CHUNK_BYTES, so a day of thousands of
 * small files is not thousands of jobs. Every segment keeps its own line
 * numbers, outcome and lake parts.
 */
export const chunkSchema = z.object({
  chunkId: z.string(),
  segments: z.array(segmentSchema).min(1),
});
export type Chunk = z.infer<typeof chunkSchema>;

/**
 * A chunk as its jobs carry it: its segments are in the object store (the
 * lake's chunk-segments artifact), so a job's data has the same size whether
 * the chunk packs one file or hundreds.
 */
export const chunkRefSchema = z.object({
  chunkId: z.string(),
  /** The chunk's segments (`Chunk`), a run temporary. */
  segmentsUrl: z.string(),
  segments: z.number().int().min(1),
  bytes: z.number().int().min(0),
});
export type ChunkRef = z.infer<typeof chunkRefSchema>;

/** `invalid_track_id_characters`: a control character (NUL, tab...) or bytes that were not UTF-8 (U+FFFD once decoded). */
export const REJECT_REASONS = ['invalid_user_id', 'invalid_track_id', 'invalid_track_id_characters', 'invalid_listen_time'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
export type ReasonCounts = Partial<Record<RejectReason, number>>;

const timing = { startedAt: z.number(), finishedAt: z.number() };

export const CATALOGUE_TABLES = ['users', 'songs'] as const;
export type CatalogueTable = (typeof CATALOGUE_TABLES)[number];

/**
 * Which of a table's catalogue jobs: the run's ids are split by a hash of the id into `count` shards
 * (CATALOGUE_TRACKS_PER_JOB, CATALOGUE_USERS_PER_JOB), and job `index` looks up the ids of shard `index`.
 */
export const catalogueShardSchema = z
  .object({ index: z.number().int().nonnegative(), count: z.number().int().positive() })
  .refine((s) => s.index < s.count, { message: 'shard index must be below the shard count' });
export type CatalogueShard = z.infer<typeof catalogueShardSchema>;
export const ONE_SHARD: CatalogueShard = { index: 0, count: 1 };

export const rejectedFileSchema = z.object({ file: z.string(), reasons: z.array(z.string()) });
export type RejectedFile = z.infer<typeof rejectedFileSchema>;

/** What validation found in one segment. */
export const segmentValidationSchema = z.object({
  fileId: z.string(),
  fileUrl: z.string(),
  index: z.number().int(),
  count: z.number().int(),
  /** A segment that cannot be parsed rejects its whole file. */
  parseError: z.string().optional(),
  /** A bound the segment broke (FileBoundError's message: record length, columns, inflated size): rejects its whole file. */
  boundBroken: z.string().optional(),
  /** What rejects the file by its header, found by the validator of a file the plan did not read (empty, unreadable, a column missing...). */
  headerProblem: z.string().optional(),
  rowsRead: z.number().int(),
  rowsValid: z.number().int(),
  rejected: z.record(z.string(), z.number().int()),
  quarantineUrl: z.string().optional(),
  /** The segment's clean events: this many events of the chunk's clean events, after those of the segments before it. */
  events: z.number().int(),
});
export type SegmentValidation = z.infer<typeof segmentValidationSchema>;

export const validateResultSchema = z.object({
  kind: z.literal('validate'),
  ...timing,
  chunkId: z.string(),
  /** Clean events of the chunk as binary column blocks (ingest's CleanEventsWriter), a run temporary. */
  validUrl: z.string(),
  /** The distinct user and track ids of those events (ingest's encodeChunkKeys), a run temporary. */
  keysUrl: z.string(),
  /** What validation found in each segment (`SegmentValidation`, the lake's segment-validations artifact), a run temporary. */
  validationsUrl: z.string(),
  /** The distinct headers of the files this chunk's validator read the header of (the lake's stream-header tally), if any. */
  headersUrl: z.string().optional(),
  segments: z.number().int(),
  /** Distinct track and user ids in the chunk's keys: summed over the chunks, what sizes the catalogue jobs. */
  distinct: z.object({ tracks: z.number().int().nonnegative(), users: z.number().int().nonnegative() }),
});
export type ValidateResult = z.infer<typeof validateResultSchema>;

/**
 * One catalogue table looked up for the run: only the tracks and users its
 * clean events (their chunks' keys, `keysUrls`) or lake parts (`partUrls`)
 * name, so memory follows the run, not the catalogue.
 */
export const catalogueJobSchema = z.object({
  run: runContextSchema,
  table: z.enum(CATALOGUE_TABLES),
  /** Where the run's ids are: an ingest run's chunk keys, or the lake parts a recompute re-enriches. */
  keysUrls: z.array(z.string()).default([]),
  partUrls: z.array(z.string()).default([]),
  shard: catalogueShardSchema.default(ONE_SHARD),
});
export type CatalogueJob = z.infer<typeof catalogueJobSchema>;

/** Groups of a run's songs snapshot at most (ingest keeps a track's groups in the spare bits of a flag byte). */
export const TRACK_GROUPS = 6;

/**
 * One group of the run's songs snapshot: the rows of the tracks its chunks (or
 * parts) name, in `objects` objects `<url>0.bin`, `<url>1.bin`, ... A
 * transform reads its own group, not the songs of the whole run.
 */
export const songsSnapshotGroupSchema = z.object({ url: z.string(), objects: z.number().int().nonnegative() });
export type SongsSnapshotGroup = z.infer<typeof songsSnapshotGroupSchema>;

/** What a chunk (or part) joins: its group of each shard's songs snapshot, and every shard's users snapshot. */
export const catalogueSnapshotsSchema = z.object({ songs: z.array(songsSnapshotGroupSchema).min(1), usersUrls: z.array(z.string()).min(1) });
export type CatalogueSnapshots = z.infer<typeof catalogueSnapshotsSchema>;

export const catalogueResultSchema = z.object({
  kind: z.literal('catalogue'),
  ...timing,
  table: z.enum(CATALOGUE_TABLES),
  shard: catalogueShardSchema.default(ONE_SHARD),
  /** The shard's snapshot, a run temporary (songs: the folder of its groups). */
  url: z.string(),
  /** The shard's quarantined rows, when the table is looked up in several jobs and some were bad (gathered into the table's quarantine). */
  quarantineUrl: z.string().optional(),
  /** Songs: how many objects each snapshot group holds; the keys (or parts) asked for, in order, take groups 0, 1, ... in turn. */
  groups: z.array(z.number().int().nonnegative()).min(1).max(TRACK_GROUPS).optional(),
  /** Distinct ids of the run looked up, and how many of them the catalogue has. */
  wanted: z.number().int(),
  kept: z.number().int(),
  /** Catalogue rows quarantined. */
  rejected: z.number().int(),
  /** Songs: rows whose text was made to fit the warehouse, by `field.fix` (ingest's CatalogueFixCounts). */
  cleaned: z.record(z.string(), z.number().int()).optional(),
});
export type CatalogueResult = z.infer<typeof catalogueResultSchema>;

/** The stream files the plan rejected before any row was read, listed in the lake's planned-out-files artifact (a run temporary). */
export const plannedOutSchema = z.object({ count: z.number().int(), url: z.string() });
export type PlannedOut = z.infer<typeof plannedOutSchema>;

/** Files one retry of rejected files takes at most: their URLs travel in the plan job's data. */
export const MAX_RETRY_FILES = 10_000;

/**
 * The run's first job, in steps (BullMQ's step-job pattern: `step` records
 * the kind of children the job waits for, none at first): plan the stream files into chunks and validate them (its
 * children), look up the catalogue for the run's ids (children again), then
 * add one transform job per chunk under the KPI job.
 */
export const planJobSchema = z.object({
  run: runContextSchema,
  step: z.enum(['validate', 'catalogue']).optional(),
  startedAt: z.number().optional(),
  /** Files rejected before any row was read (missing or repeated columns, unterminated quote, no header): how many, and where they are listed. */
  plannedOut: plannedOutSchema.optional(),
  filesTotal: z.number().int().optional(),
  /** The stream headers the plan itself read (the lake's stream-header tally), merged with the validators' once they are done. */
  headersUrl: z.string().optional(),
  /** Only these stream files (URLs), in their versions listed when the run plans: a retry of a run's rejected files. */
  files: z.array(z.string()).max(MAX_RETRY_FILES).optional(),
});
export type PlanJob = z.infer<typeof planJobSchema>;

/** What the run's catalogue lookup found: the report's `catalogue`. */
const runReportCatalogue = z.object({
  users: z.number().int(),
  songs: z.number().int(),
  rejected: z.number().int(),
  /** Song rows whose name, artists or genre was cleaned or cut to fit the warehouse, by `field.fix` (docs/data-contract.md). */
  cleaned: z.record(z.string(), z.number().int()).optional(),
});

export const planResultSchema = z.object({
  kind: z.literal('plan'),
  ...timing,
  filesTotal: z.number().int(),
  chunks: z.number().int(),
  plannedOut: plannedOutSchema,
  catalogue: runReportCatalogue,
});
export type PlanResult = z.infer<typeof planResultSchema>;

export const validateJobSchema = z.object({ run: runContextSchema, chunk: chunkRefSchema });
export type ValidateJob = z.infer<typeof validateJobSchema>;

export const transformJobSchema = z.object({
  run: runContextSchema,
  validation: validateResultSchema,
  catalogue: catalogueSnapshotsSchema,
});
export type TransformJob = z.infer<typeof transformJobSchema>;

export const lakePartSchema = z.object({ listenDate: z.string(), url: z.string(), rows: z.number().int() });
export type LakePart = z.infer<typeof lakePartSchema>;

/** One segment validated and transformed (a big file's range, or a file of a chunk that is not a pack). */
export const segmentOutcomeSchema = z.object({
  validation: segmentValidationSchema,
  /** Parts staged under the run's temporaries; the commit publishes those of accepted files. */
  parts: z.array(lakePartSchema),
  orphanTracks: z.number().int(),
  orphanUsers: z.number().int(),
});
export type SegmentOutcome = z.infer<typeof segmentOutcomeSchema>;

/** A report names at most this many rejected files; every file's outcome is in analytics.etl_run_files. */
export const REPORT_REJECTED_FILES = 20;

/** The run report's counts of its files, added up one file at a time (`RunTally` in @musicflow/lake). */
export const runFilesTallySchema = z.object({
  filesLoaded: z.number().int(),
  filesRejected: z.number().int(),
  rowsRead: z.number().int(),
  rowsValid: z.number().int(),
  orphanTracks: z.number().int(),
  orphanUsers: z.number().int(),
  rejectedByReason: z.record(z.string(), z.number().int()),
  /** The first rejected files by name, sorted, at most REPORT_REJECTED_FILES. */
  firstRejected: z.array(rejectedFileSchema).max(REPORT_REJECTED_FILES),
});
export type RunFilesTally = z.infer<typeof runFilesTallySchema>;

/** A stream file with bad rows: its segments' quarantines (URLs in segment order) and how many segments it has. */
export const fileQuarantineSchema = z.object({ fileId: z.string(), segments: z.number().int(), urls: z.array(z.string()) });
export type FileQuarantine = z.infer<typeof fileQuarantineSchema>;

/**
 * A pack of small files transformed: each of its files is whole, so its
 * transform decides them (SPEC 3) and writes them as the run's file list has
 * them (the lake's pack-files artifact). The commit appends those lines to the
 * list as bytes and adds `tally` to the report's, instead of reading a line a
 * file: a day of 100k small files is 8 packs.
 */
export const packFilesSchema = z.object({
  /** The pack's files, one `RunFile` line each. */
  filesUrl: z.string(),
  /** Its files with bad rows (`FileQuarantine` lines), when any has. */
  quarantinesUrl: z.string().optional(),
  tally: runFilesTallySchema,
  /** The pack's staged parts, one a listen date: its accepted files' rows. */
  parts: z.array(lakePartSchema),
});
export type PackFiles = z.infer<typeof packFilesSchema>;

/**
 * A chunk transformed. Its segments' outcomes (`SegmentOutcome`: counts,
 * reasons, staged parts) are in the lake's segment-outcomes artifact, or, for
 * a pack, its files decided in the pack-files artifact: the result has the
 * same size for a chunk of one file or of thousands.
 */
export const transformResultSchema = z
  .object({
    kind: z.literal('transform'),
    ...timing,
    /** When the chunk's validation started and ended. */
    validation: z.object(timing),
    chunkId: z.string(),
    outcomesUrl: z.string().optional(),
    pack: packFilesSchema.optional(),
    segments: z.number().int(),
  })
  .refine((r) => (r.outcomesUrl === undefined) !== (r.pack === undefined), { message: 'a transform result has outcomesUrl or pack, one of them' });
export type TransformResult = z.infer<typeof transformResultSchema>;

/**
 * The KPI job of an ingest run, in steps (the step-job pattern): once the
 * plan and every transform are done it adds the run's `commit` and waits for
 * it, then adds one date job per listen date the commit published, records
 * `dates` and waits for them; when it runs again it combines their results
 * for the loader.
 */
export const kpiJobSchema = z.object({
  run: runContextSchema,
  /** The step (the children it waits for): none at first, `commit`, then `kpi-date` with `dates` recorded. */
  step: z.enum(['commit', 'kpi-date']).optional(),
  /** When the KPI stage started (the commit included). */
  startedAt: z.number().optional(),
  dates: z.object({ snapshotSeq: z.number().int(), startedAt: z.number(), listenDates: z.array(z.string()) }).optional(),
});
export type KpiJob = z.infer<typeof kpiJobSchema>;

/**
 * The run's lake commit, on the transform queue: decides each file from its
 * KPI job's transform results, gathers the quarantine of every file, and moves
 * the accepted files' staged parts into `processed/` (rewriting packs that
 * held those files' earlier rows). Nothing in the lake changes before it, so
 * a run cancelled before it leaves the lake as it was.
 */
export const commitJobSchema = z.object({ run: runContextSchema });
export type CommitJob = z.infer<typeof commitJobSchema>;

export const commitResultSchema = z.object({
  kind: z.literal('commit'),
  ...timing,
  /** The accepted files' parts, as published under `processed/`. */
  parts: z.array(lakePartSchema),
  /** The run's file list it wrote as it decided the files (duplicates joined by the load), and the report's counts of it. */
  files: z.object({ url: z.string(), tally: runFilesTallySchema }),
});
export type CommitResult = z.infer<typeof commitResultSchema>;

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
  /** The step (the children it waits for): none at first, then `kpi-pass` with `passes` recorded. */
  step: z.enum(['kpi-pass']).optional(),
  passes: z.object({ count: z.number().int().min(2), rows: z.number().int(), startedAt: z.number() }).optional(),
});
export type KpiDateJob = z.infer<typeof kpiDateJobSchema>;

/**
 * One pass over a date's parts: the plays of the users whose buckets
 * (`bucketsOfPass` in @musicflow/lake) are pass `pass`'s of `count`. The
 * parts are those its date job listed (the lake's date parts artifact), so
 * every pass reads the same ones.
 */
export const kpiPassJobSchema = z.object({
  run: runContextSchema,
  listenDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  pass: z.number().int().min(0),
  count: z.number().int().min(2),
  /** Track shards of the partial (`KpiAccumulator.encodePartial`): every pass of a date writes the same number. */
  shards: z.number().int().min(1).max(65_536),
});
export type KpiPassJob = z.infer<typeof kpiPassJobSchema>;

/** A source file's duplicate events in one date or pass: a line of the file duplicates artifact. */
export const fileDuplicatesSchema = z.object({ fileId: z.string(), duplicate: z.number().int().min(1) });
export type FileDuplicates = z.infer<typeof fileDuplicatesSchema>;
/** Where a date or pass job wrote its duplicate events per source file, and how many files it lists (none: no artifact). */
const fileDuplicatesArtifact = z.object({ url: z.string(), files: z.number().int().min(1) });
export type FileDuplicatesArtifact = z.infer<typeof fileDuplicatesArtifact>;

const isoDate = z.iso.date({ error: 'must be a calendar date YYYY-MM-DD' });
/** Dates one recompute takes at most when they are listed one by one. */
export const MAX_RECOMPUTE_DATES = 3660;
/**
 * Listen dates to recompute from the lake: `from` to `to` (both included); no `to`, every date from `from` on;
 * with `dates`, only those of them (a retry of the dates whose load failed).
 */
export const recomputeRangeSchema = z
  .object({
    from: isoDate,
    to: isoDate.optional(),
    reEnrich: z.boolean().default(false),
    dates: z.array(isoDate).min(1).max(MAX_RECOMPUTE_DATES).optional(),
  })
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
  /** The step (the children it waits for): none at first, `catalogue` (re-enrich only), then `kpi-date` with `dates` recorded. */
  step: z.enum(['catalogue', 'kpi-date']).optional(),
  /** With reEnrich: the catalogue jobs (its children) were added for these parts. */
  catalogue: z.object({ partUrls: z.array(z.string()) }).optional(),
  dates: kpiJobSchema.shape.dates,
});
export type KpiRecomputeJob = z.infer<typeof kpiRecomputeJobSchema>;

export const kpiPassResultSchema = z.object({
  kind: z.literal('kpi-pass'),
  ...timing,
  pass: z.number().int(),
  count: z.number().int(),
  /** The pass's counts (`KpiAccumulator.encodePartial`), a binary partial in the object store. */
  partialUrl: z.string(),
  /** This run's events of the pass's users that were already known. */
  duplicate: z.number().int(),
  duplicateFiles: fileDuplicatesArtifact.optional(),
  /** Events of the pass's users. */
  rows: z.number().int(),
  /** Events read to find them (a pass skips row groups of other users). */
  rowsRead: z.number().int(),
  /** Distinct events of the pass's users (passes split users, so they add up). */
  events: z.number().int().optional(),
});
export type KpiPassResult = z.infer<typeof kpiPassResultSchema>;

export const kpiDateResultSchema = z.object({
  kind: z.literal('kpi-date'),
  ...timing,
  listenDate: z.string(),
  genreUrl: z.string(),
  hourlyUrl: z.string(),
  genreRows: z.number().int(),
  hourlyRows: z.number().int(),
  /** This run's events of the date that were already known. */
  duplicate: z.number().int(),
  /** The date's (or its passes') duplicates per file: the load joins them to the run's file list. */
  duplicateFiles: z.array(fileDuplicatesArtifact).default([]),
  rows: z.number().int(),
  /** Pass jobs over shares of the date's users (KPI_EVENTS_PER_PASS); 1 for a date that fits one. */
  passes: z.number().int().default(1),
  /** Distinct events of the date in the lake, as the accumulator added them: what the loader's data check expects. */
  events: z.number().int().optional(),
});
export type KpiDateResult = z.infer<typeof kpiDateResultSchema>;
/**
 * Which of a range's lake dates a backfill takes: `missing` (no KPI rows),
 * `stale` (missing, or a lake part written after the date was last loaded), `all`.
 */
export const BACKFILL_ONLY = ['missing', 'stale', 'all'] as const;
export const backfillSpecSchema = z
  .object({
    from: isoDate,
    to: isoDate,
    only: z.enum(BACKFILL_ONLY).default('stale'),
    /** Dates recomputed at once: each is a recompute run of its own. Coerced: a query string gives it as text. */
    concurrency: z.coerce.number().int().min(1).max(16).default(2),
  })
  .refine((r) => r.from <= r.to, { message: '`to` must not be before `from`', path: ['to'] })
  .refine((r) => Date.parse(r.to) - Date.parse(r.from) < MAX_RECOMPUTE_DATES * 86_400_000, {
    message: `a backfill spans at most ${MAX_RECOMPUTE_DATES} days`,
    path: ['to'],
  });
export type BackfillSpec = z.infer<typeof backfillSpecSchema>;

/**
 * A backfill's driver, in steps on the loader queue: it keeps at most
 * `concurrency` recompute runs of its dates in flight, as its children,
 * starting the next date as one ends, until every date is done or the
 * backfill is cancelled.
 */
export const backfillJobSchema = z.object({
  backfillId: runIdSchema,
  spec: backfillSpecSchema,
  createdAt: z.iso.datetime(),
  /** The dates the plan selected, in order. */
  dates: z.array(isoDate).max(MAX_RECOMPUTE_DATES),
  /** How many of `dates` have had their run started. */
  started: z.number().int().min(0).default(0),
  /** The backfill this one resumes: it takes the dates that one did not finish. */
  resumeOf: runIdSchema.optional(),
});
export type BackfillJob = z.infer<typeof backfillJobSchema>;

/**
 * The run's last job, in steps (the step-job pattern): it loads the KPI rows and records the run, adds one
 * `archive` job per slice of the ingested files and waits for them (`step: 'archive'`), then records the
 * run again with the archive's time, alerts and deletes the temporaries: a run ends once its files are moved.
 */
export const loadJobSchema = z.object({
  run: runContextSchema,
  step: z.enum(['archive']).optional(),
  /** When the load began, and how many archive jobs it added. */
  archive: z.object({ loadStartedAt: z.number(), slices: z.number().int().min(1) }).optional(),
});
export type LoadJob = z.infer<typeof loadJobSchema>;

/**
 * Moves one slice of a run's ingested files to the archive: the lines of the run's file list (the lake's
 * run-files artifact) in bytes `start` to `end`, `loaded` of them loaded. A retry moves what is still there:
 * a file moved by an earlier attempt is counted, not moved again.
 */
export const archiveJobSchema = z.object({
  run: runContextSchema,
  filesUrl: z.string(),
  slice: z.number().int().min(0),
  start: z.number().int().min(0),
  end: z.number().int().min(0),
  loaded: z.number().int().min(1),
});
export type ArchiveJob = z.infer<typeof archiveJobSchema>;

export const archiveResultSchema = z.object({
  kind: z.literal('archive'),
  ...timing,
  slice: z.number().int(),
  moved: z.number().int(),
  /** Files an earlier attempt of the slice had moved already. */
  movedBefore: z.number().int(),
});
export type ArchiveResult = z.infer<typeof archiveResultSchema>;

/** `cancelled`: stopped on request before it changed the lake or the warehouse. */
export const runStatusSchema = z.enum(['queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled']);
export type RunStatus = z.infer<typeof runStatusSchema>;

/**
 * One data check over the dates a load wrote, all dates together (analytics.etl_checks has one row per date):
 * a failed `error` one makes the run `partial`, a failed `warn` one is reported and alerted only.
 */
export const dataCheckSchema = z.object({
  name: z.string(),
  passed: z.boolean(),
  detail: z.string().optional(),
  severity: z.enum(CHECK_SEVERITIES).optional(),
});
export type DataCheck = z.infer<typeof dataCheckSchema>;

export const stageTimesSchema = z.record(z.string(), z.number());

/** Which code and settings made a run's numbers: analytics.etl_runs' version columns, joinable to KPI rows by run_id. */
export const runBuildSchema = z.object({
  /** musicflow's version (the root package.json). */
  version: z.string(),
  /** The git commit it was built from (`-dirty`: with uncommitted changes); absent when unknown. */
  commit: z.string().optional(),
  /** Hash of `settings`: two runs with one hash counted events under the same rules. */
  settingsHash: z.string(),
  /** The KPI-relevant settings themselves (KPI_SETTINGS in @musicflow/config), so two hashes can be told apart. */
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
});
export type RunBuild = z.infer<typeof runBuildSchema>;

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
    loaded: z.number().int(),
    rejected: z.number().int(),
    /** The first REPORT_REJECTED_FILES rejected files, by name; `GET /runs/:id/files` lists them all. */
    firstRejected: z.array(rejectedFileSchema),
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
  catalogue: runReportCatalogue,
  dates: z.array(z.string()),
  kpiRows: z.object({ genre: z.number().int(), hourly: z.number().int() }),
  /** Wall-clock milliseconds per stage, first job start to last job end. */
  stageMs: stageTimesSchema,
  error: z.string().optional(),
  /** Data checks run in the load, over the dates it loaded. */
  checks: z.array(dataCheckSchema).optional(),
  /** The loader's build and KPI settings, stamped when the run is recorded. */
  build: runBuildSchema.optional(),
  /** The run's OpenTelemetry trace id, when it was traced: search for it in Jaeger or Tempo. */
  traceId: z.string().optional(),
  /** Dates left out of the load: an error-level check failed on them and CHECKS_BLOCK_ON_ERROR is on. */
  blockedDates: z.array(blockedDateSchema).optional(),
  /** Columns of the run's sources that changed since the previous run's. */
  schemaDrift: z.array(schemaDriftSchema).optional(),
  /** Parts of the report were cut so its record fits analytics.etl_runs (GET /runs/:id/files still lists every file). */
  truncated: z.boolean().optional(),
});
export type RunReport = z.infer<typeof runReportSchema>;

/** The trace id of a traced run (the second field of its W3C `traceparent`). */
export const runTraceId = (run: RunContext): { traceId?: string } => (run.trace ? { traceId: run.trace.traceparent.split('-')[1] } : {});

/** A report of `run` that counted nothing yet: what a failed run records, and what a recompute fills in. */
export const emptyRunReport = (run: RunContext, status: RunReport['status']): RunReport => ({
  ...runTraceId(run),
  runId: run.runId,
  trigger: run.trigger,
  status,
  startedAt: run.startedAt,
  sources: run.sources,
  files: { total: 0, loaded: 0, rejected: 0, firstRejected: [] },
  rows: { read: 0, valid: 0, rejected: 0, rejectedByReason: {}, duplicate: 0, orphanTracks: 0, orphanUsers: 0 },
  catalogue: { users: 0, songs: 0, rejected: 0 },
  dates: [],
  kpiRows: { genre: 0, hourly: 0 },
  stageMs: {},
});

/** One stream file's outcome in one run: a row of analytics.etl_run_files. */
export const runFileSchema = z.object({
  file: z.string(),
  status: z.enum(['loaded', 'rejected']),
  rowsRead: z.number().int(),
  rowsValid: z.number().int(),
  rowsRejected: z.number().int(),
  duplicate: z.number().int(),
  reason: z.string().optional(),
  /** The file's id in the lake (its rows' `source_file`), by which its duplicate events are joined; none for a file the plan rejected. */
  fileId: z.string().optional(),
});
export type RunFile = z.infer<typeof runFileSchema>;

/** What a run's KPI job (`kpi` or `recompute`) hands the loader. */
export const kpiResultSchema = z.object({
  kind: z.literal('kpi'),
  ...timing,
  report: runReportSchema,
  /** Every file's outcome (`RunFile`), one JSON object per line, a run temporary: the commit's, without duplicates. */
  filesUrl: z.string(),
  /** The date and pass jobs' duplicate events per file, which the load joins to the file list. */
  duplicateFiles: z.array(fileDuplicatesArtifact).default([]),
  /** KPI rows as CSV, one file per listen date. */
  genreUrls: z.array(z.string()),
  hourlyUrls: z.array(z.string()),
  snapshotSeq: z.number().int(),
  /** Per listen date, its distinct events in the lake (the date jobs' `events`). */
  dateEvents: z.record(z.string(), z.number().int()).optional(),
});
export type KpiResult = z.infer<typeof kpiResultSchema>;

/**
 * Every kind of job, by name: the stage whose queue carries it and the schema
 * of its data. A job's BullMQ name is its kind; workers pick the schema and
 * the processor by name, and progress counts each kind under its stage.
 */
export const JOB_KINDS = {
  plan: { stage: 'extract', data: planJobSchema },
  catalogue: { stage: 'extract', data: catalogueJobSchema },
  validate: { stage: 'validate', data: validateJobSchema },
  transform: { stage: 'transform', data: transformJobSchema },
  commit: { stage: 'transform', data: commitJobSchema },
  kpi: { stage: 'kpi', data: kpiJobSchema },
  'kpi-date': { stage: 'kpi', data: kpiDateJobSchema },
  'kpi-pass': { stage: 'kpi', data: kpiPassJobSchema },
  recompute: { stage: 'kpi', data: kpiRecomputeJobSchema },
  load: { stage: 'load', data: loadJobSchema },
  archive: { stage: 'load', data: archiveJobSchema },
  backfill: { stage: 'load', data: backfillJobSchema },
} as const satisfies Record<string, { stage: Stage; data: z.ZodType }>;
export type JobKind = keyof typeof JOB_KINDS;
export type JobData<K extends JobKind> = z.output<(typeof JOB_KINDS)[K]['data']>;
export const JOB_KIND_NAMES = Object.keys(JOB_KINDS) as JobKind[];
export const isJobKind = (name: string): name is JobKind => Object.hasOwn(JOB_KINDS, name);
/** The kinds a stage's queue carries. */
export const kindsOf = (stage: Stage) => JOB_KIND_NAMES.filter((k) => JOB_KINDS[k].stage === stage);

/**
 * The flow's shape: the kinds a job of each kind adds as its children, which
 * run before it. A run starts as load ← kpi ← plan (a recompute as
 * load ← recompute); `plan` adds validate and catalogue jobs under itself,
 * then the transform jobs under `kpi`; `kpi` then adds the run's `commit`
 * (the lake commit), then one kpi-date job per listen date, a big date its
 * kpi-pass jobs; `recompute` adds catalogue jobs (re-enrich) and then kpi-date
 * jobs; `load`, once the run is loaded, adds one `archive` job per slice of
 * its ingested files (ARCHIVE_FILES_PER_JOB). Adding any other child is a
 * bug: `addChildJobs` refuses it.
 */
export const FLOW_CHILDREN = {
  load: ['kpi', 'recompute', 'archive'],
  kpi: ['plan', 'transform', 'commit', 'kpi-date'],
  plan: ['validate', 'catalogue'],
  recompute: ['catalogue', 'kpi-date'],
  'kpi-date': ['kpi-pass'],
  validate: [],
  catalogue: [],
  transform: [],
  commit: [],
  'kpi-pass': [],
  archive: [],
  // A backfill waits for the load of each date's recompute run (`startRecompute` with its driver as parent).
  backfill: ['load'],
} as const satisfies Record<JobKind, readonly JobKind[]>;

/** A child's return value, told apart by its `kind` (a child's key in Redis is BullMQ's business). */
export const childResultSchema = z.discriminatedUnion('kind', [
  validateResultSchema,
  catalogueResultSchema,
  planResultSchema,
  transformResultSchema,
  kpiDateResultSchema,
  kpiPassResultSchema,
  commitResultSchema,
  kpiResultSchema,
  archiveResultSchema,
]);
export type ChildResult = z.infer<typeof childResultSchema>;

/** The children's results of one kind, parsed. */
export function childResults<K extends ChildResult['kind']>(values: Record<string, unknown>, kind: K): Extract<ChildResult, { kind: K }>[] {
  return Object.values(values)
    .map((v) => childResultSchema.parse(v))
    .filter((v): v is Extract<ChildResult, { kind: K }> => v.kind === kind);
}

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
export * from './checks.ts';
