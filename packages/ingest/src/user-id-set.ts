/**
 * A set of positive int32s (user ids) in one Int32Array: open addressing,
 * linear probing, 0 marks a free slot. 4-8 bytes an id and no object per id,
 * so the listeners of a big day fit where a Set of numbers would not.
 */
export class UserIdSet {
  private slots = new Int32Array(1024);
  /** Per slot, whether `mark` was called for its id. */
  private marks: Uint8Array | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    // 0 marks a free slot: without this, 0 (and no other id it never held) would be "in" every set.
    if (id <= 0) return false;
    const slots = this.slots;
    const mask = slots.length - 1;
    for (let i = Math.imul(id, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v === id) return true;
      if (v === 0) return false;
    }
  }

  /** Adds `id` (> 0); false when it was there already. */
  add(id: number): boolean {
    if (!(id > 0 && id <= 0x7fffffff && Number.isInteger(id))) throw new RangeError(`UserIdSet holds ids from 1 to 2^31-1, not ${id}`);
    if ((this.count + 1) * 2 > this.slots.length) this.grow();
    return this.insert(id);
  }

  /** Marks `id` (in the set); true the first time: a catalogue job keeps each wanted user once without a second set. */
  mark(id: number): boolean {
    const slots = this.slots;
    const mask = slots.length - 1;
    this.marks ??= new Uint8Array(slots.length);
    for (let i = Math.imul(id, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v === 0) throw new RangeError(`${id} is not in the set`);
      if (v !== id) continue;
      if (this.marks[i]) return false;
      this.marks[i] = 1;
      return true;
    }
  }

  *values(): Generator<number> {
    for (const v of this.slots) if (v !== 0) yield v;
  }

  private insert(id: number): boolean {
    const slots = this.slots;
    const mask = slots.length - 1;
    for (let i = Math.imul(id, 0x9e3779b1) & mask; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v === id) return false;
      if (v === 0) {
        slots[i] = id;
        this.count++;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    const marks = this.marks;
    this.slots = new Int32Array(old.length * 2);
    this.marks = undefined;
    this.count = 0;
    for (const v of old) if (v !== 0) this.insert(v);
    if (marks) for (let i = 0; i < old.length; i++) if (marks[i]) this.mark(old[i]!);
  }
}
