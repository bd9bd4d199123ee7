export const SONG_COLUMNS = ['track_id', 'artists', 'album_name', 'track_name', 'popularity', 'duration_ms', 'track_genre'] as const;
export const USER_COLUMNS = ['user_id', 'user_name', 'user_age', 'user_country', 'created_at'] as const;

export interface Song {
  trackId: string;
  trackName: string;
  /** `A;B` credits both A and B. */
  artists: string[];
  popularity: number;
  durationMs: number;
  genres: string[];
}

export interface CatalogueRowProblem {
  field: string;
  value: string;
  reason: string;
}

type Row = Record<string, string | undefined>;

const INTEGER = /^-?\d+$/;
const TRACK_ID = /^\S{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function integer(row: Row, field: string, min: number, max: number): number | CatalogueRowProblem {
  const value = (row[field] ?? '').trim();
  // Exports often write whole numbers as `42.0`.
  const n = INTEGER.test(value) || /^\d+\.0+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    return { field, value, reason: `${field} must be an integer from ${min} to ${max}` };
  }
  return n;
}

const isProblem = (v: unknown): v is CatalogueRowProblem => typeof v === 'object' && v !== null;

/** SPEC 2.3 rules for one catalogue row. */
export function validateSongRow(row: Row): { trackId: string; genre: string; song: Omit<Song, 'genres'> } | CatalogueRowProblem {
  const trackId = row.track_id ?? '';
  if (!TRACK_ID.test(trackId)) return { field: 'track_id', value: trackId, reason: 'track_id must be 1-64 characters without whitespace' };
  const popularity = integer(row, 'popularity', 0, 100);
  if (isProblem(popularity)) return popularity;
  // The lake keeps duration_ms as INT32: a larger value would fail every part holding a play of the track.
  const durationMs = integer(row, 'duration_ms', 1, 2_147_483_647);
  if (isProblem(durationMs)) return durationMs;
  const genre = (row.track_genre ?? '').trim();
  if (!genre) return { field: 'track_genre', value: '', reason: 'track_genre is empty' };
  const artists = (row.artists ?? '')
    .split(';')
    .map((a) => a.trim())
    .filter((a, i, all) => a && all.indexOf(a) === i);
  return { trackId, genre, song: { trackId, trackName: row.track_name ?? '', artists, popularity, durationMs } };
}

/** `YYYY-MM-DD` of a day that exists: Date.parse alone takes 2023-02-30 for March 2. */
const isDate = (text: string) => DATE.test(text) && !Number.isNaN(Date.parse(text)) && new Date(Date.parse(text)).toISOString().slice(0, 10) === text;

/** SPEC 2.2 rules for one user row. */
export function validateUserRow(row: Row): { userId: number } | CatalogueRowProblem {
  const userId = integer(row, 'user_id', 1, 2_147_483_647);
  if (isProblem(userId)) return userId;
  const age = (row.user_age ?? '').trim();
  if (age !== '') {
    const parsed = integer(row, 'user_age', 0, 150);
    if (isProblem(parsed)) return parsed;
  }
  const created = (row.created_at ?? '').trim();
  if (created !== '' && !isDate(created.slice(0, 10))) {
    return { field: 'created_at', value: created, reason: 'created_at must be a date (YYYY-MM-DD)' };
  }
  return { userId };
}

/**
 * Songs keyed by track: a track listed under several genres belongs to each
 * (SPEC 2.3); a repeated (track_id, track_genre) pair is ignored, the first
 * row of a track gives its name, artists and numbers.
 */
export class SongCatalogueBuilder {
  private readonly songs = new Map<string, Song>();

  add(trackId: string, genre: string, song: Omit<Song, 'genres'>): void {
    const known = this.songs.get(trackId);
    if (!known) this.songs.set(trackId, { ...song, genres: [genre] });
    else if (!known.genres.includes(genre)) known.genres.push(genre);
  }

  get size(): number {
    return this.songs.size;
  }

  values(): IterableIterator<Song> {
    return this.songs.values();
  }
}
