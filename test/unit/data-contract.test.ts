/**
 * The text contract between the pipeline and the warehouse (docs/data-contract.md):
 * limits read from the KPI tables' column types, in bytes; names cleaned and cut,
 * unusable track ids quarantined (catalogue) or rejected (streams).
 */
import { describe, expect, it } from 'vitest';
import { CatalogueFixCounts, duplicatedColumns, validateSongRow, validateStreamRow } from '@musicflow/ingest';
import { cutToBytes, fitText, KPI_TEXT_COLUMNS, TEXT_LIMITS, utf8Bytes } from '@musicflow/warehouse/text-contract';

const song = (over: Record<string, string> = {}) => ({
  track_id: 'trk-1',
  artists: 'A;B',
  album_name: 'Album',
  track_name: 'Name',
  popularity: '42',
  duration_ms: '210000',
  track_genre: 'pop',
  ...over,
});
const CYRILLIC_64 = 'д'.repeat(64); // 64 characters, 128 bytes
const EMOJI_64 = '😀'.repeat(64); // 64 code points, 128 UTF-16 units, 256 bytes

describe('column limits', () => {
  it("come from the KPI tables' VARCHAR(n), one list for PostgreSQL and Redshift", () => {
    expect(TEXT_LIMITS).toEqual({ genre: 256, trackId: 64, trackName: 1024, artist: 1024 });
    expect(KPI_TEXT_COLUMNS).toEqual([
      { table: 'analytics.genre_kpis', column: 'genre', bytes: 256 },
      { table: 'analytics.genre_kpis', column: 'most_popular_track_id', bytes: 64 },
      { table: 'analytics.genre_kpis', column: 'most_popular_track_name', bytes: 1024 },
      { table: 'analytics.hourly_kpis', column: 'top_artist', bytes: 1024 },
    ]);
  });
});

describe('cutToBytes', () => {
  it('keeps whole code points within the byte limit', () => {
    expect(cutToBytes('abc', 3)).toBe('abc');
    expect(cutToBytes('abcd', 3)).toBe('abc');
    expect(cutToBytes('дддд', 5)).toBe('дд'); // 2-byte characters: never half of one
    expect(cutToBytes('a€€', 6)).toBe('a€'); // 3 bytes each
    expect(cutToBytes('a😀😀', 8)).toBe('a😀'); // 4 bytes, never a lone surrogate
    expect(cutToBytes('😀', 3)).toBe('');
  });
});

describe('fitText', () => {
  it('turns control characters (NUL included) into spaces and trims, keeping U+FFFD', () => {
    expect(fitText('Song\u0000Title', 1024, 'label')).toEqual({ text: 'Song Title', fixes: ['control_characters'] });
    expect(fitText('\u0001Line\r\n\tTwo\u007f\u0085', 1024, 'label')).toEqual({ text: 'Line Two', fixes: ['control_characters'] });
    expect(fitText('Caf\uFFFD', 1024, 'label')).toEqual({ text: 'Caf\uFFFD', fixes: [] });
    expect(fitText(' untouched ', 1024, 'label')).toEqual({ text: ' untouched ', fixes: [] });
  });

  it('cuts a label too long in characters, or only in bytes, at a character boundary', () => {
    expect(fitText('x'.repeat(1100), 1024, 'label')).toEqual({ text: 'x'.repeat(1024), fixes: ['too_long'] });
    // 700 characters fit PostgreSQL's VARCHAR(1024), their 1,400 bytes do not fit Redshift's.
    expect(fitText('я'.repeat(700), 1024, 'label')).toEqual({ text: 'я'.repeat(512), fixes: ['too_long'] });
    expect(fitText('я'.repeat(512), 1024, 'label').fixes).toEqual([]);
    expect(fitText('😀'.repeat(300), 1024, 'label').text).toBe('😀'.repeat(256));
  });

  it('keeps two long keys with one prefix apart, and the same key the same', () => {
    const a = fitText(`${'g'.repeat(300)}-a`, 256, 'key');
    const b = fitText(`${'g'.repeat(300)}-b`, 256, 'key');
    expect(a.fixes).toEqual(['too_long']);
    expect(utf8Bytes(a.text)).toBe(256);
    expect(a.text).toMatch(/^g{247}~[0-9a-f]{8}$/);
    expect(a.text).not.toBe(b.text);
    expect(fitText(`${'g'.repeat(300)}-a`, 256, 'key')).toEqual(a);
    const cyrillic = fitText('ж'.repeat(200), 256, 'key'); // 200 characters fit PostgreSQL, 400 bytes do not fit Redshift
    expect(utf8Bytes(cyrillic.text)).toBeLessThanOrEqual(256);
    expect(cyrillic.text).toMatch(/^ж{123}~[0-9a-f]{8}$/);
  });
});

describe('catalogue rows and the text contract', () => {
  it.each([
    ['a NUL', 'trk\u0000x', 'invalid_track_id_characters'],
    ['a control character', 'trk\u0001x', 'invalid_track_id_characters'],
    ['a C1 control character', 'trk\u0085x', 'invalid_track_id_characters'],
    ['U+FFFD (bytes that were not UTF-8)', 'trk\uFFFDx', 'invalid_track_id_characters'],
    ['a tab', 'trk\tx', 'invalid_track_id_characters'],
    ['a space', 'trk x', 'invalid_track_id'],
    ['65 characters', 'x'.repeat(65), 'invalid_track_id'],
    ['64 characters of 128 bytes', CYRILLIC_64, 'track_id_too_long'],
    ['64 code points of 256 bytes', EMOJI_64, 'track_id_too_long'],
  ])('quarantines a track id with %s, with its own reason', (_, trackId, code) => {
    expect(validateSongRow(song({ track_id: trackId }))).toMatchObject({ field: 'track_id', value: trackId, code });
  });

  it('keeps track ids that fit 64 bytes, in any script', () => {
    expect(validateSongRow(song({ track_id: 'x'.repeat(64) }))).toMatchObject({ trackId: 'x'.repeat(64), fixes: [] });
    expect(validateSongRow(song({ track_id: 'д'.repeat(32) }))).toMatchObject({ trackId: 'д'.repeat(32), fixes: [] });
  });

  it('cleans and cuts names, artists and genres, listing each fix by field', () => {
    const r = validateSongRow(song({ track_name: `Bad\u0000${'я'.repeat(700)}`, artists: 'A\u0000;B;A ;' + 'z'.repeat(1100), track_genre: 'g'.repeat(300) }));
    if (!('song' in r)) throw new Error(r.reason);
    expect(r.fixes.sort()).toEqual([
      'artists.control_characters',
      'artists.too_long',
      'track_genre.too_long',
      'track_name.control_characters',
      'track_name.too_long',
    ]);
    expect(utf8Bytes(r.song.trackName)).toBeLessThanOrEqual(1024);
    expect(r.song.trackName.startsWith('Bad я')).toBe(true);
    expect(r.song.artists).toEqual(['A', 'B', 'z'.repeat(1015) + '~' + r.song.artists[2]!.slice(-8)]);
    expect(utf8Bytes(r.genre)).toBe(256);
  });

  it('quarantines a genre that is only control characters, as an empty one', () => {
    expect(validateSongRow(song({ track_genre: '\u0000\u0001' }))).toMatchObject({ field: 'track_genre', code: 'invalid_track_genre' });
  });

  it('counts fixes by field and fix over a table', () => {
    const counts = new CatalogueFixCounts();
    counts.add(['track_name.too_long', 'artists.control_characters']);
    counts.add(['track_name.too_long']);
    counts.add([]);
    expect(counts.counts).toEqual({ 'track_name.too_long': 2, 'artists.control_characters': 1 });
  });
});

describe('stream rows and the text contract', () => {
  it.each(['t\u0000', '\u0000', 't\u0001x', 't\u007f', 't\u009f', 't\uFFFD', 't\uD800', 'a\tb', 'trk\r'])(
    'rejects track_id %j with invalid_track_id_characters',
    (trackId) => {
      expect(validateStreamRow('1', trackId, '2024-06-25 10:00:00')).toEqual({
        ok: false,
        reason: 'invalid_track_id_characters',
        field: 'track_id',
        value: trackId,
      });
    },
  );

  it('accepts 64 characters of multi-byte text, as SPEC 2.1 counts characters', () => {
    expect(validateStreamRow('1', CYRILLIC_64, '2024-06-25 10:00:00')).toMatchObject({ ok: true, trackId: CYRILLIC_64 });
    expect(validateStreamRow('1', EMOJI_64, '2024-06-25 10:00:00')).toMatchObject({ ok: true, trackId: EMOJI_64 });
    expect(validateStreamRow('1', `${CYRILLIC_64}д`, '2024-06-25 10:00:00')).toMatchObject({ ok: false, reason: 'invalid_track_id' });
  });
});

describe('duplicatedColumns', () => {
  it('names each required column the header holds more than once', () => {
    expect(duplicatedColumns(['user_id', 'track_id', 'listen_time', 'user_id', 'x', 'x'], ['user_id', 'track_id', 'listen_time'])).toEqual(['user_id']);
    expect(duplicatedColumns(['user_id', 'track_id', 'listen_time'], ['user_id', 'track_id', 'listen_time'])).toEqual([]);
  });
});
