import { ONE_SHARD, type CatalogueShard } from '@musicflow/contracts';
import { mixInt32 } from '@musicflow/kpi';
import { LOOKUP_BATCH, type CatalogueLookup } from './catalogue-source.ts';
import { forEachLine } from './lines.ts';
import type { UserIdSet } from './user-id-set.ts';
import { plainTrackId, readUserId } from './stream-row-checker.ts';

/**
 * Keys any id rule takes (printable ASCII, at most 64 characters; up to ten
 * digits): a row with such a key that the run does not need is skipped
 * unread; any other key goes through the rules, so a row with an unusable id
 * is quarantined whoever needs it.
 */
const PLAIN_TRACK_ID = /^[\x21-\x7e]{1,64}$/;
const PLAIN_USER_ID = /^\d{1,10}$/;
const MAX_USER_ID = 2_147_483_647;

/**
 * The run's user ids as a catalogue lookup. `skipsKeyBytes` decides from the
 * bytes only keys that are ASCII digits of a positive int32, and skips
 * exactly where `skips` would on their text; every other row reaches
 * `skips`, so the two together are `skips` alone.
 */
export class RunUserKeys implements CatalogueLookup {
  readonly key = 'user_id';

  /** `wanted`: the run's ids of `shard` (`inShard`). */
  constructor(
    readonly wanted: UserIdSet,
    readonly shard: CatalogueShard = ONE_SHARD,
  ) {}

  /**
   * Whether this job quarantines a row the rules refuse: a row keyed by a user id reaches the rules only in
   * the job of its shard (`skips`), a row whose key no user can have in every job, and is quarantined by the first.
   */
  quarantines(text: string | undefined): boolean {
    const key = (text ?? '').trim();
    const id = PLAIN_USER_ID.test(key) ? Number(key) : 0;
    return (id >= 1 && id <= MAX_USER_ID) || this.shard.index === 0;
  }

  async *idBatches(): AsyncGenerator<number[]> {
    let batch: number[] = [];
    for (const id of this.wanted.values()) {
      batch.push(id);
      if (batch.length === LOOKUP_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  /** A row whose user_id is `text` is none of the run's; an id no user can have (0, over 2^31-1) is left to the rules. */
  skips(text: string | undefined): boolean {
    const key = (text ?? '').trim();
    if (!PLAIN_USER_ID.test(key)) return false;
    const id = Number(key);
    return id >= 1 && id <= MAX_USER_ID && !this.wanted.has(id);
  }

  skipsKeyBytes(bytes: Buffer, start: number, end: number): boolean {
    const id = readUserId(bytes, start, end);
    return id > 0 && !this.wanted.has(id);
  }
}

/**
 * Whether an int32 key (a user id, a track fingerprint's high half) is one of shard `shard`'s: a hash apart
 * from the sets' own slots, so a shard's ids spread over its set.
 */
export const inShard = (key: number, shard: CatalogueShard) => shard.count === 1 || (mixInt32(key) >>> 0) % shard.count === shard.index;

/** Per fingerprint: asked of the RDS source already; kept from the catalogue already; above those, its snapshot groups. */
const REQUESTED = 1;
const KEPT = 2;
const GROUP_SHIFT = 2;

// A track's snapshot groups (at most TRACK_GROUPS) are the flag byte's bits above REQUESTED and KEPT, so a
// long-tail day's millions of tracks cost no byte more.

/**
 * A set of track ids as 64-bit fingerprints (two FNV-1a variants), 16-20
 * bytes an id whatever its length: the run's distinct tracks (millions on a
 * long-tail day) without their bytes. Two ids share a fingerprint with
 * odds of about n²/2^65 (1e-7 for 5M tracks against a 10M-song catalogue);
 * such a catalogue row would only be carried to the transformers, which
 * look tracks up by their bytes.
 */
export class TrackFingerprintSet {
  private high = new Int32Array(1024);
  private low = new Int32Array(1024);
  private flags = new Uint8Array(1024);
  private count = 0;

  /** Holds only the ids of `shard` (by a hash of the fingerprint's high half; slots go by the low one). */
  constructor(readonly shard: CatalogueShard = ONE_SHARD) {}

  get size(): number {
    return this.count;
  }

  /** Adds the id, in snapshot group `group` (0 .. TRACK_GROUPS - 1) besides any it is in already. */
  add(bytes: Buffer, start: number, end: number, group = 0): void {
    const [h, l] = fingerprint(bytes, start, end);
    if (!inShard(h, this.shard)) return;
    if ((this.count + 1) * 4 > this.low.length * 3) this.grow();
    const slot = this.slotOf(h, l);
    this.flags[slot]! |= 1 << (GROUP_SHIFT + group);
    if (this.low[slot] !== 0) return;
    this.high[slot] = h;
    this.low[slot] = l;
    this.count++;
  }

  /** The id's slot, or -1 when it is not in the set. */
  find(bytes: Buffer, start: number, end: number): number {
    const [h, l] = fingerprint(bytes, start, end);
    const slot = this.slotOf(h, l);
    return this.low[slot] === 0 ? -1 : slot;
  }

  /** The snapshot groups of the id at `slot`, as bits: group g is bit g. */
  groupsOf(slot: number): number {
    return this.flags[slot]! >>> GROUP_SHIFT;
  }

  /** Sets `flag` on slot `slot`; true when it was not set. */
  flag(slot: number, flag: number): boolean {
    if (this.flags[slot]! & flag) return false;
    this.flags[slot]! |= flag;
    return true;
  }

  private slotOf(h: number, l: number): number {
    const mask = this.low.length - 1;
    for (let s = l & mask; ; s = (s + 1) & mask) if (this.low[s] === 0 || (this.low[s] === l && this.high[s] === h)) return s;
  }

  private grow(): void {
    const { high, low, flags } = this;
    this.high = new Int32Array(low.length * 2);
    this.low = new Int32Array(low.length * 2);
    this.flags = new Uint8Array(low.length * 2);
    for (let i = 0; i < low.length; i++) {
      if (low[i] === 0) continue;
      const s = this.slotOf(high[i]!, low[i]!);
      this.high[s] = high[i]!;
      this.low[s] = low[i]!;
      this.flags[s] = flags[i]!;
    }
  }
}

/** Two 32-bit FNV-1a hashes of different offset bases; `low` is never 0 (a free slot). */
function fingerprint(bytes: Buffer, start: number, end: number): [number, number] {
  let h = 0x811c9dc5 | 0;
  let l = 0x050c5d1f;
  for (let i = start; i < end; i++) {
    h = Math.imul(h ^ bytes[i]!, 0x01000193);
    l = Math.imul(l ^ bytes[i]!, 0x01000193) ^ (l >>> 15);
  }
  return [h, l === 0 ? 1 : l];
}

/** Some of the run's track ids, `\n`-separated UTF-8, and the snapshot group (0 .. TRACK_GROUPS - 1) of whoever named them. */
export interface TrackIdList {
  ids: Buffer;
  group: number;
}

/**
 * The run's track ids as a catalogue lookup: `skipsKeyBytes` decides from
 * the bytes only plain keys (printable ASCII, where bytes and text are one),
 * and skips exactly where `skips` would. `idBatches` walks the run's ids
 * again (for the RDS source), each once.
 */
export class RunTrackKeys implements CatalogueLookup {
  readonly key = 'track_id';

  /** `idLists` gives the run's ids as `\n`-separated UTF-8, in as many buffers as it likes, each time it is called. */
  constructor(
    readonly wanted: TrackFingerprintSet,
    private readonly idLists: () => AsyncIterable<TrackIdList>,
  ) {}

  /** The keys of `shard`: of the ids `idLists` gives, those in the shard. */
  static async of(idLists: () => AsyncIterable<TrackIdList>, shard: CatalogueShard = ONE_SHARD): Promise<RunTrackKeys> {
    const wanted = new TrackFingerprintSet(shard);
    for await (const { ids, group } of idLists()) forEachLine(ids, (bytes, start, end) => wanted.add(bytes, start, end, group));
    return new RunTrackKeys(wanted, idLists);
  }

  async *idBatches(): AsyncGenerator<string[]> {
    let batch: string[] = [];
    for await (const { ids: list } of this.idLists()) {
      const ready: string[][] = [];
      forEachLine(list, (bytes, start, end) => {
        const slot = this.wanted.find(bytes, start, end);
        if (slot < 0 || !this.wanted.flag(slot, REQUESTED)) return;
        batch.push(bytes.toString('utf8', start, end));
        if (batch.length < LOOKUP_BATCH) return;
        ready.push(batch);
        batch = [];
      });
      yield* ready;
    }
    if (batch.length) yield batch;
  }

  /** The wanted slot of `trackId`, or -1 when the run does not need it. */
  slotOf(trackId: string): number {
    const bytes = Buffer.from(trackId);
    return this.wanted.find(bytes, 0, bytes.length);
  }

  /** True the first time a row of the wanted track at `slot` is kept: the run's distinct catalogued tracks. */
  keep(slot: number): boolean {
    return this.wanted.flag(slot, KEPT);
  }

  /**
   * Whether this job quarantines a row the rules refuse: a row with a plain key reaches the rules only in the
   * job of its shard (`skips`), any other in every job, and is quarantined by the first.
   */
  quarantines(text: string | undefined): boolean {
    return PLAIN_TRACK_ID.test(text ?? '') || this.wanted.shard.index === 0;
  }

  /** A row whose track_id is `text` is none of the run's. */
  skips(text: string | undefined): boolean {
    const key = text ?? '';
    return PLAIN_TRACK_ID.test(key) && this.slotOf(key) < 0;
  }

  skipsKeyBytes(bytes: Buffer, start: number, end: number): boolean {
    return plainTrackId(bytes, start, end) && this.wanted.find(bytes, start, end) < 0;
  }
}
