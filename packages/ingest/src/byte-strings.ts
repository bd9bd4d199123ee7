import { grow } from './csv-bytes.ts';

/**
 * A set of byte strings (ids as a CSV holds them), looked up by a range of a
 * read's bytes: no string per lookup. Open addressing on an FNV-1a hash, the
 * keys copied into one buffer. Entries are numbered 0, 1, ... in the order
 * they were added, so a user keeps what it knows of each in arrays indexed by
 * entry.
 */
export class ByteStringSet {
  private hashes = new Int32Array(1024);
  private keyStart = new Int32Array(1024);
  private keyEnd = new Int32Array(1024);
  private keys = Buffer.alloc(64 * 1024);
  private keysUsed = 0;
  private slots = new Int32Array(4096).fill(-1);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The entry of `bytes[start, end)`, or -1 when it is not in the set. */
  find(bytes: Buffer, start: number, end: number): number {
    const slot = this.slotOf(hashOf(bytes, start, end), bytes, start, end);
    return this.slots[slot]!;
  }

  has(bytes: Buffer, start: number, end: number): boolean {
    return this.find(bytes, start, end) >= 0;
  }

  /** The entry of `bytes[start, end)`, added when new: a new entry's number is the size before the call. */
  add(bytes: Buffer, start: number, end: number): number {
    const hash = hashOf(bytes, start, end);
    const slot = this.slotOf(hash, bytes, start, end);
    const known = this.slots[slot]!;
    return known >= 0 ? known : this.insert(slot, hash, bytes, start, end);
  }

  /** Adds the UTF-8 bytes of `text`. */
  addText(text: string): number {
    const bytes = Buffer.from(text);
    return this.add(bytes, 0, bytes.length);
  }

  /** The slot holding the key, or the free slot where it would go. */
  private slotOf(hash: number, bytes: Buffer, start: number, end: number): number {
    const mask = this.slots.length - 1;
    for (let s = hash & mask; ; s = (s + 1) & mask) {
      const e = this.slots[s]!;
      if (e < 0 || (this.hashes[e] === hash && this.sameKey(e, bytes, start, end))) return s;
    }
  }

  private sameKey(e: number, bytes: Buffer, start: number, end: number): boolean {
    const at = this.keyStart[e]!;
    const length = end - start;
    if (this.keyEnd[e]! - at !== length) return false;
    const keys = this.keys;
    for (let i = 0; i < length; i++) if (keys[at + i] !== bytes[start + i]) return false;
    return true;
  }

  private insert(slot: number, hash: number, bytes: Buffer, start: number, end: number): number {
    const e = this.count++;
    if (e === this.hashes.length) {
      this.hashes = grow(this.hashes, e * 2);
      this.keyStart = grow(this.keyStart, e * 2);
      this.keyEnd = grow(this.keyEnd, e * 2);
    }
    const length = end - start;
    if (this.keysUsed + length > this.keys.length) {
      const keys = Buffer.alloc(Math.max(this.keys.length * 2, this.keysUsed + length));
      this.keys.copy(keys, 0, 0, this.keysUsed);
      this.keys = keys;
    }
    bytes.copy(this.keys, this.keysUsed, start, end);
    this.keyStart[e] = this.keysUsed;
    this.keyEnd[e] = this.keysUsed += length;
    this.hashes[e] = hash;
    this.slots[slot] = e;
    // At most half full, so probes stay short.
    if (this.count * 2 > this.slots.length) this.rehash();
    return e;
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

/** FNV-1a over `bytes[start, end)`. */
function hashOf(bytes: Buffer, start: number, end: number): number {
  let hash = 0x811c9dc5;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193);
  return hash;
}
