import { fitText, TEXT_LIMITS, UNUSABLE_CHARACTER, utf8Bytes, type TextFix } from '@musicflow/warehouse/text-contract';

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
  /** What is wrong, for people. */
  reason: string;
  /** The quarantine reason: `invalid_<field>`, or for a track id `invalid_track_id_characters` / `track_id_too_long`. */
  code: string;
}

/** A field made to fit the warehouse (`track_name.too_long`, `artists.control_characters`...): the run report counts them. */
export type CatalogueFix = `${'track_name' | 'artists' | 'track_genre'}.${TextFix}`;

type Row = Record<string, string | undefined>;

const INTEGER = /^-?\d+$/;
/** SPEC 2.1's track id rule (1-64 code points, no whitespace); the text contract adds bytes and characters. */
const TRACK_ID = /^\S{1,64}$/u;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

function integer(row: Row, field: string, min: number, max: number): number | CatalogueRowProblem {
  const value = (row[field] ?? '').trim();
  // Exports often write whole numbers as `42.0`.
  const n = INTEGER.test(value) || /^\d+\.0+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    return { field, value, reason: `${field} must be an integer from ${min} to ${max}`, code: `invalid_${field}` };
  }
  return n;
}

const isProblem = (v: unknown): v is CatalogueRowProblem => typeof v === 'object' && v !== null;

/** Why a track id cannot be a catalogue key, or undefined when it can. */
function trackIdProblem(trackId: string): CatalogueRowProblem | undefined {
  const problem = (code: string, reason: string) => ({ field: 'track_id', value: trackId, reason, code });
  if (UNUSABLE_CHARACTER.test(trackId)) {
    return problem('invalid_track_id_characters', 'track_id holds a control character or bytes that are not UTF-8');
  }
  if (!TRACK_ID.test(trackId)) return problem('invalid_track_id', 'track_id must be 1-64 characters without whitespace');
  // It may become most_popular_track_id: an id cut to fit would be another track's.
  if (utf8Bytes(trackId) > TEXT_LIMITS.trackId) {
    return problem('track_id_too_long', `track_id is longer than the warehouse's ${TEXT_LIMITS.trackId} bytes (UTF-8)`);
  }
  return undefined;
}

/**
 * SPEC 2.3 rules for one catalogue row, and the text contract: a track id
 * that cannot reach the warehouse as it is quarantines the row; names, artists
 * and the genre are made to fit their columns (`fitText`), listed in `fixes`.
 */
export function validateSongRow(row: Row): { trackId: string; genre: string; song: Omit<Song, 'genres'>; fixes: CatalogueFix[] } | CatalogueRowProblem {
  const trackId = row.track_id ?? '';
  const badId = trackIdProblem(trackId);
  if (badId) return badId;
  const popularity = integer(row, 'popularity', 0, 100);
  if (isProblem(popularity)) return popularity;
  // The lake keeps duration_ms as INT32: a larger value would fail every part holding a play of the track.
  const durationMs = integer(row, 'duration_ms', 1, 2_147_483_647);
  if (isProblem(durationMs)) return durationMs;
  const fixes: CatalogueFix[] = [];
  const fit = (field: 'track_name' | 'artists' | 'track_genre', value: string, bytes: number, kind: 'label' | 'key') => {
    const fitted = fitText(value, bytes, kind);
    for (const fix of fitted.fixes) if (!fixes.includes(`${field}.${fix}`)) fixes.push(`${field}.${fix}`);
    return fitted.text;
  };
  const genre = fit('track_genre', (row.track_genre ?? '').trim(), TEXT_LIMITS.genre, 'key');
  if (!genre) return { field: 'track_genre', value: row.track_genre ?? '', reason: 'track_genre is empty', code: 'invalid_track_genre' };
  const artists = (row.artists ?? '')
    .split(';')
    .map((a) => fit('artists', a.trim(), TEXT_LIMITS.artist, 'key'))
    .filter((a, i, all) => a && all.indexOf(a) === i);
  const trackName = fit('track_name', row.track_name ?? '', TEXT_LIMITS.trackName, 'label');
  return { trackId, genre, song: { trackId, trackName, artists, popularity, durationMs }, fixes };
}

/** Counts of `validateSongRow`'s fixes over a table, by field and fix: the run report's `catalogue.cleaned`. */
export class CatalogueFixCounts {
  readonly counts: Record<string, number> = {};

  add(fixes: readonly CatalogueFix[]): void {
    for (const fix of fixes) this.counts[fix] = (this.counts[fix] ?? 0) + 1;
  }
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether day `day` of month `month` (1-12) of `year` exists in the proleptic Gregorian calendar (as Date's). */
export function isCalendarDay(year: number, month: number, day: number): boolean {
  if (month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= DAYS_IN_MONTH[month - 1]! + (month === 2 && leap ? 1 : 0);
}

/**
 * `YYYY-MM-DD` of a day that exists (`isCalendarDay`): Date.parse alone
 * takes 2023-02-30 for March 2. Counted, not parsed: every kept user row of a
 * catalogue of millions asks.
 */
function isDate(text: string): boolean {
  return DATE.test(text) && isCalendarDay(Number(text.slice(0, 4)), Number(text.slice(5, 7)), Number(text.slice(8, 10)));
}

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
    return { field: 'created_at', value: created, reason: 'created_at must be a date (YYYY-MM-DD)', code: 'invalid_created_at' };
  }
  return { userId };
}
