const EMPTY = -1;

/**
 * A set of (user, track, millisecond-of-day) event keys, three int32s per
 * slot in one flat Int32Array: open addressing, linear probing, load factor
 * at most 3/4, 16 bytes per event and no object per event, so deduplicating
 * millions of events of a day stays cheap. Any capacity, not only powers of
 * two (a hash is mapped onto the slots by multiplication): a table rounded up
 * to a power of two took up to twice the memory (50 MB instead of 27 MB for
 * a KPI pass of 1.7M events).
 */
export class EventKeySet {
  private slots: Int32Array;
  private slotCount: number;
  private count = 0;

  /** Sized for `expectedKeys` without growing: growth holds the old table and the new one at once. */
  constructor(expectedKeys = 3072) {
    this.slotCount = Math.max(16, Math.ceil((expectedKeys * 4) / 3) + 1);
    this.slots = new Int32Array(this.slotCount * 3).fill(EMPTY);
  }

  get size(): number {
    return this.count;
  }

  /** Slots in the table. */
  get capacity(): number {
    return this.slotCount;
  }

  /** Adds the key (all three non-negative int32s); false when it was already there. */
  add(user: number, track: number, msOfDay: number): boolean {
    if ((this.count + 1) * 4 > this.slotCount * 3) this.grow();
    return this.insert(user, track, msOfDay);
  }

  private insert(user: number, track: number, ms: number): boolean {
    const slots = this.slots;
    let h = Math.imul(user, 0x9e3779b1) ^ Math.imul(track, 0x85ebca77) ^ Math.imul(ms, 0xc2b2ae3d);
    h ^= h >>> 15;
    h = Math.imul(h, 0x27d4eb2f);
    h ^= h >>> 13;
    const n = this.slotCount;
    // The hash's 32 bits as a fraction of the table: uniform over any number of slots.
    for (let i = Math.floor(((h >>> 0) * n) / 4_294_967_296); ; i = i + 1 === n ? 0 : i + 1) {
      const at = i * 3;
      const t = slots[at + 1]!;
      if (t === EMPTY) {
        slots[at] = user;
        slots[at + 1] = track;
        slots[at + 2] = ms;
        this.count++;
        return true;
      }
      if (t === track && slots[at] === user && slots[at + 2] === ms) return false;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slotCount *= 2;
    this.slots = new Int32Array(this.slotCount * 3).fill(EMPTY);
    this.count = 0;
    for (let at = 0; at < old.length; at += 3) {
      if (old[at + 1] !== EMPTY) this.insert(old[at]!, old[at + 1]!, old[at + 2]!);
    }
  }
}
