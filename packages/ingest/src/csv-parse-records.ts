import { parse, CsvError } from 'csv-parse';
import { finished, type Readable } from 'node:stream';
import { recordTooLong, type RecordBounds } from './bounds.ts';

export interface CsvRecord {
  fields: string[];
  /** Physical line number in the source file where the record ends. */
  line: number;
}

/** The whole file is unusable: it cannot be parsed as CSV from `line` on. */
export class CsvFileError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

const QUOTE = 0x22;
const NEWLINE = 0x0a;
const CR = 0x0d;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/**
 * Physical line numbers of the records, from a scan of the bytes before the
 * parser sees them: it notes the line of each line end that ends a record, so
 * the parser's n-th record ends on the n-th noted line. csv-parse's own counter
 * counts a CRLF inside a quoted field as two lines, and reports an unclosed
 * quote at the end of the file instead of where it opened; its per-record
 * `info` costs as much as the parsing itself.
 */
class LineTracker {
  /** Lines where the records not taken yet end: a queue in `ends[head..tail)` (doubles, as lines may pass 2^31). */
  private ends = new Float64Array(1024);
  private head = 0;
  private tail = 0;
  private offset = 0;
  private line: number;
  /** Offset of the first byte of the current line's content. */
  private lineStart = 0;
  private lastByte = -1;
  private maybeBom: boolean;
  private inQuote = false;
  private closedAt = -2;
  /** Line of the quote that opened the field still open, if any. */
  openQuoteLine: number;

  constructor(firstLine: number, bom: boolean) {
    this.maybeBom = bom;
    this.line = firstLine;
    this.openQuoteLine = firstLine;
  }

  feed(buf: Buffer): void {
    if (this.offset < BOM.length) this.skipBom(buf);
    let q = buf.indexOf(QUOTE);
    let n = buf.indexOf(NEWLINE);
    while (q >= 0 || n >= 0) {
      if (n >= 0 && (q < 0 || n < q)) {
        if (!this.inQuote) this.lineEnded(buf, n);
        this.line++;
        n = buf.indexOf(NEWLINE, n + 1);
      } else {
        const at = this.offset + q;
        if (this.inQuote) {
          this.inQuote = false;
          this.closedAt = at;
        } else {
          this.inQuote = true;
          // `""` inside a quoted field closes and reopens: the field opened earlier.
          if (at !== this.closedAt + 1) this.openQuoteLine = this.line;
        }
        q = buf.indexOf(QUOTE, q + 1);
      }
    }
    this.offset += buf.length;
    if (buf.length > 0) this.lastByte = buf[buf.length - 1]!;
  }

  /** Line where the parser's next record ends. */
  nextRecordLine(): number {
    // Only the last record can end without a line end, when the bytes end.
    if (this.head === this.tail) return this.line;
    const line = this.ends[this.head++]!;
    if (this.head === this.tail) this.head = this.tail = 0;
    return line;
  }

  /** csv-parse drops a UTF-8 BOM at the start of the stream: it is not part of the first line. */
  private skipBom(buf: Buffer): void {
    const seen = Math.min(BOM.length - this.offset, buf.length);
    if (buf.compare(BOM, this.offset, this.offset + seen, 0, seen) !== 0) this.maybeBom = false;
    else if (this.maybeBom && this.offset + seen === BOM.length) this.lineStart = BOM.length;
  }

  /** A line end outside quotes at `buf[n]`: it ends a record unless csv-parse skips the line as empty. */
  private lineEnded(buf: Buffer, n: number): void {
    const end = this.offset + n;
    const length = end - this.lineStart;
    this.lineStart = end + 1;
    // CRLF is a line end too, so a line of a lone CR is empty.
    if (length === 0 || (length === 1 && (n > 0 ? buf[n - 1] : this.lastByte) === CR)) return;
    if (this.tail === this.ends.length) this.makeRoom();
    this.ends[this.tail++] = this.line;
  }

  private makeRoom(): void {
    // Shift only when half is consumed, so each shift is paid for by as many takes.
    if (this.head * 2 >= this.ends.length) {
      this.ends.copyWithin(0, this.head, this.tail);
    } else {
      const grown = new Float64Array(this.ends.length * 2);
      grown.set(this.ends.subarray(this.head, this.tail));
      this.ends = grown;
    }
    this.tail -= this.head;
    this.head = 0;
  }
}

/** Records parsed from one read of the input, with the physical line each ends on. */
export interface CsvBatch {
  records: string[][];
  lines: number[];
}

/**
 * Records of a CSV byte stream as arrays of strings, one at a time (see
 * `csvRecordBatches`).
 */
export async function* csvRecords(bytes: Readable, firstLine = 1, bounds?: RecordBounds): AsyncGenerator<CsvRecord> {
  for await (const { records, lines } of csvRecordBatches(bytes, firstLine, { bounds })) {
    for (let i = 0; i < records.length; i++) yield { fields: records[i]!, line: lines[i]! };
  }
}

/**
 * Records of a CSV byte stream as arrays of strings (no casting in the parser:
 * validation owns types), in batches: one await per parsed read instead of one
 * per record, which costs as much as a third of the parsing on millions of
 * rows. RFC 4180 quotes, CRLF or LF, a BOM and empty lines are accepted.
 * `firstLine` is the physical line number of the stream's first byte, so
 * chunks of one file report the file's own line numbers. `bom: false` reads
 * a leading BOM as text, for bytes that do not start a file. `bounds` caps a
 * record's length (csv-parse counts characters, at most as many as bytes).
 */
export async function* csvRecordBatches(
  bytes: Readable,
  firstLine = 1,
  { bom = true, bounds }: { bom?: boolean; bounds?: RecordBounds } = {},
): AsyncGenerator<CsvBatch> {
  // Both line ends on every line: csv-parse would otherwise guess one from the first line, and a
  // CRLF file with a stray LF line (or the reverse) would glue records together.
  const parser = parse({
    bom,
    relax_column_count: true,
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n'],
    ...(bounds && Number.isFinite(bounds.maxRecordBytes) ? { max_record_size: bounds.maxRecordBytes } : {}),
  });
  const lines = new LineTracker(firstLine, bom);
  bytes.on('data', (b: Buffer) => lines.feed(b));
  bytes.on('error', (err) => parser.destroy(err));
  // Records are taken with read() until the parser's buffer is empty: one wait per parsed chunk.
  let done = false;
  let failure: Error | null | undefined;
  let wake = () => {};
  parser.on('readable', () => wake());
  finished(parser, { writable: false }, (err) => {
    done = true;
    failure = err;
    wake();
  });
  bytes.pipe(parser);
  try {
    for (;;) {
      let fields: string[] | null;
      const batch: CsvBatch = { records: [], lines: [] };
      // Like the stream's async iterator: once the parser fails, the records it still holds are dropped.
      while (!parser.destroyed && (fields = parser.read() as string[] | null) !== null) {
        batch.records.push(fields);
        batch.lines.push(lines.nextRecordLine());
      }
      if (batch.records.length > 0) {
        yield batch;
        // The parser may have buffered more, and said so, while the consumer ran: read again before waiting.
        continue;
      }
      if (done) break;
      await new Promise<void>((resolve) => (wake = resolve));
    }
    if (failure) throw failure;
  } catch (err) {
    if (err instanceof CsvError) {
      if (err.code === 'CSV_MAX_RECORD_SIZE') throw recordTooLong(firstLine + ((err as CsvError & { lines?: number }).lines ?? 1) - 1, bounds!.maxRecordBytes);
      const line = err.code === 'CSV_QUOTE_NOT_CLOSED' ? lines.openQuoteLine : firstLine + ((err as CsvError & { lines?: number }).lines ?? 1) - 1;
      const message = err.code === 'CSV_QUOTE_NOT_CLOSED' ? `Quote Not Closed: the quote opened at line ${line} is never closed` : err.message;
      throw new CsvFileError(`line ${line}: ${message}`, line);
    }
    throw err;
  } finally {
    bytes.unpipe(parser);
    bytes.destroy();
    parser.destroy();
  }
}
