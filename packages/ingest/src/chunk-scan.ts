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
  if (Buffer.isBuffer(bytes)) return scanBufferChunks(bytes, chunkBytes, size, maxRecordBytes);
  const scan = new ChunkScan(chunkBytes, size, maxRecordBytes);
  for await (const buf of bytes as AsyncIterable<Buffer>) if (!scan.add(buf)) break;
  return scan.result();
}

/** `scanChunks` of bytes held whole, with no step through the event loop: the validator's header check of each small file. */
export function scanBufferChunks(bytes: Buffer, chunkBytes: number, size?: number, maxRecordBytes = Infinity): ScanResult {
  const scan = new ChunkScan(chunkBytes, size, maxRecordBytes);
  scan.add(bytes);
  return scan.result();
}

/** The state of `scanChunks` between reads. */
class ChunkScan {
  private readonly oneChunk: boolean;
  private offset = 0;
  private line = 1;
  private inQuote = false;
  private headerEnd = -1;
  private readonly headerParts: Buffer[] = [];
  private headerLength = 0;
  private chunkStart = 0;
  private chunkFirstLine = 1;
  private readonly chunks: ScannedChunk[] = [];
  private recordStart = 0;
  private recordLine = 1;

  constructor(
    private readonly chunkBytes: number,
    private readonly size: number | undefined,
    private readonly maxRecordBytes: number,
  ) {
    this.oneChunk = size !== undefined && size <= chunkBytes;
  }

  private recordEnded(end: number): void {
    this.recordStart = end;
    this.recordLine = this.line;
    if (this.headerEnd < 0) {
      this.headerEnd = end;
      this.chunkStart = end;
      this.chunkFirstLine = this.line;
    } else if (end - this.chunkStart >= this.chunkBytes) {
      this.chunks.push({ start: this.chunkStart, end, firstLine: this.chunkFirstLine });
      this.chunkStart = end;
      this.chunkFirstLine = this.line;
    }
  }

  /** Scans the next read; false when nothing more is needed (a file of one chunk, its header found). */
  add(buf: Buffer): boolean {
    if (this.headerEnd < 0) {
      this.headerParts.push(buf);
      this.headerLength += buf.length;
    }
    let i = 0;
    let nextQuote = buf.indexOf(QUOTE);
    while (i < buf.length) {
      if (nextQuote >= 0 && nextQuote < i) nextQuote = buf.indexOf(QUOTE, i);
      if (this.inQuote) {
        // Newlines inside quotes count as lines but never end a record.
        const stop = nextQuote < 0 ? buf.length : nextQuote;
        for (let n = buf.indexOf(NEWLINE, i); n >= 0 && n < stop; n = buf.indexOf(NEWLINE, n + 1)) this.line++;
        if (nextQuote < 0) break;
        this.inQuote = false;
        i = nextQuote + 1;
        continue;
      }
      const newline = buf.indexOf(NEWLINE, i);
      if (newline >= 0 && (nextQuote < 0 || newline < nextQuote)) {
        this.line++;
        this.recordEnded(this.offset + newline + 1);
        if (this.oneChunk) return false;
        i = newline + 1;
      } else if (nextQuote >= 0) {
        this.inQuote = true;
        i = nextQuote + 1;
      } else break;
    }
    this.offset += buf.length;
    if (this.headerEnd < 0 && this.headerLength > MAX_HEADER_BYTES) {
      throw new Error(`no line end in the first ${MAX_HEADER_BYTES} bytes: not a CSV file with a header row`);
    }
    if (this.offset - this.recordStart > this.maxRecordBytes) throw recordTooLong(this.recordLine, this.maxRecordBytes);
    return true;
  }

  result(): ScanResult {
    // A file of one chunk read only up to its header's end: its chunk runs to the size given.
    const end = this.oneChunk && this.headerEnd >= 0 ? this.size! : this.offset;
    if (this.headerEnd < 0) {
      this.headerEnd = this.offset;
      this.chunkStart = this.offset;
    }
    // The last record may have closed a full chunk already: add no empty chunk after it.
    if (this.chunks.length === 0 || this.chunkStart < end) this.chunks.push({ start: this.chunkStart, end, firstLine: this.chunkFirstLine });
    const header = this.headerParts.length === 1 ? this.headerParts[0]! : Buffer.concat(this.headerParts);
    return { headerBytes: stripLineEnd(header.subarray(0, this.headerEnd)), size: end, chunks: this.chunks };
  }
}

function stripLineEnd(buf: Buffer): Buffer {
  let end = buf.length;
  if (end > 0 && buf[end - 1] === NEWLINE) end--;
  if (end > 0 && buf[end - 1] === 0x0d) end--;
  return buf.subarray(0, end);
}
