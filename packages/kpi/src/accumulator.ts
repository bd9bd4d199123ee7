import { EventKeySet } from './event-key-set.ts';
import { KpiMerge, TRACK_STRING_BYTES } from './merge.ts';
import {
  ByteWriter,
  decodePartialHeader,
  groupBy,
  IntCounts,
  PARTIAL_MAGIC,
  PARTIAL_PREFIX_BYTES,
  PARTIAL_SHARDS,
  PARTIAL_VERSION,
  shardOfHash,
} from './partial.ts';
import { StringPool, Utf8Column, withRoom, type Utf8Slice } from './string-pool.ts';
import type { KpiTables } from './tables.ts';
import { UserHourMasks } from './user-hour-masks.ts';

/** What the KPIs need to know about a catalogued track. */
export interface TrackInfo {
  name: string;
  artists: readonly string[];
  genres: readonly string[];
  durationMs: number;
  popularity: number;
}

/** `TrackInfo` as the lake's rows carry it, UTF-8 ranges: artists and genres `;`-joined (an empty one: none). */
export interface TrackInfoBytes {
  name: Utf8Slice;
  artists: Utf8Slice;
  genres: Utf8Slice;
  durationMs: number;
  popularity: number;
}

const SEPARATOR = 0x3b; // `;`, never inside a multi-byte UTF-8 character
const utf8 = new TextEncoder();

/** A partial (see partial.ts): its header, then its shards one buffer at a time, so a big partial is never whole in memory. */
export interface EncodedPartial {
  header: Uint8Array;
  shards(): Generator<Uint8Array>;
}

/** How `encodePartial` lays its shards out: their sizes, artists, and which tracks and artist entries each holds. */
interface ShardPlan {
  shardBytes: Uint32Array;
  shardArtists: Uint32Array;
  trackGroups: { order: Int32Array; starts: Int32Array };
  artistGroups: { order: Int32Array; starts: Int32Array };
  entries: { artist: Int32Array; date: Uint16Array; hour: Uint8Array; plays: Int32Array };
  counters: DateCounters[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const HOUR_BYTES = 24 * 8;

/** Per track, a list of interned names (its artists, its genres): track t's are `ids[start[t] .. start[t] + count[t])`. */
class TrackLists {
  start = new Int32Array(0);
  count = new Int32Array(0);
  ids = new Int32Array(0);
  private used = 0;

  constructor(private readonly pool: StringPool) {}

  /** Sets track `t`'s list to the names of the `;`-joined `list` (none when it is empty), as `String.split` cuts them. */
  set(t: number, { bytes, start, end }: Utf8Slice): void {
    if (t >= this.start.length) {
      this.start = withRoom(this.start, t + 1);
      this.count = withRoom(this.count, t + 1);
    }
    this.start[t] = this.used;
    for (let from = start; end > start;) {
      let cut = from;
      while (cut < end && bytes[cut] !== SEPARATOR) cut++;
      this.ids = withRoom(this.ids, this.used + 1);
      this.ids[this.used++] = this.pool.internBytes(bytes, from, cut);
      if (cut >= end) break;
      from = cut + 1;
    }
    this.count[t] = this.used - this.start[t];
  }
}

/**
 * Counters of one listen date, indexed by interned ids: per-hour bit masks
 * per user and per track give distinct listeners and tracks per hour without
 * a set per hour. Genre sums are derived from plays per track at the end,
 * not added per event.
 */
class DateCounters {
  /** Events of the day already counted, for exact-duplicate detection. */
  readonly seen: EventKeySet;
  readonly userHours = new UserHourMasks();
  readonly hourPlays = new Float64Array(24);
  /** Per track, bit h set when it was played in hour h. */
  trackHours = new Int32Array(0);
  /** Per track, its plays whose rows carried catalogue info: the plays that count in its genres. */
  cataloguedPlays = new Int32Array(0);
  /** Plays credited to each artist per hour, keyed `artist * 24 + hour`: sparse, as most artists play in few hours. */
  readonly artistHours = new IntCounts();

  constructor(expectedPlays: number | undefined) {
    this.seen = new EventKeySet(expectedPlays);
  }

  holdTrack(t: number): void {
    if (t < this.trackHours.length) return;
    this.trackHours = withRoom(this.trackHours, t + 1);
    this.cataloguedPlays = withRoom(this.cataloguedPlays, t + 1);
  }
}

/**
 * The KPI rules of SPEC 4, pure: events in, KPI rows out, no I/O. Exact
 * duplicate events (same user, track and instant) count once. A track in
 * several genres counts in each genre but once in the hour; each artist of an
 * `A;B` credit is credited with the play; tracks not in the catalogue count in
 * hourly KPIs only.
 *
 * Everything keyed by track, artist or genre is columnar: names interned into
 * UTF-8 pools, counters in typed arrays, so memory follows the bytes of the
 * distinct keys and not an object per key (a day of 800k distinct tracks).
 * What it counted leaves as a partial sharded by track and artist
 * (`encodePartial`), and its rows come from the same merge that combines the
 * partials of a date's passes (`result`).
 */
export class KpiAccumulator {
  private readonly trackIds: StringPool;
  /** Names are only written out, never looked up: appended, not interned. */
  private readonly names: Utf8Column;
  private readonly artists = new StringPool();
  private readonly genres = new StringPool();
  private hasInfo = new Uint8Array(0);
  private nameOf = new Int32Array(0);
  private durationMs = new Int32Array(0);
  private popularity = new Int32Array(0);
  private readonly artistsOf = new TrackLists(this.artists);
  private readonly genresOf = new TrackLists(this.genres);
  private readonly dates = new Map<number, DateCounters>();
  /** Events come a date at a time: the last date's counters, without a map lookup. */
  private lastDay = NaN;
  private lastCounters: DateCounters | undefined;

  /**
   * `expectedPlaysPerDate`, when known, sizes each date's duplicate detection
   * once instead of doubling it as plays come; `expectedTracks` sizes the
   * track ids and names the same way (a long-tail pass grew them from 256 to
   * 267k, rehashing at each doubling).
   */
  constructor(private readonly options: { expectedPlaysPerDate?: number; expectedTracks?: number } = {}) {
    const tracks = options.expectedTracks ?? 1 << 8;
    this.trackIds = new StringPool(tracks, tracks * TRACK_STRING_BYTES);
    this.names = new Utf8Column(tracks, tracks * TRACK_STRING_BYTES);
  }

  /** Distinct tracks seen. */
  get tracks(): number {
    return this.trackIds.size;
  }

  /** Adds one play (`track` undefined when its row has no catalogue info); returns false (and counts nothing) for a duplicate. */
  add(userId: number, trackId: string, listenTime: number, track: TrackInfo | undefined): boolean {
    const t = this.internTrack(trackId);
    if (track && this.needsTrackInfo(t)) this.setTrackInfo(t, track);
    return this.addPlay(userId, t, listenTime, track !== undefined);
  }

  /**
   * The interned id of a track, for callers that hold each track's catalogue
   * info once (`needsTrackInfo`, `setTrackInfo`) and add plays by id.
   */
  internTrack(trackId: string): number {
    return this.trackIds.intern(trackId);
  }

  /** `internTrack` of the UTF-8 track id `utf8[start, end)`, as a lake part's pages hold it. */
  internTrackBytes(utf8: Uint8Array, start: number, end: number): number {
    return this.trackIds.internBytes(utf8, start, end);
  }

  /** True until the track's catalogue info is set: the first info a track is given is the one its plays count with. */
  needsTrackInfo(t: number): boolean {
    return t >= this.hasInfo.length || this.hasInfo[t] === 0;
  }

  setTrackInfo(t: number, track: TrackInfo): void {
    const whole = (text: string): Utf8Slice => {
      const bytes = utf8.encode(text);
      return { bytes, start: 0, end: bytes.length };
    };
    this.setTrackInfoBytes(t, {
      name: whole(track.name),
      artists: whole(track.artists.join(';')),
      genres: whole(track.genres.join(';')),
      durationMs: track.durationMs,
      popularity: track.popularity,
    });
  }

  /**
   * `setTrackInfo` from the lake's bytes: a long-tail pass gives hundreds of thousands of tracks their info, and a
   * string each was most of it; ranges, so a caller refills one record rather than making views and an object a track.
   */
  setTrackInfoBytes(t: number, track: TrackInfoBytes): void {
    const n = t + 1;
    if (n > this.hasInfo.length) {
      this.hasInfo = withRoom(this.hasInfo, n);
      this.nameOf = withRoom(this.nameOf, n);
      this.durationMs = withRoom(this.durationMs, n);
      this.popularity = withRoom(this.popularity, n);
    }
    this.hasInfo[t] = 1;
    this.nameOf[t] = this.names.add(track.name.bytes, track.name.start, track.name.end);
    this.durationMs[t] = track.durationMs;
    this.popularity[t] = track.popularity;
    this.artistsOf.set(t, track.artists);
    this.genresOf.set(t, track.genres);
  }

  /**
   * Adds one play of interned track `t`; returns false (and counts nothing)
   * for a duplicate. `catalogued`: the play's own row carries the track's
   * catalogue info (set before with `setTrackInfo`); a play without it counts
   * in hourly KPIs only, whatever other rows of the track say.
   */
  addPlay(userId: number, t: number, listenTime: number, catalogued: boolean): boolean {
    const day = Math.floor(listenTime / DAY_MS);
    let d = this.lastCounters;
    if (day !== this.lastDay || !d) {
      d = this.dates.get(day);
      if (!d) this.dates.set(day, (d = new DateCounters(this.options.expectedPlaysPerDate)));
      this.lastDay = day;
      this.lastCounters = d;
    }
    const msOfDay = listenTime - day * DAY_MS;
    if (!d.seen.add(userId, t, msOfDay)) return false;
    const hour = Math.floor(msOfDay / HOUR_MS);
    const bit = 1 << hour;

    d.hourPlays[hour]!++;
    d.userHours.set(userId, bit);
    d.holdTrack(t);
    d.trackHours[t]! |= bit;

    if (!catalogued || this.needsTrackInfo(t)) return true;
    d.cataloguedPlays[t]!++;
    const { start, count, ids } = this.artistsOf;
    const end = start[t]! + count[t]!;
    for (let i = start[t]!; i < end; i++) d.artistHours.add(ids[i]! * 24 + hour, 1);
    return true;
  }

  /**
   * What this accumulator counted, for a merge (`KpiMerge`): how a date too
   * big to deduplicate at once is computed as passes over disjoint sets of
   * users, in parallel. Duplicates share a user, and distinct listeners of
   * disjoint sets add up; every other counter adds or ORs per track or artist,
   * which the merge does one group of shards at a time. Tracks come with
   * their catalogue info.
   */
  encodePartial(shards = PARTIAL_SHARDS): EncodedPartial {
    const days = [...this.dates.keys()].sort((a, b) => a - b);
    if (days.length > 0xffff) throw new RangeError(`a KPI partial holds at most 65535 dates, not ${days.length}`);
    const counters = days.map((day) => this.dates.get(day)!);
    const trackGroups = groupBy(this.trackIds.size, shards, (t) => shardOfHash(this.trackIds.hashOf(t), shards));
    const entries = this.artistEntries(counters);
    // An artist's entries together in its shard (ordered by artist first): written under its name once.
    const byArtist = groupBy(entries.count, this.artists.size, (e) => entries.artist[e]!).order;
    const artistGroups = groupBy(entries.count, shards, (e) => shardOfHash(this.artists.hashOf(entries.artist[e]!), shards), byArtist);
    const trackBytes = (t: number) => {
      let n = 2 + this.trackIds.bytesOf(t).length + 1 + 8 * days.length;
      if (!this.needsTrackInfo(t)) n += 2 + this.names.bytesOf(this.nameOf[t]!).length + 4 + 4 + 4 + 4 * this.genresOf.count[t]!;
      return n;
    };
    const shardBytes = new Uint32Array(shards);
    const shardArtists = new Uint32Array(shards);
    for (let s = 0; s < shards; s++) {
      let n = 8;
      for (let i = trackGroups.starts[s]!; i < trackGroups.starts[s + 1]!; i++) n += trackBytes(trackGroups.order[i]!);
      let artists = 0;
      for (let i = artistGroups.starts[s]!; i < artistGroups.starts[s + 1]!; i++) {
        const a = entries.artist[artistGroups.order[i]!]!;
        if (i === artistGroups.starts[s] || a !== entries.artist[artistGroups.order[i - 1]!]) {
          artists++;
          n += 2 + this.artists.bytesOf(a).length + 4;
        }
        n += 7;
      }
      shardBytes[s] = n;
      shardArtists[s] = artists;
    }

    const genreNames = Array.from({ length: this.genres.size }, (_, g) => this.genres.bytesOf(g));
    const headerBytes =
      PARTIAL_PREFIX_BYTES + 12 + days.length * (4 + 2 * HOUR_BYTES) + 4 + genreNames.reduce((n, g) => n + 2 + g.length, 0) + 4 * (shards + 1);
    const header = new ByteWriter(headerBytes);
    header.i32(PARTIAL_MAGIC);
    header.i32(headerBytes);
    header.i32(PARTIAL_VERSION);
    header.i32(shards);
    header.i32(days.length);
    for (const [i, day] of days.entries()) {
      header.i32(day);
      for (const v of counters[i]!.userHours.countPerHour()) header.f64(v);
      for (const v of counters[i]!.hourPlays) header.f64(v);
    }
    header.i32(genreNames.length);
    for (const g of genreNames) header.str(g);
    let offset = 0;
    header.i32(0);
    for (let s = 0; s < shards; s++) header.i32((offset += shardBytes[s]!));

    return { header: header.bytes, shards: () => this.shardsOf({ shardBytes, shardArtists, trackGroups, artistGroups, entries, counters }) };
  }

  /** Rows ordered by date then genre / hour: this accumulator's partial through the merge of a date's passes. */
  result(): KpiTables {
    const partial = this.encodePartial();
    const merge = new KpiMerge([decodePartialHeader(partial.header, 'accumulator')]);
    for (const shard of partial.shards()) merge.addGroup([shard]);
    return merge.result();
  }

  private *shardsOf({ shardBytes, shardArtists, trackGroups, artistGroups, entries, counters }: ShardPlan): Generator<Uint8Array> {
    for (let s = 0; s < shardBytes.length; s++) {
      const out = new ByteWriter(shardBytes[s]!);
      out.i32(trackGroups.starts[s + 1]! - trackGroups.starts[s]!);
      for (let i = trackGroups.starts[s]!; i < trackGroups.starts[s + 1]!; i++) this.writeTrack(out, trackGroups.order[i]!, counters);
      out.i32(shardArtists[s]!);
      const end = artistGroups.starts[s + 1]!;
      for (let i = artistGroups.starts[s]!; i < end;) {
        const a = entries.artist[artistGroups.order[i]!]!;
        let run = i + 1;
        while (run < end && entries.artist[artistGroups.order[run]!] === a) run++;
        out.str(this.artists.bytesOf(a));
        out.i32(run - i);
        for (; i < run; i++) {
          const e = artistGroups.order[i]!;
          out.u16(entries.date[e]!);
          out.u8(entries.hour[e]!);
          out.i32(entries.plays[e]!);
        }
      }
      yield out.bytes;
    }
  }

  private writeTrack(out: ByteWriter, t: number, counters: DateCounters[]): void {
    out.str(this.trackIds.bytesOf(t));
    const info = !this.needsTrackInfo(t);
    out.u8(info ? 1 : 0);
    if (info) {
      out.str(this.names.bytesOf(this.nameOf[t]!));
      out.i32(this.durationMs[t]!);
      out.i32(this.popularity[t]!);
      const { start, count, ids } = this.genresOf;
      out.i32(count[t]!);
      for (let i = start[t]!; i < start[t]! + count[t]!; i++) out.i32(ids[i]!);
    }
    for (const d of counters) {
      out.i32(d.trackHours[t] ?? 0);
      out.i32(d.cataloguedPlays[t] ?? 0);
    }
  }

  /** Every date's (artist, hour, plays) as columns. */
  private artistEntries(counters: DateCounters[]) {
    const count = counters.reduce((n, d) => n + d.artistHours.size, 0);
    const entries = { count, artist: new Int32Array(count), date: new Uint16Array(count), hour: new Uint8Array(count), plays: new Int32Array(count) };
    let e = 0;
    for (const [i, d] of counters.entries()) {
      d.artistHours.forEach((key, plays) => {
        entries.artist[e] = Math.floor(key / 24);
        entries.hour[e] = key % 24;
        entries.date[e] = i;
        entries.plays[e++] = plays;
      });
    }
    return entries;
  }
}
