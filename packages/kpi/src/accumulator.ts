import { compareCodePoints } from './compare.ts';
import { EventKeySet } from './event-key-set.ts';
import { UserHourMasks } from './user-hour-masks.ts';

/** What the KPIs need to know about a catalogued track. */
export interface TrackInfo {
  name: string;
  artists: readonly string[];
  genres: readonly string[];
  durationMs: number;
  popularity: number;
}

/** SPEC 4.1 */
export interface GenreKpiRow {
  listenDate: string;
  genre: string;
  listenCount: number;
  avgTrackDurationMs: number;
  avgPopularity: number;
  popularityIndex: number;
  mostPopularTrackId: string;
  mostPopularTrackName: string;
  mostPopularTrackPlays: number;
}

/** SPEC 4.2 */
export interface HourlyKpiRow {
  listenDate: string;
  listenHour: number;
  uniqueListeners: number;
  totalPlays: number;
  uniqueTracks: number;
  trackDiversityIndex: number;
  /** Null when no play of the hour has a catalogued track. */
  topArtist: string | null;
  topArtistPlays: number | null;
}

export interface KpiTables {
  genre: GenreKpiRow[];
  hourly: HourlyKpiRow[];
}

/**
 * An accumulator's counts by name (`toPartial`), plain JSON in columns (a
 * pass's partial is read by its date job: an object per track made the
 * merge of a 20M-event day's ten partials 2.6 s and its peak memory).
 * Per-track arrays are aligned with `tracks.ids`; artists and genres are
 * listed once and referred to by index.
 */
export interface KpiPartial {
  tracks: {
    ids: string[];
    /** Null for a track no counted row carried catalogue info for. */
    names: (string | null)[];
    durationMs: number[];
    popularity: number[];
    /** Track t's artists are `artistIds[artistStarts[t] .. artistStarts[t + 1])`, indexes into `artists`; likewise its genres. */
    artistStarts: number[];
    artistIds: number[];
    genreStarts: number[];
    genreIds: number[];
  };
  artists: string[];
  genres: string[];
  dates: {
    /** Days since the epoch (UTC). */
    day: number;
    listeners: number[];
    hourPlays: number[];
    trackHours: number[];
    cataloguedPlays: number[];
    /** Sparse per hour: [artist, plays, artist, plays, ...]. */
    artistPlays: number[][];
  }[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** Grows a counter array to hold index `i` (doubling), keeping its contents. */
function ensure(array: Int32Array, i: number): Int32Array {
  if (i < array.length) return array;
  let size = Math.max(16, array.length);
  while (size <= i) size *= 2;
  const grown = new Int32Array(size);
  grown.set(array);
  return grown;
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
  /** Distinct users per hour of merged partials (see `addPartial`): their users are not in `userHours`. */
  readonly listenersOfPartials = new Float64Array(24);
  readonly hourPlays = new Float64Array(24);
  /** Per track, bit h set when it was played in hour h. */
  trackHours: Int32Array = new Int32Array(0);
  /** Per track, its plays whose rows carried catalogue info: the plays that count in its genres. */
  cataloguedPlays: Int32Array = new Int32Array(0);
  readonly artistPlays: Int32Array[] = Array.from({ length: 24 }, (): Int32Array => new Int32Array(0));

  constructor(expectedPlays: number | undefined) {
    this.seen = new EventKeySet(expectedPlays);
  }

  /** Room for track `t` in the per-track counters. */
  holdTrack(t: number): void {
    if (t < this.trackHours.length) return;
    this.trackHours = ensure(this.trackHours, t);
    this.cataloguedPlays = ensure(this.cataloguedPlays, t);
  }

  creditArtist(hour: number, a: number, plays: number): void {
    let artists = this.artistPlays[hour]!;
    if (a >= artists.length) this.artistPlays[hour] = artists = ensure(artists, a);
    artists[a]! += plays;
  }

  listenersPerHour(): Float64Array {
    const listeners = this.userHours.countPerHour();
    for (let h = 0; h < 24; h++) listeners[h]! += this.listenersOfPartials[h]!;
    return listeners;
  }
}

interface InternedTrack {
  name: string;
  durationMs: number;
  popularity: number;
  artistIds: Int32Array;
  genreIds: Int32Array;
}

/**
 * The KPI rules of SPEC 4, pure: events in, KPI rows out, no I/O. Exact
 * duplicate events (same user, track and instant) count once. A track in
 * several genres counts in each genre but once in the hour; each artist of an
 * `A;B` credit is credited with the play; tracks not in the catalogue count in
 * hourly KPIs only. Tracks, artists and genres are interned to integers, so
 * the per-event work is a few typed-array updates.
 */
export class KpiAccumulator {
  private readonly trackIndex = new Map<string, number>();
  private readonly trackIds: string[] = [];
  private readonly tracks: (InternedTrack | undefined)[] = [];
  private readonly artistIndex = new Map<string, number>();
  private readonly artistNames: string[] = [];
  private readonly genreIndex = new Map<string, number>();
  private readonly genreNames: string[] = [];
  private readonly dates = new Map<number, DateCounters>();
  /** Events come a date at a time: the last date's counters, without a map lookup. */
  private lastDay = NaN;
  private lastCounters: DateCounters | undefined;

  /**
   * `expectedPlaysPerDate`, when known, sizes each date's duplicate detection
   * once instead of doubling it as plays come.
   */
  constructor(private readonly options: { expectedPlaysPerDate?: number } = {}) {}

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
    let t = this.trackIndex.get(trackId);
    if (t === undefined) {
      t = this.trackIds.length;
      this.trackIndex.set(trackId, t);
      this.trackIds.push(trackId);
      this.tracks.push(undefined);
    }
    return t;
  }

  /** True until the track's catalogue info is set: the first info a track is given is the one its plays count with. */
  needsTrackInfo(t: number): boolean {
    return this.tracks[t] === undefined;
  }

  setTrackInfo(t: number, track: TrackInfo): void {
    this.tracks[t] = {
      name: track.name,
      durationMs: track.durationMs,
      popularity: track.popularity,
      artistIds: Int32Array.from(track.artists, (a) => internName(this.artistIndex, this.artistNames, a)),
      genreIds: Int32Array.from(track.genres, (g) => internName(this.genreIndex, this.genreNames, g)),
    };
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

    const interned = catalogued ? this.tracks[t] : undefined;
    if (!interned) return true;
    d.cataloguedPlays[t]!++;
    const { artistIds } = interned;
    for (let i = 0; i < artistIds.length; i++) d.creditArtist(hour, artistIds[i]!, 1);
    return true;
  }

  /**
   * What this accumulator counted, by name, for another accumulator to merge
   * with `addPartial`: how a date too big to deduplicate at once is computed
   * as passes over disjoint sets of users, in parallel. Duplicates share a
   * user, and distinct listeners of disjoint sets add up; every other counter
   * adds. Tracks come with their catalogue info.
   */
  toPartial(): KpiPartial {
    const tracks: KpiPartial['tracks'] = {
      ids: this.trackIds,
      names: [],
      durationMs: [],
      popularity: [],
      artistStarts: [0],
      artistIds: [],
      genreStarts: [0],
      genreIds: [],
    };
    for (let t = 0; t < this.trackIds.length; t++) {
      const track = this.tracks[t];
      tracks.names.push(track?.name ?? null);
      tracks.durationMs.push(track?.durationMs ?? 0);
      tracks.popularity.push(track?.popularity ?? 0);
      if (track) {
        tracks.artistIds.push(...track.artistIds);
        tracks.genreIds.push(...track.genreIds);
      }
      tracks.artistStarts.push(tracks.artistIds.length);
      tracks.genreStarts.push(tracks.genreIds.length);
    }
    return {
      tracks,
      artists: this.artistNames,
      genres: this.genreNames,
      dates: [...this.dates].map(([day, d]) => ({
        day,
        listeners: [...d.listenersPerHour()],
        hourPlays: [...d.hourPlays],
        trackHours: alignedTo(d.trackHours, this.trackIds.length),
        cataloguedPlays: alignedTo(d.cataloguedPlays, this.trackIds.length),
        // Sparse, as most artists are not played in most hours.
        artistPlays: d.artistPlays.map((plays) => {
          const pairs: number[] = [];
          for (let a = 0; a < plays.length; a++) if (plays[a]) pairs.push(a, plays[a]!);
          return pairs;
        }),
      })),
    };
  }

  /**
   * Adds the counts of a partial (`toPartial`) over users this accumulator
   * has not counted. A track's first catalogue info wins, as with `add`.
   */
  addPartial(partial: KpiPartial): void {
    const artists = partial.artists.map((name) => internName(this.artistIndex, this.artistNames, name));
    const genres = partial.genres.map((name) => internName(this.genreIndex, this.genreNames, name));
    const { ids, names, durationMs, popularity, artistStarts, artistIds, genreStarts, genreIds } = partial.tracks;
    const tracks = ids.map((id, i) => {
      const t = this.internTrack(id);
      const name = names[i];
      if (name != null && this.needsTrackInfo(t)) {
        this.tracks[t] = {
          name,
          durationMs: durationMs[i]!,
          popularity: popularity[i]!,
          artistIds: Int32Array.from(artistIds.slice(artistStarts[i], artistStarts[i + 1]), (a) => artists[a]!),
          genreIds: Int32Array.from(genreIds.slice(genreStarts[i], genreStarts[i + 1]), (g) => genres[g]!),
        };
      }
      return t;
    });
    for (const p of partial.dates) {
      let d = this.dates.get(p.day);
      if (!d) this.dates.set(p.day, (d = new DateCounters(undefined)));
      for (let h = 0; h < 24; h++) {
        d.listenersOfPartials[h]! += p.listeners[h]!;
        d.hourPlays[h]! += p.hourPlays[h]!;
        const pairs = p.artistPlays[h]!;
        for (let i = 0; i < pairs.length; i += 2) d.creditArtist(h, artists[pairs[i]!]!, pairs[i + 1]!);
      }
      for (let i = 0; i < tracks.length; i++) {
        const t = tracks[i]!;
        d.holdTrack(t);
        d.trackHours[t]! |= p.trackHours[i]!;
        d.cataloguedPlays[t]! += p.cataloguedPlays[i]!;
      }
    }
  }

  /** Rows ordered by date then genre / hour. */
  result(): KpiTables {
    const genre: GenreKpiRow[] = [];
    const hourly: HourlyKpiRow[] = [];
    const genreOrder = this.genreNames.map((_, g) => g).sort((a, b) => compareCodePoints(this.genreNames[a]!, this.genreNames[b]!));
    for (const day of [...this.dates.keys()].sort((a, b) => a - b)) {
      const listenDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
      const d = this.dates.get(day)!;
      const best = this.mostPlayedTrackPerGenre(d);
      const sums = this.genreSums(d);
      for (const g of genreOrder) {
        const plays = sums.plays[g]!;
        if (!plays) continue;
        const avgPopularity = sums.popularity[g]! / plays;
        const top = best[g]!;
        genre.push({
          listenDate,
          genre: this.genreNames[g]!,
          listenCount: plays,
          avgTrackDurationMs: sums.durationMs[g]! / plays,
          avgPopularity,
          popularityIndex: (plays * avgPopularity) / 100,
          mostPopularTrackId: this.trackIds[top]!,
          mostPopularTrackName: this.tracks[top]!.name,
          mostPopularTrackPlays: d.cataloguedPlays[top]!,
        });
      }
      const listeners = d.listenersPerHour();
      const distinctTracks = new Float64Array(24);
      for (let t = 0; t < d.trackHours.length; t++) {
        const mask = d.trackHours[t]!;
        if (mask) for (let h = 0; h < 24; h++) if (mask & (1 << h)) distinctTracks[h]!++;
      }
      for (let h = 0; h < 24; h++) {
        const plays = d.hourPlays[h]!;
        if (!plays) continue;
        const top = this.topArtist(d.artistPlays[h]!);
        hourly.push({
          listenDate,
          listenHour: h,
          uniqueListeners: listeners[h]!,
          totalPlays: plays,
          uniqueTracks: distinctTracks[h]!,
          trackDiversityIndex: distinctTracks[h]! / plays,
          topArtist: top ? this.artistNames[top[0]]! : null,
          topArtistPlays: top ? top[1] : null,
        });
      }
    }
    return { genre, hourly };
  }

  /** Per genre, its plays and the sums of its plays' durations and popularities (a play of a track in several genres counts in each). */
  private genreSums(d: DateCounters) {
    const n = this.genreNames.length;
    const sums = { plays: new Float64Array(n), durationMs: new Float64Array(n), popularity: new Float64Array(n) };
    for (let t = 0; t < d.cataloguedPlays.length; t++) {
      const plays = d.cataloguedPlays[t]!;
      if (!plays) continue;
      const { durationMs, popularity, genreIds } = this.tracks[t]!;
      for (const g of genreIds) {
        sums.plays[g]! += plays;
        sums.durationMs[g]! += plays * durationMs;
        sums.popularity[g]! += plays * popularity;
      }
    }
    return sums;
  }

  /** Per genre, the track with most plays in it that day (plays whose rows carried catalogue info); ties go to the smallest track_id. */
  private mostPlayedTrackPerGenre(d: DateCounters): number[] {
    const best: number[] = [];
    const plays = d.cataloguedPlays;
    for (let t = 0; t < plays.length; t++) {
      if (!plays[t]) continue;
      for (const g of this.tracks[t]!.genreIds) {
        const current = best[g];
        if (
          current === undefined ||
          plays[t]! > plays[current]! ||
          (plays[t] === plays[current] && compareCodePoints(this.trackIds[t]!, this.trackIds[current]!) < 0)
        ) {
          best[g] = t;
        }
      }
    }
    return best;
  }

  /** Most plays; ties go to the smallest name in code-point order. */
  private topArtist(plays: Int32Array): [number, number] | undefined {
    let best = -1;
    for (let a = 0; a < plays.length; a++) {
      const p = plays[a]!;
      if (!p) continue;
      if (best < 0 || p > plays[best]! || (p === plays[best]! && compareCodePoints(this.artistNames[a]!, this.artistNames[best]!) < 0)) best = a;
    }
    return best < 0 ? undefined : [best, plays[best]!];
  }
}

/** The first `n` counters as a plain array, zeros past the end of `array`. */
function alignedTo(array: Int32Array, n: number): number[] {
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < Math.min(n, array.length); i++) out[i] = array[i]!;
  return out;
}

function internName(index: Map<string, number>, names: string[], name: string): number {
  let id = index.get(name);
  if (id === undefined) {
    id = names.length;
    index.set(name, id);
    names.push(name);
  }
  return id;
}
