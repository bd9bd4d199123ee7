import { TEXT_LIMITS } from '@musicflow/warehouse/text-contract';
import type { CsvRowBytes } from './catalogue-source.ts';
import { isCalendarDay, SONG_COLUMNS, USER_COLUMNS } from './catalogue.ts';
import { plainTrackId } from './stream-row-checker.ts';

/**
 * Fast paths of the catalogue rules (catalogue.ts) over a CSV row's bytes, as
 * StreamRowChecker is for the stream rules: a long-tail run keeps most rows
 * of a catalogue of millions, and decoding each kept row's fields into
 * strings to check them was most of a catalogue job. A row whose fields are
 * plain printable ASCII and plainly pass is decided here, with the values the
 * rules would give; any other row (non-ASCII text, spaces to trim, `42.0`, a
 * repeated artist, a missing or escaped field, a broken rule) is left to
 * `validateSongRow` / `validateUserRow` on its decoded values, the one place
 * of the rules, which also names the reason. `test/unit/catalogue-row-bytes.test.ts`
 * checks that both paths agree on every row they both decide.
 */

const SONG = Object.fromEntries(SONG_COLUMNS.map((c, i) => [c, i])) as Record<(typeof SONG_COLUMNS)[number], number>;
const USER = Object.fromEntries(USER_COLUMNS.map((c, i) => [c, i])) as Record<(typeof USER_COLUMNS)[number], number>;
const SPACE = 0x20;
const SEMICOLON = 0x3b;
const MAX_INT32 = 2_147_483_647;

/** Whether `bytes[start, end)` is printable ASCII (spaces included, DEL not): text no rule changes but a trim. */
function printable(bytes: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (bytes[i]! < SPACE || bytes[i]! > 0x7e) return false;
  return true;
}

/** Printable, not empty, at most `limit` bytes, and nothing for a trim to take off its ends. */
function plainName(bytes: Buffer, start: number, end: number, limit: number): boolean {
  return end > start && end - start <= limit && bytes[start] !== SPACE && bytes[end - 1] !== SPACE && printable(bytes, start, end);
}

/** The value of 1 to `digits` ASCII digits in `[min, max]`, else -1 (the rules read other forms, `42.0` or ` 42`, themselves). */
function plainInteger(bytes: Buffer, start: number, end: number, digits: number, min: number, max: number): number {
  if (end <= start || end - start > digits) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const d = bytes[i]! - 48;
    if (d < 0 || d > 9) return -1;
    value = value * 10 + d;
  }
  return value >= min && value <= max ? value : -1;
}

/** A kept song row's snapshot fields as byte ranges of its CSV bytes, and its numbers (one reused per job). */
export interface PlainSong {
  idStart: number;
  idEnd: number;
  nameStart: number;
  nameEnd: number;
  /** `;`-joined as the row has them: a plain row's artists are already what the rules would join. */
  artistsStart: number;
  artistsEnd: number;
  genreStart: number;
  genreEnd: number;
  popularity: number;
  durationMs: number;
}

export const plainSongScratch = (): PlainSong => ({
  idStart: 0,
  idEnd: 0,
  nameStart: 0,
  nameEnd: 0,
  artistsStart: 0,
  artistsEnd: 0,
  genreStart: 0,
  genreEnd: 0,
  popularity: 0,
  durationMs: 0,
});

/**
 * True when the songs row (SONG_COLUMNS) passes SPEC 2.3 and the text
 * contract with nothing to fix, its fields then in `out`; false when
 * `validateSongRow` must decide.
 */
export function plainSongRow(row: CsvRowBytes, out: PlainSong): boolean {
  const { bytes } = row;
  const id = row.fieldStart(SONG.track_id);
  const name = row.fieldStart(SONG.track_name);
  const artists = row.fieldStart(SONG.artists);
  const genre = row.fieldStart(SONG.track_genre);
  const popularity = row.fieldStart(SONG.popularity);
  const duration = row.fieldStart(SONG.duration_ms);
  if (id < 0 || name < 0 || artists < 0 || genre < 0 || popularity < 0 || duration < 0) return false;
  const idEnd = row.fieldEnd(SONG.track_id);
  // The warehouse's bytes bound too, should its column be narrower than SPEC 2.1's 64 characters.
  if (!plainTrackId(bytes, id, idEnd) || idEnd - id > TEXT_LIMITS.trackId) return false;
  out.popularity = plainInteger(bytes, popularity, row.fieldEnd(SONG.popularity), 3, 0, 100);
  out.durationMs = plainInteger(bytes, duration, row.fieldEnd(SONG.duration_ms), 10, 1, MAX_INT32);
  if (out.popularity < 0 || out.durationMs < 0) return false;
  const genreEnd = row.fieldEnd(SONG.track_genre);
  if (!plainName(bytes, genre, genreEnd, TEXT_LIMITS.genre)) return false;
  const nameEnd = row.fieldEnd(SONG.track_name);
  // A label is not trimmed: any printable name that fits is kept as it is.
  if (nameEnd - name > TEXT_LIMITS.trackName || !printable(bytes, name, nameEnd)) return false;
  const artistsEnd = row.fieldEnd(SONG.artists);
  if (!plainArtists(bytes, artists, artistsEnd)) return false;
  out.idStart = id;
  out.idEnd = idEnd;
  out.nameStart = name;
  out.nameEnd = nameEnd;
  out.artistsStart = artists;
  out.artistsEnd = artistsEnd;
  out.genreStart = genre;
  out.genreEnd = genreEnd;
  return true;
}

/** An empty field (no artists), or `A;B;...` of plain names, none repeated: what the rules would join again unchanged. */
function plainArtists(bytes: Buffer, start: number, end: number): boolean {
  if (start === end) return true;
  const cuts = [start - 1];
  for (let i = start; i < end; i++) if (bytes[i] === SEMICOLON) cuts.push(i);
  cuts.push(end);
  for (let k = 0; k + 1 < cuts.length; k++) {
    const from = cuts[k]! + 1;
    const to = cuts[k + 1]!;
    if (!plainName(bytes, from, to, TEXT_LIMITS.artist)) return false;
    for (let j = 0; j < k; j++) if (bytes.compare(bytes, cuts[j]! + 1, cuts[j + 1], from, to) === 0) return false;
  }
  return true;
}

/** The user id of a users row (USER_COLUMNS) that passes SPEC 2.2, or 0 when `validateUserRow` must decide. */
export function plainUserRow(row: CsvRowBytes): number {
  const { bytes } = row;
  const id = row.fieldStart(USER.user_id);
  const age = row.fieldStart(USER.user_age);
  const created = row.fieldStart(USER.created_at);
  if (id < 0 || age < 0 || created < 0) return 0;
  const userId = plainInteger(bytes, id, row.fieldEnd(USER.user_id), 10, 1, MAX_INT32);
  if (userId < 0) return 0;
  const ageEnd = row.fieldEnd(USER.user_age);
  if (ageEnd > age && plainInteger(bytes, age, ageEnd, 3, 0, 150) < 0) return 0;
  const createdEnd = row.fieldEnd(USER.created_at);
  // The rules read the first ten characters of the trimmed text: ASCII digits first means nothing to trim there.
  if (createdEnd > created && !plainDate(bytes, created, createdEnd)) return 0;
  return userId;
}

/** `YYYY-MM-DD` (of a day that exists) in the first ten bytes. */
function plainDate(bytes: Buffer, start: number, end: number): boolean {
  if (end - start < 10 || bytes[start + 4] !== 0x2d || bytes[start + 7] !== 0x2d) return false;
  const year = plainInteger(bytes, start, start + 4, 4, 0, 9999);
  const month = plainInteger(bytes, start + 5, start + 7, 2, 0, 99);
  const day = plainInteger(bytes, start + 8, start + 10, 2, 0, 99);
  return year >= 0 && month >= 0 && day >= 0 && isCalendarDay(year, month, day);
}
