import { compareCodePoints } from './compare.ts';
import { EventKeySet } from './event-key-set.ts';

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

interface HourState {
  plays: number;
  users: Set<number>;
  tracks: Set<number>;
  artistPlays: Map<string, number>;
}

interface GenreState {
  plays: number;
  durationSum: number;
  popularitySum: number;
  trackPlays: Map<number, number>;
}

interface DateState {
  hours: Map<number, HourState>;
  genres: Map<string, GenreState>;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * The KPI rules of SPEC 4, pure: events in, KPI rows out, no I/O. Exact
 * duplicate events (same user, track and instant) count once. A track in
 * several genres counts in each genre but once in the hour; each artist of an
 * `A;B` credit is credited with the play; tracks not in the catalogue count in
 * hourly KPIs only.
 */
export class KpiAccumulator {
  private readonly trackIndex = new Map<string, number>();
  private readonly trackIds: string[] = [];
  private readonly trackInfo: (TrackInfo | undefined)[] = [];
  private readonly seen = new EventKeySet();
  private readonly dates = new Map<number, DateState>();

  /** Adds one play; returns false (and counts nothing) for a duplicate. */
  add(userId: number, trackId: string, listenTime: number, track: TrackInfo | undefined): boolean {
    const t = this.intern(trackId, track);
    if (!this.seen.add(userId, t, listenTime)) return false;

    const day = Math.floor(listenTime / DAY_MS);
    let date = this.dates.get(day);
    if (!date) this.dates.set(day, (date = { hours: new Map(), genres: new Map() }));

    const hourOfDay = Math.floor((listenTime - day * DAY_MS) / HOUR_MS);
    let hour = date.hours.get(hourOfDay);
    if (!hour) date.hours.set(hourOfDay, (hour = { plays: 0, users: new Set(), tracks: new Set(), artistPlays: new Map() }));
    hour.plays++;
    hour.users.add(userId);
    hour.tracks.add(t);

    const info = this.trackInfo[t];
    if (!info) return true;
    for (const artist of info.artists) hour.artistPlays.set(artist, (hour.artistPlays.get(artist) ?? 0) + 1);
    for (const name of info.genres) {
      let genre = date.genres.get(name);
      if (!genre) date.genres.set(name, (genre = { plays: 0, durationSum: 0, popularitySum: 0, trackPlays: new Map() }));
      genre.plays++;
      genre.durationSum += info.durationMs;
      genre.popularitySum += info.popularity;
      genre.trackPlays.set(t, (genre.trackPlays.get(t) ?? 0) + 1);
    }
    return true;
  }

  /** Rows ordered by date then genre / hour. */
  result(): KpiTables {
    const genre: GenreKpiRow[] = [];
    const hourly: HourlyKpiRow[] = [];
    for (const day of [...this.dates.keys()].sort((a, b) => a - b)) {
      const listenDate = new Date(day * DAY_MS).toISOString().slice(0, 10);
      const date = this.dates.get(day)!;
      for (const name of [...date.genres.keys()].sort(compareCodePoints)) {
        const g = date.genres.get(name)!;
        const [trackIdx, plays] = this.mostPlayedTrack(g.trackPlays);
        const avgPopularity = g.popularitySum / g.plays;
        genre.push({
          listenDate,
          genre: name,
          listenCount: g.plays,
          avgTrackDurationMs: g.durationSum / g.plays,
          avgPopularity,
          popularityIndex: (g.plays * avgPopularity) / 100,
          mostPopularTrackId: this.trackIds[trackIdx]!,
          mostPopularTrackName: this.trackInfo[trackIdx]!.name,
          mostPopularTrackPlays: plays,
        });
      }
      for (const h of [...date.hours.keys()].sort((a, b) => a - b)) {
        const s = date.hours.get(h)!;
        const top = topArtist(s.artistPlays);
        hourly.push({
          listenDate,
          listenHour: h,
          uniqueListeners: s.users.size,
          totalPlays: s.plays,
          uniqueTracks: s.tracks.size,
          trackDiversityIndex: s.tracks.size / s.plays,
          topArtist: top?.[0] ?? null,
          topArtistPlays: top?.[1] ?? null,
        });
      }
    }
    return { genre, hourly };
  }

  private intern(trackId: string, track: TrackInfo | undefined): number {
    let t = this.trackIndex.get(trackId);
    if (t === undefined) {
      t = this.trackIds.length;
      this.trackIndex.set(trackId, t);
      this.trackIds.push(trackId);
      this.trackInfo.push(track);
    } else if (!this.trackInfo[t] && track) {
      this.trackInfo[t] = track;
    }
    return t;
  }

  /** Most plays; ties go to the smallest track_id. */
  private mostPlayedTrack(trackPlays: Map<number, number>): [number, number] {
    let best = -1;
    let bestPlays = 0;
    for (const [t, plays] of trackPlays) {
      if (plays > bestPlays || (plays === bestPlays && compareCodePoints(this.trackIds[t]!, this.trackIds[best]!) < 0)) {
        best = t;
        bestPlays = plays;
      }
    }
    return [best, bestPlays];
  }
}

/** Most plays; ties go to the smallest name in code-point order. */
function topArtist(artistPlays: Map<string, number>): [string, number] | undefined {
  let best: [string, number] | undefined;
  for (const [name, plays] of artistPlays) {
    if (!best || plays > best[1] || (plays === best[1] && compareCodePoints(name, best[0]) < 0)) best = [name, plays];
  }
  return best;
}
