/**
 * A KPI partial: what one accumulator counted (a pass over a share of a
 * date's users), in binary, for a merge that holds one group of track
 * shards at a time. Tracks are partitioned by a hash of their id and artists
 * by a hash of their name into PARTIAL_SHARDS shards, so a date's merge
 * never holds every distinct track or artist of the date at once.
 *
 *   "MFKP" | u32 header bytes (from the start of the file) | u32 version |
 *   u32 shards | u32 dates | dates: i32 day, f64[24] listeners, f64[24] plays |
 *   u32 genres | genres: str | u32[shards + 1] shard offsets (from the header's end) |
 *   shards: u32 tracks | tracks | u32 artists | artists
 *
 *   track: str id | u8 has info | info: str name, i32 duration ms,
 *          i32 popularity, i32 genres, i32 genre index each (into the
 *          header's genres) | per date: i32 hour mask, i32 plays whose
 *          rows carried catalogue info
 *   artist: str name | u32 entries | entries: u16 date index | u8 hour |
 *           i32 plays (an artist's hours together: the merge interns each
 *           artist once a shard, not once an hour it played)
 *   str: u16 byte length | UTF-8 bytes
 */
export const PARTIAL_MAGIC = 0x504b464d; // "MFKP" little-endian
export const PARTIAL_VERSION = 3;
export const PARTIAL_SHARDS = 64;
/** Magic and header length: enough of the file to know how much header to read. */
export const PARTIAL_PREFIX_BYTES = 8;

/** The shard of a track id or artist name hashed with `hashBytes`. */
export const shardOfHash = (hash: number, shards: number) => (hash >>> 0) % shards;

export class PartialFormatError extends Error {}

/** Writes into a buffer sized beforehand (`ByteSize` counts what will be written). */
export class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  offset = 0;

  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  u8(v: number): void {
    this.bytes[this.offset++] = v;
  }

  u16(v: number): void {
    this.view.setUint16(this.offset, v, true);
    this.offset += 2;
  }

  i32(v: number): void {
    this.view.setInt32(this.offset, v, true);
    this.offset += 4;
  }

  f64(v: number): void {
    this.view.setFloat64(this.offset, v, true);
    this.offset += 8;
  }

  str(utf8: Uint8Array): void {
    if (utf8.length > 0xffff) throw new RangeError(`a KPI partial holds strings of at most 65535 bytes, not ${utf8.length}`);
    this.u16(utf8.length);
    this.bytes.set(utf8, this.offset);
    this.offset += utf8.length;
  }
}

/** Reads what ByteWriter wrote; running past the end is a PartialFormatError naming `what`. */
export class ByteReader {
  private readonly view: DataView;
  offset = 0;

  constructor(
    readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.length) throw new PartialFormatError(`${this.what}: truncated at byte ${this.offset} (needs ${n} more)`);
  }

  u8(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }

  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.offset, true);
    this.offset += 4;
    return v;
  }

  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }

  /** A string's bytes, as a view of the partial's. */
  str(): Uint8Array {
    const start = this.skipStr();
    return this.bytes.subarray(start, this.offset);
  }

  /**
   * Steps over a string and returns where its bytes start (they end at `offset`): a merge reads hundreds of
   * thousands of track ids and names, and a view of each was most of its garbage.
   */
  skipStr(): number {
    const n = this.u16();
    this.need(n);
    const start = this.offset;
    this.offset += n;
    return start;
  }
}

export interface PartialDate {
  /** Days since the epoch (UTC). */
  day: number;
  listeners: Float64Array;
  plays: Float64Array;
}

/** What a partial's header says: its dates' hour counts, its genres, and where each shard is. */
export interface PartialHeader {
  /** For messages: the partial's URL. */
  source: string;
  headerBytes: number;
  shards: number;
  dates: PartialDate[];
  genres: string[];
  /** Shard `s` is bytes `[headerBytes + shardOffsets[s], headerBytes + shardOffsets[s + 1])` of the partial. */
  shardOffsets: Uint32Array;
}

/** The header's length from the partial's first PARTIAL_PREFIX_BYTES bytes. */
export function partialHeaderBytes(prefix: Uint8Array, source: string): number {
  const reader = new ByteReader(prefix, source);
  if (prefix.length < PARTIAL_PREFIX_BYTES || reader.u32() !== PARTIAL_MAGIC) throw new PartialFormatError(`${source}: not a KPI partial`);
  return reader.u32();
}

const decoder = new TextDecoder();

export function decodePartialHeader(bytes: Uint8Array, source: string): PartialHeader {
  const headerBytes = partialHeaderBytes(bytes, source);
  const reader = new ByteReader(bytes.subarray(0, headerBytes), source);
  reader.offset = PARTIAL_PREFIX_BYTES;
  const version = reader.u32();
  if (version !== PARTIAL_VERSION) throw new PartialFormatError(`${source}: KPI partial version ${version}, this release reads ${PARTIAL_VERSION}`);
  const shards = reader.u32();
  const dates: PartialDate[] = Array.from({ length: reader.u32() }, () => {
    const day = reader.i32();
    const listeners = Float64Array.from({ length: 24 }, () => reader.f64());
    const plays = Float64Array.from({ length: 24 }, () => reader.f64());
    return { day, listeners, plays };
  });
  const genres = Array.from({ length: reader.u32() }, () => decoder.decode(reader.str()));
  const shardOffsets = Uint32Array.from({ length: shards + 1 }, () => reader.u32());
  for (let s = 0; s < shards; s++) {
    if (shardOffsets[s + 1]! < shardOffsets[s]!) throw new PartialFormatError(`${source}: shard ${s} ends before it starts`);
  }
  return { source, headerBytes, shards, dates, genres, shardOffsets };
}

/** Counts per int32 key (open addressing), for sparse counters such as plays per (artist, hour). */
export class IntCounts {
  private keys = new Int32Array(1 << 10).fill(-1);
  private values = new Int32Array(1 << 10);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `n` to the count of `key` (a non-negative int32). */
  add(key: number, n: number): void {
    const mask = this.keys.length - 1;
    for (let i = Math.imul(key, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const k = this.keys[i]!;
      if (k === key) {
        this.values[i]! += n;
        return;
      }
      if (k === -1) {
        this.keys[i] = key;
        this.values[i] = n;
        if (++this.count * 4 > this.keys.length * 3) this.grow();
        return;
      }
    }
  }

  forEach(f: (key: number, count: number) => void): void {
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== -1) f(this.keys[i]!, this.values[i]!);
  }

  private grow(): void {
    const { keys, values } = this;
    this.keys = new Int32Array(keys.length * 2).fill(-1);
    this.values = new Int32Array(keys.length * 2);
    this.count = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== -1) this.add(keys[i]!, values[i]!);
  }
}

/**
 * Items 0 to `items - 1` grouped by a key from 0 to `groups - 1` (a stable counting sort): `order[starts[g] ..
 * starts[g + 1])` are group g's items, in the order of `within` when given (a permutation of the items).
 */
export function groupBy(items: number, groups: number, keyOf: (item: number) => number, within?: Int32Array): { order: Int32Array; starts: Int32Array } {
  const starts = new Int32Array(groups + 1);
  const keys = new Int32Array(items);
  for (let i = 0; i < items; i++) starts[(keys[i] = keyOf(i)) + 1]!++;
  for (let g = 0; g < groups; g++) starts[g + 1]! += starts[g]!;
  const next = starts.slice(0, groups);
  const order = new Int32Array(items);
  for (let j = 0; j < items; j++) {
    const i = within ? within[j]! : j;
    order[next[keys[i]!]!++] = i;
  }
  return { order, starts };
}
