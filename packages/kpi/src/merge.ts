import { ByteReader, IntCounts, PartialFormatError, type PartialHeader } from './partial.ts';
import { compareBytes, StringPool, Utf8Column, withRoom } from './string-pool.ts';
import type { GenreKpiRow, HourlyKpiRow, KpiTables } from './tables.ts';

const DAY_MS = 86_400_000;

/** One listen date's totals over every group merged so far. */
class DateTotals {
  readonly listeners = new Float64Array(24);
  readonly plays = new Float64Array(24);
  readonly distinctTracks = new Float64Array(24);
  /** Per genre (the merge's genre ids). */
  genrePlays = new Float64Array(0);
  genreDurationMs = new Float64Array(0);
  genrePopularity = new Float64Array(0);
  /** Per genre, its most played track: plays, id and name. */
  bestPlays = new Float64Array(0);
  readonly bestId: (Uint8Array | undefined)[] = [];
  readonly bestName: string[] = [];
  /** Per hour, the most credited artist: plays and name. */
  readonly topArtistPlays = new Float64Array(24);
  readonly topArtist: (Uint8Array | undefined)[] = Array.from({ length: 24 }, () => undefined);

  holdGenre(g: number): void {
    if (g < this.genrePlays.length) return;
    this.genrePlays = withRoom(this.genrePlays, g + 1);
    this.genreDurationMs = withRoom(this.genreDurationMs, g + 1);
    this.genrePopularity = withRoom(this.genrePopularity, g + 1);
    this.bestPlays = withRoom(this.bestPlays, g + 1);
  }
}

/**
 * Bytes of a partial's slice per track entry, about: an id, its info and its
 * counters take 40-100. Sizes a group's pools ahead (a long-tail group's grew
 * from 256 to tens of thousands of tracks, rehashing at each doubling).
 */
const TRACK_ENTRY_BYTES = 64;

/** Bytes of a track id or name, about: what a pool sized for a number of tracks reserves for their bytes (it grows past a wrong guess). */
export const TRACK_STRING_BYTES = 24;

/** The tracks and artists of one group of shards, from every partial: dropped once the group's totals are taken. */
class GroupState {
  readonly tracks: StringPool;
  readonly names: Utf8Column;
  readonly artists = new StringPool();
  hasInfo = new Uint8Array(0);
  nameOf = new Int32Array(0);
  durationMs = new Int32Array(0);
  popularity = new Int32Array(0);
  genreStart = new Int32Array(0);
  genreCount = new Int32Array(0);
  genreIds = new Int32Array(0);
  genreIdsUsed = 0;
  /** Per date of the merge: per track, its hour mask and catalogued plays; per (artist, hour), plays. */
  readonly trackHours: Int32Array[];
  readonly cataloguedPlays: Int32Array[];
  readonly artistHours: IntCounts[];

  constructor(dates: number, expectedTracks: number) {
    this.tracks = new StringPool(expectedTracks, expectedTracks * TRACK_STRING_BYTES);
    this.names = new Utf8Column(expectedTracks, expectedTracks * TRACK_STRING_BYTES);
    this.trackHours = Array.from({ length: dates }, () => new Int32Array(0));
    this.cataloguedPlays = Array.from({ length: dates }, () => new Int32Array(0));
    this.artistHours = Array.from({ length: dates }, () => new IntCounts());
    this.holdTrack(expectedTracks - 1);
  }

  holdTrack(t: number): void {
    if (t < this.hasInfo.length) return;
    const n = t + 1;
    this.hasInfo = withRoom(this.hasInfo, n);
    this.nameOf = withRoom(this.nameOf, n);
    this.durationMs = withRoom(this.durationMs, n);
    this.popularity = withRoom(this.popularity, n);
    this.genreStart = withRoom(this.genreStart, n);
    this.genreCount = withRoom(this.genreCount, n);
    for (let d = 0; d < this.trackHours.length; d++) {
      this.trackHours[d] = withRoom(this.trackHours[d]!, n);
      this.cataloguedPlays[d] = withRoom(this.cataloguedPlays[d]!, n);
    }
  }
}

/**
 * Combines KPI partials (`KpiAccumulator.encodePartial`) of disjoint sets of
 * users into KPI rows, one group of shards at a time: a group's tracks and
 * artists are held only while it is added, so a date's merge holds what a
 * group of shards holds, not every distinct track of the date. Partials are
 * given in order: a track's catalogue info is the first partial's that has it.
 */
export class KpiMerge {
  private readonly days: number[];
  private readonly totals: DateTotals[];
  private readonly genres = new StringPool();
  /** Per partial: its date indexes and genre indexes as the merge's. */
  private readonly dateIndex: Int32Array[];
  private readonly genreIndex: Int32Array[];

  constructor(private readonly partials: readonly PartialHeader[]) {
    const shards = new Set(partials.map((p) => p.shards));
    if (shards.size > 1)
      throw new PartialFormatError(`KPI partials of one merge differ in shard count: ${partials.map((p) => `${p.source}: ${p.shards}`).join(', ')}`);
    this.days = [...new Set(partials.flatMap((p) => p.dates.map((d) => d.day)))].sort((a, b) => a - b);
    this.totals = this.days.map(() => new DateTotals());
    this.dateIndex = partials.map((p) => Int32Array.from(p.dates, (d) => this.days.indexOf(d.day)));
    this.genreIndex = partials.map((p) => Int32Array.from(p.genres, (g) => this.genres.intern(g)));
    for (const [i, p] of partials.entries()) {
      for (const [k, d] of p.dates.entries()) {
        const totals = this.totals[this.dateIndex[i]![k]!]!;
        for (let h = 0; h < 24; h++) {
          totals.listeners[h]! += d.listeners[h]!;
          totals.plays[h]! += d.plays[h]!;
        }
      }
    }
  }

  /** The shard count of the partials (every partial has the same). */
  get shards(): number {
    return this.partials[0]?.shards ?? 0;
  }

  /** Adds a group of whole shards: `slices[i]` is partial i's bytes of the same shards, in order. */
  addGroup(slices: readonly Uint8Array[]): void {
    // The slices' bytes over the partials: a track in several counts in each, so an upper bound of the group's tracks.
    const bytes = slices.reduce((n, slice) => n + slice.length, 0);
    const group = new GroupState(this.days.length, Math.ceil(bytes / TRACK_ENTRY_BYTES));
    for (const [i, slice] of slices.entries()) this.read(group, i, slice);
    this.total(group);
  }

  /** Rows ordered by date then genre / hour. */
  result(): KpiTables {
    const genre: GenreKpiRow[] = [];
    const hourly: HourlyKpiRow[] = [];
    const genreOrder = Array.from({ length: this.genres.size }, (_, g) => g).sort((a, b) => compareBytes(this.genres.bytesOf(a), this.genres.bytesOf(b)));
    const text = new TextDecoder();
    for (const [i, day] of this.days.entries()) {
      const listenDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
      const d = this.totals[i]!;
      for (const g of genreOrder) {
        const plays = d.genrePlays[g] ?? 0;
        if (!plays) continue;
        const avgPopularity = d.genrePopularity[g]! / plays;
        genre.push({
          listenDate,
          genre: this.genres.text(g),
          listenCount: plays,
          avgTrackDurationMs: d.genreDurationMs[g]! / plays,
          avgPopularity,
          popularityIndex: (plays * avgPopularity) / 100,
          mostPopularTrackId: text.decode(d.bestId[g]),
          mostPopularTrackName: d.bestName[g]!,
          mostPopularTrackPlays: d.bestPlays[g]!,
        });
      }
      for (let h = 0; h < 24; h++) {
        const plays = d.plays[h]!;
        if (!plays) continue;
        const top = d.topArtist[h];
        hourly.push({
          listenDate,
          listenHour: h,
          uniqueListeners: d.listeners[h]!,
          totalPlays: plays,
          uniqueTracks: d.distinctTracks[h]!,
          trackDiversityIndex: d.distinctTracks[h]! / plays,
          topArtist: top ? text.decode(top) : null,
          topArtistPlays: top ? d.topArtistPlays[h]! : null,
        });
      }
    }
    return { genre, hourly };
  }

  private read(group: GroupState, i: number, slice: Uint8Array): void {
    const header = this.partials[i]!;
    const reader = new ByteReader(slice, header.source);
    const dates = this.dateIndex[i]!;
    const genres = this.genreIndex[i]!;
    while (!reader.done) {
      for (let n = reader.u32(); n > 0; n--) {
        const idStart = reader.skipStr();
        const t = group.tracks.internBytes(slice, idStart, reader.offset);
        group.holdTrack(t);
        if (reader.u8() === 1) {
          const nameStart = reader.skipStr();
          const nameEnd = reader.offset;
          const durationMs = reader.i32();
          const popularity = reader.i32();
          const count = reader.i32();
          const known = group.hasInfo[t] === 1;
          if (!known) {
            group.hasInfo[t] = 1;
            group.nameOf[t] = group.names.add(slice, nameStart, nameEnd);
            group.durationMs[t] = durationMs;
            group.popularity[t] = popularity;
            group.genreStart[t] = group.genreIdsUsed;
            group.genreCount[t] = count;
            group.genreIds = withRoom(group.genreIds, group.genreIdsUsed + count);
          }
          for (let k = 0; k < count; k++) {
            const g = reader.i32();
            if (g >= genres.length) throw new PartialFormatError(`${header.source}: genre ${g} of ${genres.length}`);
            if (!known) group.genreIds[group.genreIdsUsed++] = genres[g]!;
          }
        }
        for (let k = 0; k < dates.length; k++) {
          group.trackHours[dates[k]!]![t]! |= reader.i32();
          group.cataloguedPlays[dates[k]!]![t]! += reader.i32();
        }
      }
      for (let n = reader.u32(); n > 0; n--) {
        const nameStart = reader.skipStr();
        const a = group.artists.internBytes(slice, nameStart, reader.offset);
        for (let m = reader.u32(); m > 0; m--) {
          const k = reader.u16();
          const hour = reader.u8();
          const plays = reader.i32();
          if (k >= dates.length || hour > 23) throw new PartialFormatError(`${header.source}: artist entry of date ${k}, hour ${hour}`);
          group.artistHours[dates[k]!]!.add(a * 24 + hour, plays);
        }
      }
    }
  }

  /** Adds a group's distinct tracks, genre sums and leaders to the totals. */
  private total(group: GroupState): void {
    const decoder = new TextDecoder();
    for (const [d, totals] of this.totals.entries()) {
      const hours = group.trackHours[d]!;
      const plays = group.cataloguedPlays[d]!;
      for (let t = 0; t < group.tracks.size; t++) {
        const mask = hours[t]!;
        if (mask) for (let h = 0; h < 24; h++) if (mask & (1 << h)) totals.distinctTracks[h]!++;
        const p = plays[t]!;
        if (!p || !group.hasInfo[t]) continue;
        for (let k = group.genreStart[t]!; k < group.genreStart[t]! + group.genreCount[t]!; k++) {
          const g = group.genreIds[k]!;
          totals.holdGenre(g);
          totals.genrePlays[g]! += p;
          totals.genreDurationMs[g]! += p * group.durationMs[t]!;
          totals.genrePopularity[g]! += p * group.popularity[t]!;
          // Most plays; ties go to the smallest track_id in code-point order.
          const best = totals.bestId[g];
          if (!best || p > totals.bestPlays[g]! || (p === totals.bestPlays[g] && compareBytes(group.tracks.bytesOf(t), best) < 0)) {
            totals.bestPlays[g] = p;
            totals.bestId[g] = group.tracks.bytesOf(t).slice();
            totals.bestName[g] = decoder.decode(group.names.bytesOf(group.nameOf[t]!));
          }
        }
      }
      // Most plays; ties go to the smallest name in code-point order.
      group.artistHours[d]!.forEach((key, p) => {
        const a = Math.floor(key / 24);
        const h = key % 24;
        const top = totals.topArtist[h];
        if (!top || p > totals.topArtistPlays[h]! || (p === totals.topArtistPlays[h] && compareBytes(group.artists.bytesOf(a), top) < 0)) {
          totals.topArtistPlays[h] = p;
          totals.topArtist[h] = group.artists.bytesOf(a).slice();
        }
      });
    }
  }
}
