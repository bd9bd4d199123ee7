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
 * (`CleanEventsWriter`, each segment in blocks of its own), bad rows to the
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
    try {
      for await (const opened of segmentsReadAhead(store, chunkSegments, bounds)) {
        const { segment } = opened;
        const headed = 'whole' in opened ? wholeWithHeader(segment, opened.whole, bounds) : await withHeader(segment, opened.open, bounds);
        if (headed.header) headers.add(headed.header, segment.fileUrl);
        done.bytes += segment.end - segment.start;
        if ('problem' in headed) {
          log.warn({ file: segment.fileUrl, reasons: [headed.problem] }, 'file rejected');
          segments.push({ ...identity(segment), headerProblem: headed.problem, rowsRead: 0, rowsValid: 0, rejected: {}, blocks: 0 });
          continue;
        }
        const blocksBefore = clean.blocks;
        const bytesBefore = done.bytes - (segment.end - segment.start);
        const result = await validateSegment(store, run, headed.segment, headed.bytes, { clean, rows, quarantines, bounds }, (rows, bytes) =>
          progress.report(done.rows + rows, (100 * (bytesBefore + bytes)) / Math.max(1, totalBytes)),
        );
        await clean.endBlock();
        segments.push({ ...result, blocks: clean.blocks - blocksBefore });
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
  return { segment: { ...segment, ...rows, header: scan.header }, bytes: whole.subarray(rows.start, rows.end), header: scan.header };
}

/** The fields naming a segment in its validation. */
const identity = ({ fileId, fileUrl, index, count }: Segment) => ({ fileId, fileUrl, index, count });

/** One segment's rows, from `bytes`, through the rules; `onProgress` hears rows and bytes read so far. */
async function validateSegment(
  store: ObjectStore,
  run: RunContext,
  segment: HeadedSegment,
  bytes: Buffer | AsyncIterable<Buffer>,
  { clean, rows, quarantines, bounds }: { clean: CleanEventsWriter; rows: StreamRowChecker; quarantines: WritesInFlight; bounds: FileBounds },
  onProgress: (rows: number, bytes: number) => Promise<void> | undefined,
): Promise<Omit<SegmentValidation, 'blocks'>> {
  // Made at the first bad row: most segments have none, and a day of small files is a segment a file.
  let quarantine: QuarantineWriter | undefined;
  const [userCol, trackCol, timeCol] = STREAM_COLUMNS.map((c) => segment.header.indexOf(c)) as [number, number, number];
  rows.setColumns(userCol, trackCol, timeCol);
  const rejected: Record<string, number> = {};
  let rowsRead = 0;
  let rowsValid = 0;
  let parseError: string | undefined;
  let boundBroken: string | undefined;

  // Bytes given whole are read at once; reads are counted as they pass.
  const read = { bytes: Buffer.isBuffer(bytes) ? bytes.length : 0 };
  // A `.gz` segment is the whole file, header included.
  let skipHeader = segment.gzip;
  try {
    for await (const batch of csvByteBatches(Buffer.isBuffer(bytes) ? [bytes] : counted(bytes, read), segment.firstLine, bounds)) {
      for (let r = 0; r < batch.records; r++) {
        if (skipHeader) {
          skipHeader = false;
          continue;
        }
        rowsRead++;
        const bad = rows.check(batch, r);
        if (!bad) {
          rowsValid++;
          const draining = clean.addIndexed(rows.userId, rows.trackIndex, rows.listenTime);
          if (draining) await draining;
        } else {
          rejected[bad.reason] = (rejected[bad.reason] ?? 0) + 1;
          // The batch's bytes stay valid while the quarantine drains: the reader waits for this loop.
          quarantine ??= segmentQuarantineOf(store, run, segment);
          await quarantine.add(batch.lines[r]!, bad.reason, bad.field, bad.value, recordFields(batch, r));
        }
      }
      const reporting = onProgress(rowsRead, segment.gzip ? 0 : read.bytes);
      if (reporting) await reporting;
    }
  } catch (err) {
    if (err instanceof FileBoundError) boundBroken = err.message;
    else if (err instanceof CsvFileError) parseError = reasonText(err.message);
    else if (isBadGzip(err)) parseError = `not a valid gzip file: ${(err as Error).message}`;
    else {
      quarantine?.abort(err as Error);
      throw err;
    }
  }
  const quarantineUrl = quarantine?.url;
  if (quarantine) await quarantines.add(quarantine.close());
  return {
    ...identity(segment),
    parseError,
    boundBroken,
    rowsRead,
    rowsValid,
    rejected,
    quarantineUrl,
  };
}

/** `source`, adding each piece's length to `read.bytes` as it passes. */
async function* counted(source: AsyncIterable<Buffer>, read: { bytes: number }): AsyncGenerator<Buffer> {
  for await (const piece of source) {
    read.bytes += piece.length;
    yield piece;
  }
}
