import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import type { RunContext, Segment, SegmentValidation, ValidateJob, ValidateResult } from '@musicflow/contracts';
import {
  CsvFileError,
  csvByteBatches,
  FileBoundError,
  fileBoundsOf,
  reasonText,
  type FileBounds,
  recordFields,
  scanStreamBuffer,
  segmentsReadAhead,
  STREAM_COLUMNS,
  StreamRowChecker,
  UNREADABLE_REASON,
  WholeCsvReader,
  type CsvByteBatch,
} from '@musicflow/ingest';
import {
  createCleanEvents,
  HeaderTally,
  type QuarantineWriter,
  readChunkSegments,
  segmentQuarantineOf,
  writeChunkKeys,
  writeSegmentValidations,
  writeStreamHeaderTally,
  type CleanEventsWriter,
} from '@musicflow/lake';
import { isPermissionError, WritesInFlight, type ObjectStore } from '@musicflow/storage';
import { CancelWatch, RowProgress, type ServiceContext } from '@musicflow/flow';

/** Segments' quarantine objects still being written while the next segments are read. */
const QUARANTINES_IN_FLIGHT = 16;

/** zlib reports a corrupt `.gz` with Z_* codes: the file is bad, not the infrastructure. */
const isBadGzip = (err: unknown) => typeof (err as { code?: unknown }).code === 'string' && /^Z_/.test((err as { code: string }).code);

/**
 * Parses one chunk, segment by segment (a range of a big file, or one of
 * several small files packed together), with the byte-level reader
 * (`csvByteBatches`), and applies the SPEC 2.1 row rules:
 * clean rows go to one run temporary as binary column blocks
 * (`CleanEventsWriter`, each segment's events counted), bad rows to the
 * segment's quarantine with line and reason. A segment that cannot be parsed
 * reports the line; the publish step then rejects its whole file. A small
 * file the plan did not read has its header read and checked here (a header
 * that rejects it is its outcome), and tallied for schema drift.
 */
export function createValidateProcessor({ store, config, queues }: ServiceContext) {
  const bounds = fileBoundsOf(config);
  return async (job: Job, { run, chunk }: ValidateJob, log: Logger): Promise<ValidateResult> => {
    const startedAt = Date.now();
    const valid = createCleanEvents(store, run, chunk.chunkId);
    const clean = valid.writer;
    const chunkSegments = await readChunkSegments(store, chunk.segmentsUrl);
    const totalBytes = chunk.bytes;
    const progress = new RowProgress(job, new CancelWatch(queues, run.runId));
    const done = { rows: 0, bytes: 0 };
    const segments: SegmentValidation[] = [];
    const rows = new StreamRowChecker(0, 0, 0, clean);
    const quarantines = new WritesInFlight(QUARANTINES_IN_FLIGHT);
    const headers = new HeaderTally();
    const chunkValidation: ChunkValidation = { clean, rows, quarantines, bounds, whole: new WholeCsvReader() };
    try {
      for await (const opened of segmentsReadAhead(store, chunkSegments, bounds)) {
        const { segment } = opened;
        // Before its header is found: a small file's segment is then given the range of its rows.
        const segmentBytes = segment.end - segment.start;
        const headed = 'whole' in opened ? wholeWithHeader(segment, opened.whole, bounds) : await withHeader(segment, opened.open, bounds);
        if (headed.header) headers.add(headed.header, segment.fileUrl);
        done.bytes += segmentBytes;
        if ('problem' in headed) {
          log.warn({ file: segment.fileUrl, reasons: [headed.problem] }, 'file rejected');
          segments.push({ ...identity(segment), headerProblem: headed.problem, rowsRead: 0, rowsValid: 0, rejected: {}, events: 0 });
          continue;
        }
        const eventsBefore = clean.events;
        const bytesBefore = done.bytes - segmentBytes;
        const checking = validateSegment(store, run, headed.segment, headed.bytes, chunkValidation, (rows, bytes) =>
          progress.report(done.rows + rows, (100 * (bytesBefore + bytes)) / Math.max(1, totalBytes)),
        );
        const result = 'then' in checking ? await checking : checking;
        result.events = clean.events - eventsBefore;
        segments.push(result);
        done.rows += result.rowsRead;
        if (result.parseError) log.warn({ file: segment.fileUrl, parseError: result.parseError }, 'segment cannot be parsed: file will be rejected');
        if (result.boundBroken) log.warn({ file: segment.fileUrl, boundBroken: result.boundBroken }, 'segment breaks a file bound: file will be rejected');
      }
    } catch (err) {
      valid.abort(err as Error);
      throw err;
    }
    await valid.finish();
    await quarantines.drain();
    const keysUrl = await writeChunkKeys(store, run, chunk.chunkId, clean.keys());
    const validationsUrl = await writeSegmentValidations(store, run, chunk.chunkId, segments);
    const headersUrl = headers.size ? await writeStreamHeaderTally(store, run, chunk.chunkId, headers) : undefined;
    await progress.done(done.rows);
    return {
      kind: 'validate',
      startedAt,
      finishedAt: Date.now(),
      chunkId: chunk.chunkId,
      validUrl: valid.url,
      keysUrl,
      validationsUrl,
      headersUrl,
      segments: segments.length,
      distinct: clean.distinct,
    };
  };
}

/** A segment whose header is known. */
type HeadedSegment = Segment & { header: string[] };

/** A segment with its header and its bytes from its first row (given whole, or as reads); or what rejects its file by its header. */
type Headed = { segment: HeadedSegment; bytes: Buffer | AsyncIterable<Buffer>; header?: string[] } | { problem: string; header?: string[] };

/**
 * A segment with its header, and its bytes from its first row; or what rejects its file by its header, with the
 * header when it was read. The plan read the header of every segment but those of small files it left to
 * this: such a file is read whole (ahead, WHOLE_READ_BYTES at most), its header found and checked as the plan would.
 */
async function withHeader(segment: Segment, open: () => Promise<AsyncIterable<Buffer>>, bounds: FileBounds): Promise<Headed> {
  if (segment.header) return { segment: { ...segment, header: segment.header }, bytes: await open() };
  const pieces: Buffer[] = [];
  try {
    for await (const piece of await open()) pieces.push(piece);
  } catch (err) {
    if (isPermissionError(err)) return { problem: UNREADABLE_REASON };
    throw err;
  }
  return wholeWithHeader(segment, pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces), bounds);
}

/** `withHeader` of a segment read whole (ahead), with no step through the event loop: a chunk of small files is thousands of them. */
function wholeWithHeader(segment: Segment, whole: Buffer, bounds: FileBounds): Headed {
  if (segment.header) return { segment: { ...segment, header: segment.header }, bytes: whole };
  const scan = scanStreamBuffer(whole, whole.length, whole.length, bounds);
  if ('reason' in scan) return { problem: scan.reason, header: scan.header };
  const rows = scan.ranges[0]!;
  // The job's own copy (read from the chunk's segments) is given its rows and header in place: a chunk of small files is thousands of them.
  const headed = segment as HeadedSegment;
  headed.start = rows.start;
  headed.end = rows.end;
  headed.firstLine = rows.firstLine;
  headed.header = scan.header;
  return { segment: headed, bytes: whole.subarray(rows.start, rows.end), header: scan.header };
}

/** The fields naming a segment in its validation. */
const identity = ({ fileId, fileUrl, index, count }: Segment) => ({ fileId, fileUrl, index, count });

/** What a segment's validation shares with the chunk's: the rules' checker, the clean events, the quarantines in flight, the bounds. */
interface ChunkValidation {
  clean: CleanEventsWriter;
  rows: StreamRowChecker;
  quarantines: WritesInFlight;
  bounds: FileBounds;
  /** The reader of the segments read whole (a chunk of small files is thousands of them). */
  whole: WholeCsvReader;
}

/** Where `SegmentRows.take` stopped in a batch, and what it waits for before it goes on. */
interface Waiting {
  at: number;
  wait: Promise<void>;
}

/** One segment's rows through the rules as they are read: their counts, reasons and quarantine. */
class SegmentRows {
  rowsRead = 0;
  rowsValid = 0;
  readonly rejected: Record<string, number> = {};
  private parseError?: string;
  private boundBroken?: string;
  // Made at the first bad row: most segments have none, and a day of small files is a segment a file.
  private quarantine?: QuarantineWriter;

  constructor(
    private readonly store: ObjectStore,
    private readonly run: RunContext,
    private readonly segment: HeadedSegment,
    private readonly chunk: ChunkValidation,
  ) {
    const [userCol, trackCol, timeCol] = STREAM_COLUMNS.map((c) => segment.header.indexOf(c)) as [number, number, number];
    chunk.rows.setColumns(userCol, trackCol, timeCol);
  }

  /**
   * Checks the records of `batch` from `from` on: undefined once it has, else where to go on and what to wait
   * for first (the clean events draining, a bad row's quarantine). A segment of clean rows takes no promise.
   */
  take(batch: CsvByteBatch, from: number): Waiting | undefined {
    const { rows, clean } = this.chunk;
    for (let r = from; r < batch.records; r++) {
      this.rowsRead++;
      const bad = rows.check(batch, r);
      if (!bad) {
        this.rowsValid++;
        const draining = clean.addIndexed(rows.userId, rows.trackIndex, rows.listenTime);
        if (draining) return { at: r + 1, wait: draining };
      } else {
        this.rejected[bad.reason] = (this.rejected[bad.reason] ?? 0) + 1;
        // The batch's bytes stay valid while the quarantine drains: the reader waits for this loop.
        this.quarantine ??= segmentQuarantineOf(this.store, this.run, this.segment);
        return { at: r + 1, wait: this.quarantine.add(batch.lines[r]!, bad.reason, bad.field, bad.value, recordFields(batch, r)) };
      }
    }
    return undefined;
  }

  /** The rest of `batch`, from where `take` stopped. */
  async takeAll(batch: CsvByteBatch, waiting: Waiting | undefined): Promise<void> {
    while (waiting) {
      await waiting.wait;
      waiting = this.take(batch, waiting.at);
    }
  }

  /** A read that failed: what its file is rejected for (a bound, a parse error, a bad gzip), or thrown on. */
  failed(err: unknown): void {
    if (err instanceof FileBoundError) this.boundBroken = err.message;
    else if (err instanceof CsvFileError) this.parseError = reasonText(err.message);
    else if (isBadGzip(err)) this.parseError = `not a valid gzip file: ${(err as Error).message}`;
    else {
      this.quarantine?.abort(err as Error);
      throw err;
    }
  }

  /** The segment's validation, once its quarantine (if it has one) is handed to the chunk's writes in flight. */
  end(): SegmentValidation | Promise<SegmentValidation> {
    const { segment, parseError, boundBroken, rowsRead, rowsValid, rejected, quarantine } = this;
    // Written out, not spread: a chunk of small files makes thousands of these.
    const checked: SegmentValidation = {
      fileId: segment.fileId,
      fileUrl: segment.fileUrl,
      index: segment.index,
      count: segment.count,
      parseError,
      boundBroken,
      rowsRead,
      rowsValid,
      rejected,
      quarantineUrl: quarantine?.url,
      events: 0,
    };
    return quarantine ? this.chunk.quarantines.add(quarantine.close()).then(() => checked) : checked;
  }
}

/**
 * One segment's rows, from `bytes`, through the rules; `onProgress` hears rows and bytes read so far. A small
 * file read whole whose rows are all clean is validated at once, with no promise or generator.
 */
function validateSegment(
  store: ObjectStore,
  run: RunContext,
  segment: HeadedSegment,
  bytes: Buffer | AsyncIterable<Buffer>,
  chunk: ChunkValidation,
  onProgress: (rows: number, bytes: number) => Promise<void> | undefined,
): SegmentValidation | Promise<SegmentValidation> {
  const rows = new SegmentRows(store, run, segment, chunk);
  if (!Buffer.isBuffer(bytes) || segment.gzip) return readSegment(rows, segment, bytes, chunk.bounds, onProgress);
  let batch: CsvByteBatch | undefined;
  try {
    batch = chunk.whole.take(bytes, segment.firstLine, chunk.bounds);
  } catch (err) {
    rows.failed(err);
    return rows.end();
  }
  // Records this reader does not take all of are read again by csvByteBatches, which gives the same and their error.
  if (!batch) return readSegment(rows, segment, bytes, chunk.bounds, onProgress);
  const waiting = rows.take(batch, 0);
  if (waiting) return takenWhole(rows, batch, waiting, bytes.length, onProgress);
  const reporting = onProgress(rows.rowsRead, bytes.length);
  return reporting ? reporting.then(() => rows.end()) : rows.end();
}

/** The rest of a segment read whole, once `take` has to wait. */
async function takenWhole(
  rows: SegmentRows,
  batch: CsvByteBatch,
  waiting: Waiting,
  bytes: number,
  onProgress: (rows: number, bytes: number) => Promise<void> | undefined,
): Promise<SegmentValidation> {
  try {
    await rows.takeAll(batch, waiting);
    await onProgress(rows.rowsRead, bytes);
  } catch (err) {
    rows.failed(err);
  }
  return rows.end();
}

/** A segment's rows read as they come (a big file's range, a `.gz` file), or read again by `csvByteBatches`. */
async function readSegment(
  rows: SegmentRows,
  segment: HeadedSegment,
  bytes: Buffer | AsyncIterable<Buffer>,
  bounds: FileBounds,
  onProgress: (rows: number, bytes: number) => Promise<void> | undefined,
): Promise<SegmentValidation> {
  // Bytes given whole are read at once; reads are counted as they pass.
  const read = { bytes: Buffer.isBuffer(bytes) ? bytes.length : 0 };
  // A `.gz` segment is the whole file, header included.
  let skipHeader = segment.gzip;
  try {
    for await (const batch of csvByteBatches(Buffer.isBuffer(bytes) ? [bytes] : counted(bytes, read), segment.firstLine, bounds)) {
      const from = skipHeader ? 1 : 0;
      skipHeader = false;
      await rows.takeAll(batch, rows.take(batch, from));
      const reporting = onProgress(rows.rowsRead, segment.gzip ? 0 : read.bytes);
      if (reporting) await reporting;
    }
  } catch (err) {
    rows.failed(err);
  }
  return rows.end();
}

/** `source`, adding each piece's length to `read.bytes` as it passes. */
async function* counted(source: AsyncIterable<Buffer>, read: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    read.bytes += piece.length;
    yield piece;
  }
}
