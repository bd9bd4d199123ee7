import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { ByteRange, ObjectInfo, ObjectStore } from '@musicflow/storage';

/**
 * The binary record artifacts: the per-file ones a run of 100k small files crosses a record a file (a chunk's
 * segments and validations, a pack's files, the run's file list). The run's file list of 100k records read
 * back (a throwaway script, three rounds in one process): 0.4-1.1 µs of CPU a record, against 1.2-2.0 as
 * JSON lines checked with zod.
 *
 *   record: u32 body length | body
 *   body:   the artifact's fields in order, little-endian: u8, u32, f64 (counts a u32 may not hold),
 *           text: u32 UTF-8 byte length | bytes; an optional text's absence is the length 0xffffffff
 *
 * A record's length comes first so a file of them can be cut into byte ranges at record ends (the archive's
 * slices) and read as a stream, and a reader refuses a record whose fields do not fill its length exactly.
 */
const ABSENT = 0xffffffff;

/** Bytes an encoder starts with, and hands on at (`RecordWriter`). */
const PIECE_BYTES = 64 << 10;

/** Encodes records into a buffer that grows as needed. */
export class RecordEncoder {
  private bytes = Buffer.allocUnsafe(PIECE_BYTES);
  private at = 0;
  private recordStart = 0;

  /** Bytes of the whole records encoded since the last `take`. */
  get length(): number {
    return this.at;
  }

  begin(): void {
    this.room(4);
    this.recordStart = this.at;
    this.at += 4;
  }

  end(): void {
    this.bytes.writeUInt32LE(this.at - this.recordStart - 4, this.recordStart);
  }

  u8(value: number): void {
    this.room(1);
    this.at = this.bytes.writeUInt8(value, this.at);
  }

  u32(value: number): void {
    this.room(4);
    this.at = this.bytes.writeUInt32LE(value, this.at);
  }

  f64(value: number): void {
    this.room(8);
    this.at = this.bytes.writeDoubleLE(value, this.at);
  }

  text(value: string): void {
    // A UTF-16 unit is at most 3 UTF-8 bytes: room without measuring first.
    this.room(4 + 3 * value.length);
    const length = this.bytes.write(value, this.at + 4);
    this.bytes.writeUInt32LE(length, this.at);
    this.at += 4 + length;
  }

  optionalText(value: string | undefined): void {
    if (value === undefined) this.u32(ABSENT);
    else this.text(value);
  }

  /** The records encoded so far; the encoder starts again empty. */
  take(): Buffer {
    const taken = this.bytes.subarray(0, this.at);
    this.bytes = Buffer.allocUnsafe(Math.max(PIECE_BYTES, this.at));
    this.at = 0;
    return taken;
  }

  private room(n: number): void {
    if (this.at + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.at + n));
    this.bytes.copy(grown, 0, 0, this.at);
    this.bytes = grown;
  }
}

/**
 * Reads records from bytes, each checked to lie within its bytes and its record: what does not is refused naming
 * the artifact (`what`: its URL), the record and byte (counted from `firstRecord` and `firstByte`: a piece of a
 * stream) and what is wrong.
 */
export class RecordDecoder {
  private at = 0;
  private recordEnd = 0;
  private record: number;

  constructor(
    private readonly bytes: Buffer,
    private readonly what: string,
    firstRecord = 1,
    private readonly firstByte = 0,
  ) {
    this.record = firstRecord - 1;
  }

  /** Starts the next record; false at the end of the bytes. */
  next(): boolean {
    if (this.at !== this.recordEnd) this.refuse(`its fields end at byte ${this.at}, its length says ${this.recordEnd}`);
    if (this.at === this.bytes.length) return false;
    this.record++;
    if (this.at + 4 > this.bytes.length) this.refuse('cut short');
    const length = this.bytes.readUInt32LE(this.at);
    this.at += 4;
    if (this.at + length > this.bytes.length) this.refuse(`cut short (a record of ${length} bytes)`);
    this.recordEnd = this.at + length;
    return true;
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.at++]!;
  }

  u32(): number {
    this.need(4);
    this.at += 4;
    return this.bytes.readUInt32LE(this.at - 4);
  }

  /** A yes or no written as a u8 1 or 0. */
  flag(field: string): boolean {
    this.need(1);
    const value = this.bytes[this.at]!;
    if (value > 1) this.refuse(`${field} is ${value}, not 0 or 1`);
    this.at++;
    return value === 1;
  }

  f64(): number {
    this.need(8);
    this.at += 8;
    return this.bytes.readDoubleLE(this.at - 8);
  }

  /** A count: an f64 that must be a whole number from 0 to 2^53. */
  count(field: string): number {
    const value = this.f64();
    if (!Number.isSafeInteger(value) || value < 0) this.refuse(`${field} is ${value}, not a count`);
    return value;
  }

  text(): string {
    const length = this.u32();
    if (length === ABSENT) this.refuse('a text is absent where one is required');
    return this.utf8(length);
  }

  optionalText(): string | undefined {
    const length = this.u32();
    return length === ABSENT ? undefined : this.utf8(length);
  }

  refuse(what: string): never {
    throw new Error(
      `${this.what}: record ${this.record}, byte ${this.firstByte + this.at}: ${what}; the run's temporaries were written by another release or cut short`,
    );
  }

  private utf8(length: number): string {
    this.need(length);
    this.at += length;
    return this.bytes.toString('utf8', this.at - length, this.at);
  }

  private need(n: number): void {
    if (this.at + n > this.recordEnd) this.refuse('a field runs past the end of its record');
  }
}

/** Writes records as they come (the commit's run file list), a piece at a time; `end` waits for the object to be whole. */
export class RecordWriter {
  readonly encoder = new RecordEncoder();
  private readonly body = new PassThrough();
  private readonly upload: Promise<ObjectInfo>;

  constructor(
    store: ObjectStore,
    readonly url: string,
  ) {
    this.upload = store.write(url, this.body);
    this.upload.catch(() => undefined);
  }

  /** Hands the records encoded so far to the upload once they fill a piece. */
  async flush(): Promise<void> {
    if (this.encoder.length >= PIECE_BYTES) await this.write(this.encoder.take());
  }

  /** Records already encoded as bytes (another artifact of the same records), copied as they are after those encoded. */
  async append(bytes: AsyncIterable<Buffer>): Promise<void> {
    if (this.encoder.length) await this.write(this.encoder.take());
    for await (const piece of bytes) await this.write(piece);
  }

  async end(): Promise<ObjectInfo> {
    if (this.encoder.length) await this.write(this.encoder.take());
    this.body.end();
    return this.upload;
  }

  abort(err: Error): void {
    this.body.destroy(err);
  }

  private async write(piece: Buffer): Promise<void> {
    if (!this.body.write(piece)) await once(this.body, 'drain');
  }
}

/** Writes a small artifact's records (a chunk's) as one object. */
export async function writeAllRecords<T>(
  store: ObjectStore,
  url: string,
  records: readonly T[],
  encode: (out: RecordEncoder, record: T) => void,
): Promise<void> {
  const out = new RecordEncoder();
  for (const record of records) encode(out, record);
  await store.write(url, out.take());
}

/** Every record of a small artifact (a chunk's), read at once. */
export async function readAllRecords<T>(store: ObjectStore, url: string, decode: (d: RecordDecoder) => T): Promise<T[]> {
  const decoder = new RecordDecoder(await store.readBuffer(url), url);
  const records: T[] = [];
  while (decoder.next()) records.push(decode(decoder));
  return records;
}

/**
 * The records at `url`, or in a range of it cut at record ends (a slice), decoded a piece of the stream at a
 * time: never the whole artifact in memory (a million files' list).
 */
export async function* readRecordBatches<T>(store: ObjectStore, url: string, decode: (d: RecordDecoder) => T, range?: ByteRange): AsyncGenerator<T[]> {
  let records = 0;
  for await (const { bytes, offset } of wholeRecordPieces(store, url, range)) {
    const decoder = new RecordDecoder(bytes, url, records + 1, offset);
    const batch: T[] = [];
    while (decoder.next()) batch.push(decode(decoder));
    records += batch.length;
    yield batch;
  }
}

/** One record's byte range in a stream of records, and its body. */
export interface RecordSpan {
  start: number;
  end: number;
  body: Buffer;
}

/**
 * The records at `url` as byte spans without decoding them (the load cuts a million files' list into archive
 * slices by a field at the start of each body), a piece of the stream at a time.
 */
export async function* recordSpans(store: ObjectStore, url: string): AsyncGenerator<RecordSpan[]> {
  for await (const { bytes, offset } of wholeRecordPieces(store, url)) {
    const spans: RecordSpan[] = [];
    for (let at = 0; at < bytes.length;) {
      const end = at + 4 + bytes.readUInt32LE(at);
      spans.push({ start: offset + at, end: offset + end, body: bytes.subarray(at + 4, end) });
      at = end;
    }
    yield spans;
  }
}

/** The stream at `url` (or a range of it) in pieces of whole records, each with its offset in the object. */
async function* wholeRecordPieces(store: ObjectStore, url: string, range?: ByteRange): AsyncGenerator<{ bytes: Buffer; offset: number }> {
  let rest: Buffer = Buffer.alloc(0);
  let offset = range?.start ?? 0;
  let records = 0;
  for await (const piece of await store.read(url, range)) {
    const bytes = rest.length ? Buffer.concat([rest, piece as Buffer]) : (piece as Buffer);
    let whole = 0;
    while (whole + 4 <= bytes.length) {
      const end = whole + 4 + bytes.readUInt32LE(whole);
      if (end > bytes.length) break;
      whole = end;
      records++;
    }
    rest = bytes.subarray(whole);
    if (whole) yield { bytes: bytes.subarray(0, whole), offset };
    offset += whole;
  }
  // A record begun and never finished: the decoder says where.
  if (rest.length) new RecordDecoder(rest, url, records + 1, offset).next();
}
