import type { Readable } from 'node:stream';
import { reasonText, type RecordBounds } from './bounds.ts';
import { scanBufferChunks, scanChunks, type ScanResult, type ScannedChunk } from './chunk-scan.ts';
import { duplicatedColumns, missingColumns, parseHeader } from './header.ts';
import { STREAM_COLUMNS } from './stream-rules.ts';

/** An entry of the streams folder the service's user may not read: asking again gets the same answer, so it is not retried. */
export const UNREADABLE_REASON =
  "unreadable: permission denied (EACCES/EPERM) to the service's user; nothing of it is read: give that user read access (and execute on folders), then run again";

/** Why a stream file with this header is rejected whole, if it is (SPEC 2.1): over MAX_COLUMNS, a required column missing or named twice. */
export function streamHeaderProblem(header: readonly string[], maxColumns = Infinity): string | undefined {
  if (header.length > maxColumns) return `too_many_columns: the header has ${header.length} columns, over MAX_COLUMNS (${maxColumns})`;
  const missing = missingColumns(header, STREAM_COLUMNS);
  if (missing.length) return `missing column(s): ${missing.join(', ')}`;
  const duplicated = duplicatedColumns(header, STREAM_COLUMNS);
  if (duplicated.length) return `column(s) named more than once in the header: ${duplicated.join(', ')}`;
  return undefined;
}

/**
 * A checked header and the file's rows after it, cut into `ranges` of about `chunkBytes` (scanChunks); or the
 * reason the file is rejected whole, with its header when one was read within MAX_COLUMNS (schema drift tells it).
 */
export type ScannedStreamFile = { header: string[]; ranges: ScannedChunk[] } | { reason: string; header?: string[] };

/**
 * Finds and checks an uncompressed stream file's header in its bytes (from its first byte): the plan does it
 * for files it cuts into ranges, the validator for the small files the plan did not read (`scanStreamBuffer`).
 */
export async function scanStreamFile(
  bytes: Readable | Buffer,
  chunkBytes: number,
  size: number,
  bounds: Partial<RecordBounds> = {},
): Promise<ScannedStreamFile> {
  if (Buffer.isBuffer(bytes)) return scanStreamBuffer(bytes, chunkBytes, size, bounds);
  return checkedStreamFile(await scanChunks(bytes, chunkBytes, size, bounds.maxRecordBytes).catch((err: Error) => err), bounds);
}

/** `scanStreamFile` of bytes held whole, with no step through the event loop (a chunk of small files does it thousands of times). */
export function scanStreamBuffer(bytes: Buffer, chunkBytes: number, size: number, bounds: Partial<RecordBounds> = {}): ScannedStreamFile {
  let scan: ScanResult | Error;
  try {
    scan = scanBufferChunks(bytes, chunkBytes, size, bounds.maxRecordBytes);
  } catch (err) {
    scan = err as Error;
  }
  return checkedStreamFile(scan, bounds);
}

function checkedStreamFile(scan: ScanResult | Error, bounds: Partial<RecordBounds>): ScannedStreamFile {
  if (scan instanceof Error) return { reason: scan.message };
  if (scan.headerBytes.length === 0) return { reason: 'empty file: a header row is required' };
  let header: string[];
  try {
    header = parseHeader(scan.headerBytes);
  } catch (err) {
    return { reason: `line 1: header cannot be parsed: ${reasonText((err as Error).message)}` };
  }
  const problem = streamHeaderProblem(header, bounds.maxColumns);
  if (problem) return header.length > (bounds.maxColumns ?? Infinity) ? { reason: problem } : { reason: problem, header };
  return { header, ranges: scan.chunks };
}
