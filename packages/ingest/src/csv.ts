import { parse, CsvError } from 'csv-parse';
import type { Readable } from 'node:stream';

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

/**
 * Physical line numbers of the bytes fed to the parser. csv-parse's own
 * counter counts a CRLF inside a quoted field as two lines, and reports an
 * unclosed quote at the end of the file instead of where it opened.
 */
class LineTracker {
  private readonly newlines: number[] = [];
  private head = 0;
  private passed = 0;
  private offset = 0;
  private line: number;
  private inQuote = false;
  private closedAt = -2;
  /** Line of the quote that opened the field still open, if any. */
  openQuoteLine: number;

  constructor(private readonly firstLine: number) {
    this.line = firstLine;
    this.openQuoteLine = firstLine;
  }

  feed(buf: Buffer): void {
    let q = buf.indexOf(QUOTE);
    let n = buf.indexOf(NEWLINE);
    while (q >= 0 || n >= 0) {
      if (n >= 0 && (q < 0 || n < q)) {
        this.newlines.push(this.offset + n);
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
  }

  /** Line of the record whose bytes (line end included) stop at `end`. */
  lineOfRecordEnding(end: number): number {
    while (this.head < this.newlines.length && this.newlines[this.head]! < end - 1) {
      this.head++;
      this.passed++;
    }
    if (this.head > 4096 && this.head * 2 > this.newlines.length) {
      this.newlines.splice(0, this.head);
      this.head = 0;
    }
    return this.firstLine + this.passed;
  }
}

/**
 * Records of a CSV byte stream as arrays of strings (no casting in the parser:
 * validation owns types). RFC 4180 quotes, CRLF or LF, a BOM and empty lines
 * are accepted. `firstLine` is the physical line number of the stream's first
 * byte, so chunks of one file report the file's own line numbers.
 */
export async function* csvRecords(bytes: Readable, firstLine = 1): AsyncGenerator<CsvRecord> {
  // Both line ends on every line: csv-parse would otherwise guess one from the first line, and a
  // CRLF file with a stray LF line (or the reverse) would glue records together.
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true, record_delimiter: ['\r\n', '\n'] });
  const lines = new LineTracker(firstLine);
  bytes.on('data', (b: Buffer) => lines.feed(b));
  bytes.on('error', (err) => parser.destroy(err));
  bytes.pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { bytes: number } }>) {
      yield { fields: record, line: lines.lineOfRecordEnding(info.bytes) };
    }
  } catch (err) {
    if (err instanceof CsvError) {
      const line =
        err.code === 'CSV_QUOTE_NOT_CLOSED'
          ? lines.openQuoteLine
          : firstLine + ((err as CsvError & { lines?: number }).lines ?? 1) - 1;
      const message = err.code === 'CSV_QUOTE_NOT_CLOSED' ? `Quote Not Closed: the quote opened at line ${line} is never closed` : err.message;
      throw new CsvFileError(`line ${line}: ${message}`, line);
    }
    throw err;
  } finally {
    bytes.unpipe(parser);
    bytes.destroy();
  }
}
