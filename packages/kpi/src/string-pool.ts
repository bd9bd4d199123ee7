const utf8 = new TextEncoder();
const text = new TextDecoder();

/** UTF-8 text as a range of a buffer: what a reader hands on without a view or a string per value. */
export interface Utf8Slice {
  bytes: Uint8Array;
  start: number;
  end: number;
}

/** A typed array with room for `need` items, its contents kept (doubling). */
export function withRoom<T extends Int32Array | Uint8Array | Uint16Array | Float64Array>(array: T, need: number): T {
  if (need <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(need, array.length * 2, 16));
  next.set(array);
  return next;
}

/**
 * Copies `source[start, end)` into `target` at `at`; returns the bytes copied. A loop, not `set(subarray)` or
 * `Buffer.copy`: the strings copied are short, and a view or a call into C++ for each cost more than its bytes.
 */
export function copyBytes(source: Uint8Array, start: number, end: number, target: Uint8Array, at: number): number {
  for (let i = start; i < end; i++) target[at++] = source[i]!;
  return end - start;
}

/**
 * MurmurHash3's finalizer: every bit of `value` moves every bit of the hash. An
 * open-addressing table keyed by user ids must use it rather than a plain
 * multiplicative hash, whose top bits are the user bucket: the users of one row
 * group or pass share them and would pile into a few slots.
 */
export function mixInt32(value: number): number {
  let h = Math.imul(value ^ (value >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** FNV-1a over `bytes[start, end)`, as an int32 (what an Int32Array stores: the empty string's too). */
export function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let hash = 0x811c9dc5 | 0;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash;
}

/** Orders two UTF-8 byte strings: byte order is code-point order (SPEC 4.2's tie-breaks). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

/**
 * UTF-8 strings appended to one buffer, numbered 0, 1, ... in the order they
 * were added, with no lookup: what holds a track's name, which nothing looks
 * up by its text (`StringPool` is the one with a lookup).
 */
export class Utf8Column {
  private bytes: Uint8Array;
  private used = 0;
  /** String `s` is `bytes[starts[s] .. starts[s + 1])`. */
  private starts: Int32Array;
  private count = 0;

  /** Sized for `strings` strings of `bytes` bytes in all when the caller knows (no doubling copies on the way). */
  constructor(strings = 1 << 8, bytes = 1 << 12) {
    this.bytes = new Uint8Array(Math.max(16, bytes));
    this.starts = new Int32Array(Math.max(16, strings + 1));
  }

  get size(): number {
    return this.count;
  }

  /** Appends the UTF-8 string `bytes[start, end)`; returns its number. */
  add(bytes: Uint8Array, start: number, end: number): number {
    const id = this.count++;
    const at = this.used;
    const n = end - start;
    if (at + n > this.bytes.length) this.bytes = withRoom(this.bytes, at + n);
    copyBytes(bytes, start, end, this.bytes, at);
    this.used = at + n;
    if (id + 2 > this.starts.length) this.starts = withRoom(this.starts, id + 2);
    this.starts[id + 1] = this.used;
    return id;
  }

  /** Whether string `id` is `bytes[start, end)`. */
  equals(id: number, bytes: Uint8Array, start: number, end: number): boolean {
    const at = this.starts[id]!;
    if (this.starts[id + 1]! - at !== end - start) return false;
    const pool = this.bytes;
    for (let i = start; i < end; i++) if (pool[at + i - start] !== bytes[i]) return false;
    return true;
  }

  /** String `id`'s UTF-8 bytes (a view: copy to keep it past the next `add`). */
  bytesOf(id: number): Uint8Array {
    return this.bytes.subarray(this.starts[id], this.starts[id + 1]);
  }

  /** The length of string `id` in bytes. */
  byteLength(id: number): number {
    return this.starts[id + 1]! - this.starts[id]!;
  }

  /** Copies string `id`'s bytes into `out` at `at` (no view made: a dictionary page copies thousands). */
  copyInto(id: number, out: Uint8Array, at: number): void {
    copyBytes(this.bytes, this.starts[id]!, this.starts[id + 1]!, out, at);
  }

  /** Strings `from` to `to - 1`, their UTF-8 bytes each followed by `separator` but the last. */
  joined(from: number, to: number, separator: number): Uint8Array {
    if (to <= from) return new Uint8Array(0);
    const out = new Uint8Array(this.starts[to]! - this.starts[from]! + to - from - 1);
    let at = 0;
    for (let id = from; id < to; id++) {
      if (id > from) out[at++] = separator;
      out.set(this.bytesOf(id), at);
      at += this.starts[id + 1]! - this.starts[id]!;
    }
    return out;
  }

  text(id: number): string {
    return text.decode(this.bytesOf(id));
  }
}

/**
 * Interned strings as UTF-8 in one buffer (`Utf8Column`), numbered 0, 1, ...
 * in the order they were first seen, found through an open-addressing table
 * of ids on their bytes: about 16 bytes a string beside its bytes, where a Map
 * of strings costs 80-100 (a long-tail day's 800k tracks and their artists
 * exhausted a capped heap as Maps and objects). A slot holding the hash beside
 * the id read one cache line less a probe, but cost 8-13 MB of a long-tail
 * day's peak for no CPU the bench could see.
 */
export class StringPool {
  private readonly strings: Utf8Column;
  private hashes: Int32Array;
  /** Slot k holds a string's id + 1 (0: empty). */
  private slots: Int32Array;
  private mask: number;
  private scratch = new Uint8Array(256);
  private filter: Int32Array | undefined;
  private filterShift = 0;

  /**
   * Sized for `strings` strings of `bytes` bytes in all when the caller knows:
   * a pool grown from empty to a long-tail chunk's 260k track ids rehashed 10
   * times on the way (1.5 s of a long-tail day's worker CPU, all pools).
   */
  constructor(strings = 1 << 8, bytes = 1 << 12) {
    this.strings = new Utf8Column(strings, bytes);
    this.hashes = new Int32Array(Math.max(16, strings));
    let slots = 1 << 9;
    while (slots < 2 * strings) slots *= 2;
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.strings.size;
  }

  /** The id of `value`, added when new. */
  intern(value: string): number {
    this.scratch = withRoom(this.scratch, value.length * 3);
    const { written } = utf8.encodeInto(value, this.scratch);
    return this.internBytes(this.scratch, 0, written);
  }

  /** The id of the UTF-8 string `bytes[start, end)`, added when new. */
  internBytes(bytes: Uint8Array, start: number, end: number): number {
    const hash = hashBytes(bytes, start, end);
    const slot = this.slotOf(hash, bytes, start, end);
    const known = this.slots[slot]! - 1;
    return known >= 0 ? known : this.insert(slot, hash, bytes, start, end);
  }

  /** The id of `bytes[start, end)`, or -1 when it is not in the pool. */
  find(bytes: Uint8Array, start: number, end: number): number {
    const hash = hashBytes(bytes, start, end);
    const filter = this.filter;
    if (filter) {
      const bit = hash >>> this.filterShift;
      if (((filter[bit >>> 5]! >>> (bit & 31)) & 1) === 0) return -1;
    }
    return this.slots[this.slotOf(hash, bytes, start, end)]! - 1;
  }

  /**
   * Makes `find` look first into a one-hash Bloom filter of the strings' hashes (16 bits a string, so it stays in the
   * cache): for a pool asked mostly for strings it lacks, as a transform's keys are asked for every row of the run's
   * songs snapshot (three in four, of tracks its chunk does not play, on a long-tail day), where a probe of the slots
   * and the hashes is two misses of the cache. Adding a string drops it.
   */
  buildFilter(): void {
    let bits = 10;
    while (1 << bits < 16 * this.size && bits < 30) bits++;
    const filter = new Int32Array(1 << (bits - 5));
    const shift = 32 - bits;
    for (let id = 0; id < this.size; id++) {
      const bit = this.hashes[id]! >>> shift;
      filter[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.filter = filter;
    this.filterShift = shift;
  }

  /** String `id`'s UTF-8 bytes (a view: copy to keep it past the next `intern`). */
  bytesOf(id: number): Uint8Array {
    return this.strings.bytesOf(id);
  }

  byteLength(id: number): number {
    return this.strings.byteLength(id);
  }

  copyInto(id: number, out: Uint8Array, at: number): void {
    this.strings.copyInto(id, out, at);
  }

  /** Strings `from` to `to - 1`, their UTF-8 bytes each followed by `separator` but the last. */
  joined(from: number, to: number, separator: number): Uint8Array {
    return this.strings.joined(from, to, separator);
  }

  text(id: number): string {
    return this.strings.text(id);
  }

  /** The hash `internBytes` keyed string `id` with: callers partition by it without hashing again. */
  hashOf(id: number): number {
    return this.hashes[id]!;
  }

  /** The index in `slots` of the slot that holds `bytes[start, end)`, or of the empty slot where it goes. */
  private slotOf(hash: number, bytes: Uint8Array, start: number, end: number): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = slots[s]! - 1;
      if (e < 0 || (this.hashes[e] === hash && this.strings.equals(e, bytes, start, end))) return s;
    }
  }

  private insert(slot: number, hash: number, bytes: Uint8Array, start: number, end: number): number {
    const id = this.strings.add(bytes, start, end);
    this.filter = undefined;
    if (id >= this.hashes.length) this.hashes = withRoom(this.hashes, id + 1);
    this.hashes[id] = hash;
    this.slots[slot] = id + 1;
    // At most half full, so probes stay short.
    if (this.size * 2 > this.mask + 1) this.rehash();
    return id;
  }

  private rehash(): void {
    const size = 2 * (this.mask + 1);
    const slots = new Int32Array(size);
    const mask = size - 1;
    for (let e = 0; e < this.size; e++) {
      let s = this.hashes[e]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
