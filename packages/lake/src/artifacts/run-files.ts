import {
  REPORT_REJECTED_FILES,
  type FileDuplicatesArtifact,
  type PackFiles,
  type RejectedFile,
  type RunContext,
  type RunFile,
  type RunFilesTally,
} from '@musicflow/contracts';
import type { FileOutcome } from '@musicflow/ingest';
import { hashBytes, shardOfHash } from '@musicflow/kpi';
import type { ByteRange, ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readFileDuplicates } from './file-duplicates.ts';
import { readPlannedOutFiles } from './planned-out-files.ts';
import { readRecordBatches, recordSpans, RecordWriter, type RecordDecoder, type RecordEncoder } from './records.ts';

/**
 * Every stream file's outcome in the run, for the loader's analytics.etl_run_files and the archive's slices.
 * The commit writes it as it decides the files, each with duplicate 0; the load joins the date and pass jobs'
 * duplicates per file (`runFilesWithDuplicates`) as it writes the rows.
 */
export const RUN_FILES: RunArtifact = {
  path: 'tmp/run=<run>/files.bin',
  format:
    'binary records (records.ts), a RunFile (@musicflow/contracts) each: u8 status (0 loaded, 1 rejected); f64 rows read, valid, rejected, duplicate; text file URL; optional text reason, file id',
  version: 3,
  writers: ['commit', 'recompute'],
  readers: ['load', 'archive'],
};

/**
 * The report's counts, added up one file at a time: what a run of any number
 * of files holds is these sums and the first REPORT_REJECTED_FILES rejected
 * files by name.
 */
export class RunTally implements RunFilesTally {
  filesLoaded = 0;
  filesRejected = 0;
  rowsRead = 0;
  rowsValid = 0;
  orphanTracks = 0;
  orphanUsers = 0;
  readonly rejectedByReason: Record<string, number> = {};
  readonly firstRejected: RejectedFile[] = [];

  /** A file the plan rejected before reading a row. */
  plannedOut(file: RejectedFile): void {
    this.rejected(file);
  }

  /** A file whose segments were read, decided. */
  decided(file: FileOutcome): void {
    for (const s of file.segments) {
      this.rowsRead += s.validation.rowsRead;
      for (const [reason, n] of Object.entries(s.validation.rejected)) this.rejectedByReason[reason] = (this.rejectedByReason[reason] ?? 0) + n;
    }
    if (file.rejectedReasons.length) return this.rejected({ file: file.url, reasons: file.rejectedReasons });
    this.filesLoaded++;
    for (const s of file.segments) {
      this.rowsValid += s.validation.rowsValid;
      this.orphanTracks += s.orphanTracks;
      this.orphanUsers += s.orphanUsers;
    }
  }

  /** Another tally's counts (a pack's, its transform's). */
  add(other: RunFilesTally): void {
    this.filesLoaded += other.filesLoaded;
    this.filesRejected += other.filesRejected;
    this.rowsRead += other.rowsRead;
    this.rowsValid += other.rowsValid;
    this.orphanTracks += other.orphanTracks;
    this.orphanUsers += other.orphanUsers;
    for (const [reason, n] of Object.entries(other.rejectedByReason)) this.rejectedByReason[reason] = (this.rejectedByReason[reason] ?? 0) + n;
    for (const file of other.firstRejected) this.named(file);
  }

  private rejected(file: RejectedFile): void {
    this.filesRejected++;
    this.named(file);
  }

  /** Keeps `file` among the first REPORT_REJECTED_FILES rejected files by name. */
  private named(file: RejectedFile): void {
    const first = this.firstRejected;
    if (first.length === REPORT_REJECTED_FILES && first.at(-1)!.file.localeCompare(file.file) <= 0) return;
    const at = first.findIndex((f) => file.file.localeCompare(f.file) < 0);
    first.splice(at === -1 ? first.length : at, 0, file);
    if (first.length > REPORT_REJECTED_FILES) first.pop();
  }
}

/** A file the plan rejected, as the run's file list has it. */
const plannedOutRunFile = (f: RejectedFile): RunFile => ({
  file: f.file,
  status: 'rejected',
  rowsRead: 0,
  rowsValid: 0,
  rowsRejected: 0,
  duplicate: 0,
  reason: f.reasons.join('; '),
});

/** A decided file, as the run's file list has it before its duplicates are joined. */
export function decidedRunFile(f: FileOutcome): RunFile {
  let read = 0;
  let valid = 0;
  for (const s of f.segments) {
    read += s.validation.rowsRead;
    valid += s.validation.rowsValid;
  }
  const loaded = f.rejectedReasons.length === 0;
  return {
    file: f.url,
    status: loaded ? 'loaded' : 'rejected',
    rowsRead: read,
    rowsValid: valid,
    rowsRejected: read - valid,
    duplicate: 0,
    reason: loaded ? undefined : f.rejectedReasons.join('; '),
    fileId: f.fileId,
  };
}

/**
 * The run's file list written as its files are decided: the plan's rejected files first, then each batch of
 * decided files in the order given (chunk order), each also added to `tally`. A batch is one piece of the upload.
 */
export class RunFilesWriter {
  readonly tally = new RunTally();
  private readonly records: RecordWriter;

  constructor(store: ObjectStore, run: RunContext) {
    this.records = new RecordWriter(store, LAKE_LAYOUT.runFiles(run.lake, run.runId));
  }

  /** The files of the plan's planned-out-files artifact at `url`. */
  async addPlannedOut(store: ObjectStore, url: string): Promise<void> {
    for await (const files of readPlannedOutFiles(store, url)) {
      for (const file of files) this.tally.plannedOut(file);
      await this.add(files.map(plannedOutRunFile));
    }
  }

  async addDecided(files: readonly FileOutcome[]): Promise<void> {
    for (const file of files) this.tally.decided(file);
    await this.add(files.map(decidedRunFile));
  }

  /** A pack's files, decided by its transform: their records appended as bytes, their tally added. */
  async addPack(store: ObjectStore, pack: Pick<PackFiles, 'filesUrl' | 'tally'>): Promise<void> {
    this.tally.add(pack.tally);
    await this.records.append(await store.read(pack.filesUrl));
  }

  /** Files whose outcome is known already (a test's, or a recompute's none), not added to the tally. */
  async add(files: readonly RunFile[]): Promise<void> {
    for (const file of files) encodeRunFile(this.records.encoder, file);
    await this.records.flush();
  }

  /** Waits for the list to be whole; returns its URL and the tally. */
  async end(): Promise<{ url: string; tally: RunFilesTally }> {
    await this.records.end();
    return { url: this.records.url, tally: this.tally };
  }

  abort(err: Error): void {
    this.records.abort(err);
  }
}

/** Writes a run's file list given whole, in batches (a recompute's: none); returns its URL. */
export async function writeRunFiles(store: ObjectStore, run: RunContext, files: Iterable<RunFile[]> | AsyncIterable<RunFile[]>): Promise<string> {
  const writer = new RunFilesWriter(store, run);
  try {
    for await (const batch of files) await writer.add(batch);
  } catch (err) {
    writer.abort(err as Error);
    throw err;
  }
  return (await writer.end()).url;
}

/** `status` as the record's first byte, which the load's slicing reads alone. */
const STATUS_CODES: readonly RunFile['status'][] = ['loaded', 'rejected'];
const LOADED_CODE = STATUS_CODES.indexOf('loaded');

/** A file's record in the run's file list (and a pack's). */
export function encodeRunFile(out: RecordEncoder, file: RunFile): void {
  out.begin();
  out.u8(STATUS_CODES.indexOf(file.status));
  out.f64(file.rowsRead);
  out.f64(file.rowsValid);
  out.f64(file.rowsRejected);
  out.f64(file.duplicate);
  out.text(file.file);
  out.optionalText(file.reason);
  out.optionalText(file.fileId);
  out.end();
}

function decodeRunFile(d: RecordDecoder): RunFile {
  const code = d.u8();
  const status = STATUS_CODES[code] ?? d.refuse(`status ${code}`);
  const rowsRead = d.count('rows read');
  const rowsValid = d.count('rows valid');
  const rowsRejected = d.count('rows rejected');
  const duplicate = d.count('duplicate events');
  const file = d.text();
  const reason = d.optionalText();
  const fileId = d.optionalText();
  if (rowsValid + rowsRejected !== rowsRead) d.refuse(`${rowsValid} valid and ${rowsRejected} rejected of ${rowsRead} rows`);
  return { file, status, rowsRead, rowsValid, rowsRejected, duplicate, reason, fileId };
}

/** The file outcomes at `url` (`writeRunFiles`), or in a range of it cut at record ends (a slice), in batches. */
export const readRunFiles = (store: ObjectStore, url: string, range?: ByteRange) => readRecordBatches(store, url, decodeRunFile, range);

/**
 * The file list at `url` with each loaded file's duplicate events (summed over the date and pass jobs'
 * artifacts) joined, in batches. The duplicates are held for about `held` files at a time: past that the
 * files are given in shares by a hash of their id (as partials shard a track), the list read once a share.
 * Most runs have none, or a few: the list read once, in its order.
 */
export async function* runFilesWithDuplicates(
  store: ObjectStore,
  url: string,
  duplicateFiles: readonly FileDuplicatesArtifact[],
  held: number,
): AsyncGenerator<RunFile[]> {
  if (!duplicateFiles.length) return yield* readRunFiles(store, url);
  // A file in several dates or passes is in several artifacts: an upper bound of the files.
  const shares = Math.max(1, Math.ceil(duplicateFiles.reduce((n, a) => n + a.files, 0) / held));
  // A file the plan rejected has no id: it is given with the first share.
  const inShare = (fileId: string | undefined, share: number) => shares === 1 || (fileId === undefined ? share === 0 : shareOf(fileId, shares) === share);
  for (let share = 0; share < shares; share++) {
    const duplicates = await readFileDuplicates(store, duplicateFiles, (fileId) => inShare(fileId, share));
    for await (const files of readRunFiles(store, url)) {
      const ours = shares === 1 ? files : files.filter((f) => inShare(f.fileId, share));
      for (const file of ours) if (file.status === 'loaded' && file.fileId !== undefined) file.duplicate = duplicates.get(file.fileId) ?? 0;
      if (ours.length) yield ours;
    }
  }
}

/**
 * The ids of the files loaded in the list at `url`: the commit asks for them only when a date it publishes
 * holds earlier parts (a file ingested again), so a run of new files never holds a set of every file.
 */
export async function loadedFileIds(store: ObjectStore, url: string): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const files of readRunFiles(store, url)) for (const file of files) if (file.status === 'loaded' && file.fileId !== undefined) ids.add(file.fileId);
  return ids;
}

/** A file id's share of `shares`, as partials shard a track by its id's bytes. */
function shareOf(fileId: string, shares: number): number {
  const bytes = Buffer.from(fileId);
  return shardOfHash(hashBytes(bytes, 0, bytes.length), shares);
}

/** A byte range of the file list holding `loaded` loaded files: one archive job's share. */
export interface LoadedFilesSlice extends ByteRange {
  loaded: number;
}

/**
 * The file list at `url` cut at record ends into ranges of `loadedPerSlice` loaded files each (the last may hold
 * fewer), read once, each record's status byte alone read (a million files' list at once). Each archive job
 * decodes its slice, and refuses it if the count differs.
 */
export async function* loadedFilesSlices(store: ObjectStore, url: string, loadedPerSlice: number): AsyncGenerator<LoadedFilesSlice> {
  let start = 0;
  let end = 0;
  let loaded = 0;
  for await (const spans of recordSpans(store, url)) {
    const slices: LoadedFilesSlice[] = [];
    for (const span of spans) {
      end = span.end;
      if (span.body[0] !== LOADED_CODE) continue;
      if (++loaded < loadedPerSlice) continue;
      slices.push({ start, end, loaded });
      [start, loaded] = [end, 0];
    }
    yield* slices;
  }
  if (loaded) yield { start, end, loaded };
}
