import { joinUrl } from '@musicflow/storage';

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` (UTC) of an epoch-millisecond instant. */
export function listenDateOf(epochMs: number): string {
  return new Date(Math.floor(epochMs / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

/**
 * A part's name derives from its source file (and chunk), so processing the
 * same file again overwrites its own parts instead of adding copies.
 */
export function partFileName(fileId: string, chunkIndex: number, chunkCount: number): string {
  return chunkCount === 1 ? `${fileId}.parquet` : `${fileId}.part-${String(chunkIndex).padStart(4, '0')}.parquet`;
}

/**
 * Users hash into USER_BUCKETS buckets: the top 12 bits of a multiplicative
 * hash, so consecutive ids spread evenly. Lake parts order their rows by
 * bucket, cut their pages at bucket boundaries and record each page's range
 * in a page index (part format 5); a KPI pass takes a contiguous range of
 * buckets and reads only the pages that overlap it. 4,096 buckets let a date
 * of 1B events be counted in passes of 250k events. Parts of formats 2-4
 * recorded the top 6 bits (64 buckets), in which these nest: bucket >>> 6.
 */
export const USER_BUCKETS = 4096;
export const userBucketOf = (userId: number) => Math.imul(userId, 0x9e3779b1) >>> 20;
/** How many of today's buckets one bucket of part formats 2-4 spans. */
export const COARSE_BUCKET_SPAN = 64;
/** The buckets `[first, end)` of pass `pass` of `passes` (at most USER_BUCKETS passes). */
export const bucketsOfPass = (pass: number, passes: number): [number, number] => [
  Math.floor((USER_BUCKETS * pass) / passes),
  Math.floor((USER_BUCKETS * (pass + 1)) / passes),
];

/** Where everything lives under LAKE_URL (SPEC 3, 3b). */
export const LAKE_LAYOUT = {
  /** Every listen date's parts, `processed/listen_date=YYYY-MM-DD/<source-file-id>.parquet` (SPEC 3b). */
  processed: (lake: string) => joinUrl(lake, 'processed/'),
  processedDate: (lake: string, listenDate: string) => joinUrl(lake, 'processed', `listen_date=${listenDate}/`),
  /** The listen date of a part's URL under `processed/`, if it is one. */
  listenDateOfPart: (url: string) => /\/listen_date=(\d{4}-\d{2}-\d{2})\/[^/]+\.parquet$/.exec(url)?.[1],
  quarantine: (lake: string, runId: string, fileId: string) => joinUrl(lake, 'quarantine', `run=${runId}`, `${fileId}.csv`),
  runTemp: (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}/`),
  /** A part written by a transform, waiting for the publish step to decide its file. */
  stagedPart: (lake: string, runId: string, listenDate: string, name: string) =>
    joinUrl(lake, 'tmp', `run=${runId}`, 'parts', `listen_date=${listenDate}`, name),
  /** The run's catalogue snapshot, one a shard of the table's catalogue jobs, written before any chunk job exists. */
  catalogueSongs: (lake: string, runId: string, shard: number) => joinUrl(lake, 'tmp', `run=${runId}`, 'catalogue', 'songs', `shard=${shard}/`),
  catalogueUsers: (lake: string, runId: string, shard: number) => joinUrl(lake, 'tmp', `run=${runId}`, 'catalogue', 'users', `shard=${shard}.bin`),
  /** The bad rows one of a table's several catalogue jobs found, gathered into the table's quarantine by the job that waits for them. */
  catalogueShardQuarantine: (lake: string, runId: string, table: string, shard: number) =>
    joinUrl(lake, 'tmp', `run=${runId}`, 'quarantine', 'catalogue', `${table}+${shard}.csv`),
  /** A part rewritten (a recompute's re-enrich, a pack without the files a run ingests again), before it is moved over the original. */
  rewrittenPart: (lake: string, runId: string, step: 're-enrich' | 'repack', partUrl: string) =>
    joinUrl(lake, 'tmp', `run=${runId}`, step, `listen_date=${LAKE_LAYOUT.listenDateOfPart(partUrl)}`, partUrl.slice(partUrl.lastIndexOf('/') + 1)),
  /** A chunk's clean events, the validator's hand-off to the transformer. */
  validEvents: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'valid', `${chunkId}.events`),
  /** A chunk's segments as the plan packed them, read by its validate job. */
  chunkSegments: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'chunks', `${chunkId}.segments.bin`),
  /** What validation found in each segment of a chunk, the validator's hand-off to the transformer. */
  segmentValidations: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'valid', `${chunkId}.validations.bin`),
  /** Every segment of a chunk (not a pack) validated and transformed, for the commit. */
  segmentOutcomes: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'outcomes', `${chunkId}.ndjson`),
  /** A pack's files as its transform decided them, in the run file list's format, for the commit. */
  packFiles: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'packs', `${chunkId}.files.bin`),
  /** A pack's files with bad rows, for the commit to gather their quarantines. */
  packQuarantines: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'packs', `${chunkId}.quarantines.ndjson`),
  /** The stream files the plan rejected before reading a row. */
  plannedOutFiles: (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'planned-out.ndjson'),
  /** A chunk's distinct user and track ids (ingest's `encodeChunkKeys`), for the run's catalogue lookup. */
  chunkKeys: (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'valid', `${chunkId}.keys`),
  /**
   * Bad rows of one segment, gathered into `quarantine(…, fileId)` by the publish step. One folder for the
   * run (a file id has no `+`): a folder per file was a mkdir per small file.
   */
  segmentQuarantine: (lake: string, runId: string, fileId: string, index: number) =>
    joinUrl(lake, 'tmp', `run=${runId}`, 'quarantine', `${fileId}+${String(index).padStart(6, '0')}.csv`),
  /** KPI rows of one date and table, as CSV for the loader. */
  kpiRows: (lake: string, runId: string, table: 'genre' | 'hourly', listenDate: string) =>
    joinUrl(lake, 'tmp', `run=${runId}`, 'kpis', `${table}-${listenDate}.csv`),
  /** A KPI date's parts with their tails (page index and footer), written by its date job for its passes. */
  kpiDateParts: (lake: string, runId: string, listenDate: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'kpis', `parts-${listenDate}.bin`),
  /** A pass job's partial counts (@musicflow/kpi's binary partial), for its date job. */
  kpiPartial: (lake: string, runId: string, listenDate: string, pass: number, count: number) =>
    joinUrl(lake, 'tmp', `run=${runId}`, 'kpis', `partial-${listenDate}-pass${pass}of${count}.kpip`),
  /** Duplicate events per source file that a date job (`pass` of `count`: a pass job) found, for the run's file list. */
  fileDuplicates: (lake: string, runId: string, listenDate: string, pass: number, count: number) =>
    joinUrl(lake, 'tmp', `run=${runId}`, 'kpis', `duplicates-${listenDate}-pass${pass}of${count}.ndjson`),
  /** The distinct headers the run found in one source, for the loader's schema drift. */
  sourceHeaders: (lake: string, runId: string, source: 'streams' | 'users' | 'songs') => joinUrl(lake, 'tmp', `run=${runId}`, 'headers', `${source}.json`),
  /** The stream headers one job read (`part`: `plan` or a chunk's id), for the plan to merge into `sourceHeaders`. */
  streamHeaderTally: (lake: string, runId: string, part: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'headers', 'streams', `${part}.json`),
  /** Every file's outcome, for the loader's analytics.etl_run_files. */
  runFiles: (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'files.bin'),
  /**
   * The part name of a pack: the small files of one chunk, each date's rows of
   * all of them in one part (`source_file` says whose each row is). Chunk ids
   * derive from their files, so the same files packed again overwrite their pack.
   * Thousands of small files are tens of parts, not tens of thousands. `+`
   * never appears in a file id (`fileIdOf`), so no file's part looks like a pack.
   */
  packPartName: (chunkId: string) => `pack+${chunkId}.parquet`,
  isPack: (name: string) => name.startsWith('pack+'),
  /** True when `name` (a part file name, not a pack) belongs to source file `fileId`. */
  isPartOf: (name: string, fileId: string) => name === `${fileId}.parquet` || name.startsWith(`${fileId}.part-`),
  /** The source file id of a part file name (not a pack). */
  fileIdOfPart: (name: string) => name.replace(/(\.part-\d+)?\.parquet$/, ''),
};

export { DAY_MS };
