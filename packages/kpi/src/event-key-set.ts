/**
 * A set of (user, track, instant) event keys in flat typed arrays: open
 * addressing, linear probing, about 24 bytes per event and no object per
 * event, so deduplicating millions of events stays cheap.
 */
export class EventKeySet {
  private users: Int32Array;
  private tracks: Int32Array;
  private times: Float64Array;
  private used: Uint8Array;
  private count = 0;

  constructor(initialCapacity = 1 << 16) {
    let capacity = 16;
    while (capacity < initialCapacity) capacity <<= 1;
    this.users = new Int32Array(capacity);
    this.tracks = new Int32Array(capacity);
    this.times = new Float64Array(capacity);
    this.used = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds the key; false when it was already there. */
  add(user: number, track: number, time: number): boolean {
    if ((this.count + 1) * 2 > this.used.length) this.grow();
    return this.insert(user, track, time);
  }

  private slot(user: number, track: number, time: number): number {
    let h = Math.imul(user ^ 0x9e3779b9, 0x85ebca6b);
    h = Math.imul(h ^ track ^ (h >>> 13), 0xc2b2ae35);
    h = Math.imul(h ^ (time % 0x7fffffff) ^ (h >>> 16), 0x27d4eb2f);
    h ^= Math.floor(time / 0x7fffffff);
    return (h ^ (h >>> 15)) & (this.used.length - 1);
  }

  private insert(user: number, track: number, time: number): boolean {
    const mask = this.used.length - 1;
    for (let i = this.slot(user, track, time); ; i = (i + 1) & mask) {
      if (!this.used[i]) {
        this.used[i] = 1;
        this.users[i] = user;
        this.tracks[i] = track;
        this.times[i] = time;
        this.count++;
        return true;
      }
      if (this.users[i] === user && this.tracks[i] === track && this.times[i] === time) return false;
    }
  }

  private grow(): void {
    const { users, tracks, times, used } = this;
    const capacity = used.length * 2;
    this.users = new Int32Array(capacity);
    this.tracks = new Int32Array(capacity);
    this.times = new Float64Array(capacity);
    this.used = new Uint8Array(capacity);
    this.count = 0;
    for (let i = 0; i < used.length; i++) if (used[i]) this.insert(users[i]!, tracks[i]!, times[i]!);
  }
}
