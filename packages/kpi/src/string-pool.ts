const utf8 = new TextEncoder();
const text = new TextDecoder();

/** A typed array with room for `need` items, its contents kept (doubling). */
export function withRoom<T extends Int32Array | Uint8Array | Uint16Array | Float64Array>(array: T, need: number): T {
  if (need <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(need, array.length * 2, 16));
  next.set(array);
  return next;
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
 * Interned strings as UTF-8 in one buffer, numbered 0, 1, ... in the order
 * they were first seen, found through an open-addressing table on their
 * bytes: about 12-20 bytes a string beside its bytes, where a Map of strings
 * costs 80-100 (a long-tail day's 800k tracks and their artists exhausted a
 * capped heap as Maps and objects).
 */
export class StringPool {
  private bytes = new Uint8Array(1 << 12);
  /** String `s` is `bytes[starts[s] .. starts[s + 1])`. */
  private starts = new Int32Array(1 << 8);
  private hashes = new Int32Array(1 << 8);
  private slots = new Int32Array(1 << 9).fill(-1);
  private count = 0;
  private scratch = new Uint8Array(256);

  get size(): number {
    return this.count;
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
    const known = this.slots[slot]!;
    return known >= 0 ? known : this.insert(slot, hash, bytes, start, end);
  }

  /** The id of `bytes[start, end)`, or -1 when it is not in the pool. */
  find(bytes: Uint8Array, start: number, end: number): number {
    return this.slots[this.slotOf(hashBytes(bytes, start, end), bytes, start, end)]!;
  }

  /** String `id`'s UTF-8 bytes (a view: copy to keep it past the next `intern`). */
  bytesOf(id: number): Uint8Array {
    return this.bytes.subarray(this.starts[id], this.starts[id + 1]);
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

  /** The hash `internBytes` keyed string `id` with: callers partition by it without hashing again. */
  hashOf(id: number): number {
    return this.hashes[id]!;
  }

  private slotOf(hash: number, bytes: Uint8Array, start: number, end: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]!;
      if (e < 0 || (this.hashes[e] === hash && this.same(e, bytes, start, end))) return s;
    }
  }

  private same(e: number, bytes: Uint8Array, start: number, end: number): boolean {
    const at = this.starts[e]!;
    if (this.starts[e + 1]! - at !== end - start) return false;
    for (let i = start; i < end; i++) if (this.bytes[at + i - start] !== bytes[i]) return false;
    return true;
  }

  private insert(slot: number, hash: number, bytes: Uint8Array, start: number, end: number): number {
    const id = this.count++;
    const at = this.starts[id]!;
    this.bytes = withRoom(this.bytes, at + end - start);
    this.bytes.set(bytes.subarray(start, end), at);
    this.starts = withRoom(this.starts, id + 2);
    this.starts[id + 1] = at + end - start;
    this.hashes = withRoom(this.hashes, id + 1);
    this.hashes[id] = hash;
    this.slots[slot] = id;
    // At most half full, so probes stay short.
    if (this.count * 2 > this.slots.length) this.rehash();
    return id;
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = slots.length - 1;
    for (let e = 0; e < this.count; e++) {
      let s = this.hashes[e]! & mask;
      while (slots[s]! >= 0) s = (s + 1) & mask;
      slots[s] = e;
    }
    this.slots = slots;
  }
}
