import type { Readable } from 'node:stream';
import { recordTooLong } from './bounds.ts';

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const MAX_HEADER_BYTES = 1 << 20;

export interface ScannedChunk {
  start: number;
  end: number;
  /** Physical line number (1-based) at `start`. */
  firstLine: number;
}

export interface ScanResult {
  /** Bytes of the first record (the header), without its line end. */
  headerBytes: Buffer;
  size: number;
  /** Byte ranges after the header, each ending at a record boundary; at least one, empty only when no record follows the header. */
  chunks: ScannedChunk[];
}

/** Bytes a scan of a file of one chunk needs at most (the longest header it takes, and one byte to tell it is too long). */
export const HEADER_SCAN_BYTES = MAX_HEADER_BYTES + 1;

/**
 * One pass over a CSV file's bytes that finds the header and cuts the rest into
 * chunks of about `chunkBytes`, each ending at a record boundary: a newline
 * outside double quotes (RFC 4180 quotes, doubled quotes toggle twice), so a
 * quoted field holding a newline is never split. Memory stays constant.
 * Given the file's `size`, a file of at most `chunkBytes` is one chunk: the
 * scan stops at the header's end (its first HEADER_SCAN_BYTES are enough), so a day of
 * small files is not read twice. A record longer than `maxRecordBytes` stops
 * the scan with a FileBoundError, once per read: no per-byte cost.
 */
export async function scanChunks(bytes: Readable | Buffer, chunkBytes: number, size?: number, maxRecordBytes = Infinity): Promise<ScanResult> {
  const oneChunk = size !== undefined && size <= chunkBytes;
  let offset = 0;
  let line = 1;
  let inQuote = false;
  let headerEnd = -1;
  const headerParts: Buffer[] = [];
  let headerLength = 0;
  let chunkStart = 0;
  let chunkFirstLine = 1;
  const chunks: ScannedChunk[] = [];
  let recordStart = 0;
  let recordLine = 1;

  const recordEnded = (end: number) => {
    recordStart = end;
    recordLine = line;
    if (headerEnd < 0) {
      headerEnd = end;
      chunkStart = end;
      chunkFirstLine = line;
    } else if (end - chunkStart >= chunkBytes) {
      chunks.push({ start: chunkStart, end, firstLine: chunkFirstLine });
      chunkStart = end;
      chunkFirstLine = line;
    }
  };

  reading: for await (const buf of Buffer.isBuffer(bytes) ? [bytes] : (bytes as AsyncIterable<Buffer>)) {
    if (headerEnd < 0) {
      headerParts.push(buf);
      headerLength += buf.length;
    }
    let i = 0;
    let nextQuote = buf.indexOf(QUOTE);
    while (i < buf.length) {
      if (nextQuote >= 0 && nextQuote < i) nextQuote = buf.indexOf(QUOTE, i);
      if (inQuote) {
        // Newlines inside quotes count as lines but never end a record.
        const stop = nextQuote < 0 ? buf.length : nextQuote;
        for (let n = buf.indexOf(NEWLINE, i); n >= 0 && n < stop; n = buf.indexOf(NEWLINE, n + 1)) line++;
        if (nextQuote < 0) break;
        inQuote = false;
        i = nextQuote + 1;
        continue;
      }
      const newline = buf.indexOf(NEWLINE, i);
      if (newline >= 0 && (nextQuote < 0 || newline < nextQuote)) {
        line++;
        recordEnded(offset + newline + 1);
        if (oneChunk) break reading;
        i = newline + 1;
      } else if (nextQuote >= 0) {
        inQuote = true;
        i = nextQuote + 1;
      } else break;
    }
    offset += buf.length;
    if (headerEnd < 0 && headerLength > MAX_HEADER_BYTES) {
      throw new Error(`no line end in the first ${MAX_HEADER_BYTES} bytes: not a CSV file with a header row`);
    }
    if (offset - recordStart > maxRecordBytes) throw recordTooLong(recordLine, maxRecordBytes);
  }

  // A file of one chunk read only up to its header's end: its chunk runs to the size given.
  const end = oneChunk && headerEnd >= 0 ? size : offset;
  if (headerEnd < 0) {
    headerEnd = offset;
    chunkStart = offset;
  }
  // The last record may have closed a full chunk already: add no empty chunk after it.
  if (chunks.length === 0 || chunkStart < end) chunks.push({ start: chunkStart, end, firstLine: chunkFirstLine });
  const headerBytes = Buffer.concat(headerParts).subarray(0, headerEnd);
  return { headerBytes: stripLineEnd(headerBytes), size: end, chunks };
}

function stripLineEnd(buf: Buffer): Buffer {
  let end = buf.length;
  if (end > 0 && buf[end - 1] === NEWLINE) end--;
  if (end > 0 && buf[end - 1] === 0x0d) end--;
  return buf.subarray(0, end);
}
