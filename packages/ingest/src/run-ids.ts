import type { ObjectStore } from '@musicflow/storage';
import { buffer } from 'node:stream/consumers';

/**
 * A set of positive int32s (user ids) in one Int32Array: open addressing,
 * linear probing, 0 marks a free slot. 4-8 bytes an id and no object per id,
 * so the listeners of a big day fit where a Set of numbers would not.
 */
export class UserIdSet {
  private slots = new Int32Array(1024);
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
    this.slots = new Int32Array(old.length * 2);
    this.count = 0;
    for (const v of old) if (v !== 0) this.insert(v);
  }
}

/**
 * A chunk's keys: the distinct user and track ids of its clean events, which
 * its validator writes beside them, so the catalogue jobs read these and not
 * every event again (that was 1.5-2 s of a 5M-event run, on its critical
 * path, measured). `u32 n | i32[n] user ids | track ids, \n-separated`
 * (a track id has no line break: SPEC 2.1).
 */
export function encodeChunkKeys(users: UserIdSet, trackIds: readonly string[]): Buffer {
  const ids = Int32Array.from(users.values());
  const head = Buffer.alloc(4);
  head.writeUInt32LE(ids.length, 0);
  return Buffer.concat([head, Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength), Buffer.from(trackIds.join('\n'))]);
}

function decodeChunkKeys(bytes: Buffer, url: string): { userIds: Int32Array; trackIds: () => string[] } {
  const n = bytes.length >= 4 ? bytes.readUInt32LE(0) : -1;
  if (n < 0 || bytes.length < 4 + n * 4) throw new Error(`${url}: not a chunk's keys (truncated temporary)`);
  // Copied out: the read's buffer need not be 4-byte aligned.
  const userIds = new Int32Array(n);
  Buffer.from(userIds.buffer).set(bytes.subarray(4, 4 + n * 4));
  const rest = bytes.subarray(4 + n * 4);
  return { userIds, trackIds: () => (rest.length ? rest.toString('utf8').split('\n') : []) };
}

/** The distinct track ids of a run's clean events, from its chunks' keys: what its catalogue lookup needs, no more. */
export async function readRunTrackIds(store: ObjectStore, keysUrls: readonly string[]): Promise<Set<string>> {
  const tracks = new Set<string>();
  for (const url of keysUrls) for (const id of decodeChunkKeys(await buffer(await store.read(url)), url).trackIds()) tracks.add(id);
  return tracks;
}

/** The distinct user ids of a run's clean events, from its chunks' keys. */
export async function readRunUserIds(store: ObjectStore, keysUrls: readonly string[]): Promise<UserIdSet> {
  const users = new UserIdSet();
  for (const url of keysUrls) for (const id of decodeChunkKeys(await buffer(await store.read(url)), url).userIds) users.add(id);
  return users;
}
