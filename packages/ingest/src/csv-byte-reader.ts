import { Readable } from 'node:stream';
import { csvRecordBatches, CsvFileError } from './csv-parse-records.ts';
import { recordTooLong, tooManyColumns, type RecordBounds } from './bounds.ts';

/**
 * Records of one read of a CSV byte stream as field offsets into its bytes: no
 * string or array per record. Record `r` has the fields `firstField[r]` up to
 * `firstField[r + 1]`; field `f` is `bytes[starts[f], ends[f])`, without its
 * quotes. Everything here is reused by the next batch: take what you keep.
 */
export interface CsvByteBatch {
  bytes: Buffer;
  records: number;
  /** Physical line number where record `r` ends. */
  lines: Float64Array;
  firstField: Int32Array;
  starts: Int32Array;
  ends: Int32Array;
  /** 1 when field `f` is quoted and holds doubled quotes (`""` reads `"`). */
  escaped: Uint8Array;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;
const CR = 0x0d;
const MIN_READ = 64 * 1024;
/** The catalogue's reader: its sources are the operator's own. */
const UNBOUNDED: RecordBounds = { maxRecordBytes: Infinity, maxColumns: Infinity };

/** Field `f` as text, decoded like csv-parse decodes it (UTF-8, U+FFFD for invalid bytes, `""` unescaped). */
export function fieldText(batch: CsvByteBatch, f: number): string {
  const text = batch.bytes.toString('utf8', batch.starts[f], batch.ends[f]);
  return batch.escaped[f] ? text.replaceAll('""', '"') : text;
}

/** Every field of record `r` as text: what csv-parse would have given for it. */
export function recordFields(batch: CsvByteBatch, r: number): string[] {
  const fields: string[] = [];
  for (let f = batch.firstField[r]!; f < batch.firstField[r + 1]!; f++) fields.push(fieldText(batch, f));
  return fields;
}

/** Records a fresh batch has room for: it grows as a read needs, so a small file's reader costs little (thousands a chunk). */
const FIRST_RECORDS = 64;

/** Growable typed arrays of one batch. */
class BatchBuilder implements CsvByteBatch {
  bytes: Buffer = Buffer.alloc(0);
  records = 0;
  fields = 0;
  lines = new Float64Array(FIRST_RECORDS);
  firstField = new Int32Array(FIRST_RECORDS + 1);
  starts = new Int32Array(4 * FIRST_RECORDS);
  ends = new Int32Array(4 * FIRST_RECORDS);
  escaped = new Uint8Array(4 * FIRST_RECORDS);

  reset(bytes: Buffer): void {
    this.bytes = bytes;
    this.records = 0;
    this.fields = 0;
    this.firstField[0] = 0;
  }

  addField(start: number, end: number, escaped: number): void {
    if (this.fields === this.starts.length) {
      this.starts = grow(this.starts);
      this.ends = grow(this.ends);
      this.escaped = grow(this.escaped);
    }
    this.starts[this.fields] = start;
    this.ends[this.fields] = end;
    this.escaped[this.fields++] = escaped;
  }

  /** Drops the fields of a record that turned out incomplete. */
  dropFields(to: number): void {
    this.fields = to;
  }

  endRecord(line: number): void {
    if (this.records === this.lines.length) {
      this.lines = grow(this.lines);
      this.firstField = grow(this.firstField);
    }
    this.lines[this.records++] = line;
    this.firstField[this.records] = this.fields;
  }
}

/**
 * Builders of readers that ended, for the next ones: a chunk of small files starts a reader per file, and five
 * typed arrays a file were a fifth of its validation. Kept only while small (a few MiB at most held here).
 */
const spareBuilders: BatchBuilder[] = [];
const SPARE_BUILDERS = 2;
const SPARE_FIELDS = 1 << 18;

function releaseBuilder(builder: BatchBuilder): void {
  builder.reset(Buffer.alloc(0));
  if (spareBuilders.length < SPARE_BUILDERS && builder.starts.length <= SPARE_FIELDS) spareBuilders.push(builder);
}

/** A copy of a typed array with room for at least `length` items (twice its length by default). */
export function grow<T extends Int32Array | Float64Array | Uint8Array>(a: T, length = a.length * 2 + 1): T {
  const bigger = new (a.constructor as new (n: number) => T)(length);
  bigger.set(a);
  return bigger;
}

/** What a scan of the pending bytes ended on. */
const enum Stop {
  /** Every complete record was taken; the rest waits for more bytes. */
  NeedMore,
  /** A record this reader does not take (quotes csv-parse would reject or read its own way): csv-parse reads from it on. */
  Irregular,
  /** The bytes ended inside a quoted field. */
  OpenQuote,
}

/**
 * The CSV reader of stream files and catalogues: the same records, line
 * numbers and errors as `csvRecordBatches` (csv-parse, the reference it is
 * tested against), found by scanning bytes. It takes RFC 4180: LF or CRLF,
 * a BOM, skipped empty lines, quoted fields with doubled quotes and line ends
 * inside. At the first record it cannot take (a quote in an unquoted field,
 * text after a closing quote: all errors to csv-parse), csv-parse reads the
 * rest, so the error and its line are csv-parse's. An unclosed quote is
 * reported at the line where it opened. A record longer than
 * `bounds.maxRecordBytes` (checked once per read, on the bytes held for it:
 * memory stays within a few times the bound) or with more than
 * `bounds.maxColumns` fields fails with a FileBoundError.
 */
export async function* csvByteBatches(
  bytes: AsyncIterable<Buffer> | Iterable<Buffer>,
  firstLine = 1,
  bounds: RecordBounds = UNBOUNDED,
): AsyncGenerator<CsvByteBatch> {
  const batch = spareBuilders.pop() ?? new BatchBuilder();
  // Bytes held already (a small file read whole) come as an array: no generator in between.
  const source: AsyncIterator<Buffer> | Iterator<Buffer> = Symbol.asyncIterator in bytes ? bytes[Symbol.asyncIterator]() : bytes[Symbol.iterator]();
  let pending: Buffer = Buffer.alloc(0);
  /** Reads added to `pending` once it holds this much: a record longer than a read is not rescanned per read. */
  let wantBytes = 0;
  const waiting: Buffer[] = [];
  let line = firstLine;
  let atStart = true;
  let ended = false;
  try {
    for (;;) {
      // Gather reads until there are enough new bytes to scan.
      let have = pending.length;
      while (!ended && (waiting.length === 0 || have < wantBytes)) {
        const next = await source.next();
        if (next.done) ended = true;
        else {
          waiting.push(next.value);
          have += next.value.length;
        }
      }
      if (waiting.length > 0) {
        pending = pending.length === 0 && waiting.length === 1 ? waiting[0]! : Buffer.concat([pending, ...waiting]);
        waiting.length = 0;
      }
      if (atStart) {
        // A BOM counts only whole and at the start of the stream: wait until three bytes are there.
        if (pending.length < 3 && !ended) continue;
        if (pending[0] === 0xef && pending[1] === 0xbb && pending[2] === 0xbf) pending = pending.subarray(3);
        atStart = false;
      }
      batch.reset(pending);
      const scan = takeRecords(pending, batch, line, ended, bounds.maxColumns);
      line = scan.line;
      if (batch.records > 0) yield batch;
      if (scan.stop === Stop.OpenQuote) {
        throw new CsvFileError(`line ${scan.quoteLine}: Quote Not Closed: the quote opened at line ${scan.quoteLine} is never closed`, scan.quoteLine);
      }
      if (scan.stop === Stop.Irregular) {
        yield* csvParseFrom(pending.subarray(scan.rest), source, line, batch, bounds);
        return;
      }
      pending = pending.subarray(scan.rest);
      if (pending.length > bounds.maxRecordBytes) throw recordTooLong(line, bounds.maxRecordBytes);
      if (ended) return;
      wantBytes = Math.max(MIN_READ, pending.length * 2);
    }
  } finally {
    // A stream read only part way is destroyed by its iterator's return.
    await source.return?.();
    releaseBuilder(batch);
  }
}

/**
 * `csvByteBatches` of bytes held whole (a small file read ahead), taken at once with no generator or promise:
 * the one batch of their records, or undefined when this reader does not take them all (a record csv-parse
 * must judge, a quote left open), and `csvByteBatches` then reads them for the same records or error. A
 * record over `bounds.maxColumns` fails with a FileBoundError. The batch is the reader's, reused by its next
 * call: a chunk of small files has one reader, not a builder a file.
 */
export class WholeCsvReader {
  private readonly batch = new BatchBuilder();

  take(bytes: Buffer, firstLine = 1, bounds: RecordBounds = UNBOUNDED): CsvByteBatch | undefined {
    const body = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
    this.batch.reset(body);
    const scan = takeRecords(body, this.batch, firstLine, true, bounds.maxColumns);
    return scan.stop === Stop.NeedMore ? this.batch : undefined;
  }
}

interface Scan {
  stop: Stop;
  /** Offset of the first byte not taken. */
  rest: number;
  /** Line number at `rest`. */
  line: number;
  /** For OpenQuote: the line where the open quote is. */
  quoteLine: number;
}

/** Takes every complete record of `buf` into `batch`; `ended` says no byte follows `buf`. */
function takeRecords(buf: Buffer, batch: BatchBuilder, firstLine: number, ended: boolean, maxColumns: number): Scan {
  const n = buf.length;
  let p = 0;
  let line = firstLine;
  for (;;) {
    // At a record start: skip empty lines (LF, or CRLF).
    const recordStart = p;
    const recordLine = line;
    if (p === n) return { stop: Stop.NeedMore, rest: p, line, quoteLine: 0 };
    if (buf[p] === LF) {
      p++;
      line++;
      continue;
    }
    if (buf[p] === CR) {
      if (p + 1 === n && !ended) return { stop: Stop.NeedMore, rest: p, line, quoteLine: 0 };
      if (buf[p + 1] === LF) {
        p += 2;
        line++;
        continue;
      }
    }
    const fieldsBefore = batch.fields;
    // Fields, until a line end or the end of the bytes.
    let stop: Stop | -1 = -1;
    let recordDone = false;
    while (!recordDone) {
      if (buf[p] === QUOTE) {
        const quoteLine = line;
        const start = p + 1;
        let escaped = 0;
        let q = start;
        let end = -1;
        for (;;) {
          const close = buf.indexOf(QUOTE, q);
          if (close < 0) {
            stop = ended ? Stop.OpenQuote : Stop.NeedMore;
            break;
          }
          if (close + 1 < n && buf[close + 1] === QUOTE) {
            escaped = 1;
            q = close + 2;
            continue;
          }
          if (close + 1 === n && !ended) {
            stop = Stop.NeedMore;
            break;
          }
          end = close;
          break;
        }
        if (end < 0) {
          if (stop === Stop.OpenQuote) return { stop, rest: recordStart, line: recordLine, quoteLine };
          break;
        }
        // Line ends inside the quotes are lines of the file.
        for (let nl = buf.indexOf(LF, start); nl >= 0 && nl < end; nl = buf.indexOf(LF, nl + 1)) line++;
        batch.addField(start, end, escaped);
        p = end + 1;
        if (p === n) {
          recordDone = true;
        } else if (buf[p] === COMMA) {
          p++;
          if (p === n) {
            if (!ended) {
              stop = Stop.NeedMore;
              break;
            }
            batch.addField(p, p, 0);
            recordDone = true;
          }
        } else if (buf[p] === LF) {
          p++;
          recordDone = true;
        } else if (buf[p] === CR && p + 1 < n && buf[p + 1] === LF) {
          p += 2;
          recordDone = true;
        } else if (buf[p] === CR && p + 1 === n && !ended) {
          stop = Stop.NeedMore;
          break;
        } else {
          stop = Stop.Irregular;
          break;
        }
      } else {
        // An unquoted field: up to a comma or a line end; a quote in it is csv-parse's to judge.
        const start = p;
        let c = 0;
        while (p < n) {
          c = buf[p]!;
          if (c === COMMA || c === LF || c === QUOTE) break;
          p++;
        }
        if (c === QUOTE && p < n) {
          stop = Stop.Irregular;
          break;
        }
        if (p === n) {
          if (!ended) {
            stop = Stop.NeedMore;
            break;
          }
          batch.addField(start, p, 0);
          recordDone = true;
        } else if (c === COMMA) {
          batch.addField(start, p, 0);
          p++;
          if (p === n) {
            if (!ended) {
              stop = Stop.NeedMore;
              break;
            }
            batch.addField(p, p, 0);
            recordDone = true;
          }
        } else {
          // A line end: a CR before it belongs to it.
          batch.addField(start, p > start && buf[p - 1] === CR ? p - 1 : p, 0);
          p++;
          recordDone = true;
        }
      }
    }
    if (stop !== -1) {
      batch.dropFields(fieldsBefore);
      return { stop, rest: recordStart, line: recordLine, quoteLine: 0 };
    }
    // The record ends on the line of its line end; one ending with the bytes, on the current line.
    const endsWithLineEnd = buf[p - 1] === LF;
    if (batch.fields - fieldsBefore > maxColumns) throw tooManyColumns(recordLine, maxColumns);
    batch.endRecord(line);
    if (endsWithLineEnd) line++;
  }
}

/**
 * csv-parse reads the rest of the stream, from the record this reader does not
 * take; its records are handed on in the same shape, re-encoded. The file's
 * BOM, if any, was dropped already: one there now is text.
 */
async function* csvParseFrom(
  rest: Buffer,
  source: AsyncIterator<Buffer> | Iterator<Buffer>,
  line: number,
  batch: BatchBuilder,
  bounds: RecordBounds,
): AsyncGenerator<CsvByteBatch> {
  async function* bytes() {
    yield rest;
    for (let next = await source.next(); !next.done; next = await source.next()) yield next.value;
  }
  for await (const { records, lines } of csvRecordBatches(Readable.from(bytes()), line, { bom: false, bounds })) {
    const parts: Buffer[] = [];
    let at = 0;
    const fields: [number, number][] = [];
    const recordEnds: number[] = [0];
    for (const [r, record] of records.entries()) {
      if (record.length > bounds.maxColumns) throw tooManyColumns(lines[r]!, bounds.maxColumns);
      for (const field of record) {
        const encoded = Buffer.from(field);
        parts.push(encoded);
        fields.push([at, at + encoded.length]);
        at += encoded.length;
      }
      recordEnds.push(fields.length);
    }
    batch.reset(Buffer.concat(parts));
    for (let r = 0; r < records.length; r++) {
      for (let f = recordEnds[r]!; f < recordEnds[r + 1]!; f++) batch.addField(fields[f]![0], fields[f]![1], 0);
      batch.endRecord(lines[r]!);
    }
    yield batch;
  }
}
