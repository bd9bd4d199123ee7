/**
 * The catalogue rules' fast paths over a CSV row's bytes (`plainSongRow`,
 * `plainUserRow`) against the rules on the decoded values
 * (`validateSongRow`, `validateUserRow`): on thousands of rows drawn from
 * fields the rules treat differently (spaces to trim, `42.0`, non-ASCII,
 * repeated artists, limits, quotes, impossible dates), every row a fast path
 * decides is one the rules keep, with the same values, and the snapshot row
 * it writes is the same bytes. Every row of plain values (the first two of
 * each field's list) must be decided by the fast path.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  plainSongRow,
  plainSongScratch,
  plainUserRow,
  readCatalogueSource,
  SONG_COLUMNS,
  USER_COLUMNS,
  validateSongRow,
  validateUserRow,
  type SourceRow,
} from '@musicflow/ingest';
import { SongsSnapshotWriter } from '@musicflow/lake';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { fileUrl, tempDir } from '../helpers/env.ts';

const SONG_FIELDS: Record<(typeof SONG_COLUMNS)[number], string[]> = {
  track_id: ['t1', 'T-2_x', 'a b', ' t3', 't4 ', '', 'x'.repeat(64), 'x'.repeat(65), 'tü', 'q"q', 't\t5', 'c,d'],
  artists: ['', 'A', 'A;B', 'A;A', 'A; B', ' A', 'A;', ';', 'A;;B', 'Ä', 'a'.repeat(1025), 'A B;C', 'A;B;A', 'x"y'],
  album_name: ['Alb', '', 'Ålb'],
  track_name: ['Name', '', ' Name ', 'Nâme', 'n'.repeat(1024), 'n'.repeat(1025), 'N\u0001', 'N"q"', 'a,b'],
  popularity: ['0', '42', '100', '101', '042', '42.0', ' 42', '-1', '', 'x', '0100'],
  duration_ms: ['1', '210000', '0', '2147483647', '2147483648', '00001', '1.0', '', '99999999999'],
  track_genre: ['pop', 'hip hop', ' pop', 'pop ', '', 'g'.repeat(256), 'g'.repeat(257), 'pöp', 'p\u007f'],
};
const USER_FIELDS: Record<(typeof USER_COLUMNS)[number], string[]> = {
  user_id: ['1', '01', '0', '2147483647', '2147483648', ' 5', '5.0', 'x', '', '12345678901'],
  user_name: ['Ann', ''],
  user_age: ['', '0', '150', '151', '30.0', ' 30', 'x', '007', '1000'],
  user_country: ['SE', ''],
  created_at: [
    '',
    '2024-01-05',
    '2024-02-30',
    '2024-02-29',
    '2023-02-29',
    '2024-01-05 10:00:00',
    ' 2024-01-05',
    '2024-1-05',
    '2024-01-05x',
    '1900-02-29',
    '2000-02-29',
    '2024-13-01',
    '2024-00-10',
  ],
};

/** Whether every required value of `row` is one of the first two of its field's list: a row the fast path must decide. */
const plainValues = (fields: Record<string, string[]>, row: SourceRow) =>
  Object.entries(fields).every(([c, values]) => values.slice(0, 2).includes(row.values[c]!));

/** A deterministic draw of `count` rows over `fields`, about half plain (see plainValues), as a CSV with an extra column. */
function drawCsv(fields: Record<string, string[]>, count: number, seed: number): string {
  let state = seed;
  const rand = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const columns = Object.keys(fields);
  const rows = Array.from({ length: count }, () =>
    columns.map((c) => {
      const values = fields[c]!;
      return rand() < 0.5 ? values[Math.floor(rand() * 2)]! : values[Math.floor(rand() * values.length)]!;
    }),
  );
  return stringify([['extra', ...columns], ...rows.map((r) => ['0.5', ...r])]);
}

/** Calls `f` with each row of `file` while its batch is the current one (a row's bytes are its batch's). */
async function forEachRow(store: ObjectStore, file: string, table: string, required: readonly string[], f: (row: SourceRow) => Promise<void> | void) {
  for await (const batch of readCatalogueSource(store, fileUrl(file), table, required)) for (const row of batch) await f(row);
}

describe('catalogue rules from bytes', () => {
  let dir: string;
  let store: ObjectStore;

  beforeAll(async () => {
    dir = await tempDir('catalogue-row-bytes-');
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a songs row the fast path keeps is the row the rules keep, and its snapshot row is the same bytes', async () => {
    const file = path.join(dir, 'songs.csv');
    await fs.writeFile(file, drawCsv(SONG_FIELDS, 5000, 7));
    const slow = new SongsSnapshotWriter(store, `${fileUrl(path.join(dir, 'slow'))}/`);
    const fast = new SongsSnapshotWriter(store, `${fileUrl(path.join(dir, 'fast'))}/`);
    const plain = plainSongScratch();
    let decided = 0;
    await forEachRow(store, file, 'songs', SONG_COLUMNS, async (row) => {
      const result = validateSongRow(row.values);
      const taken = plainSongRow(row.csv!, plain);
      if (plainValues(SONG_FIELDS, row)) expect(taken).toBe(true);
      if (!taken) return;
      decided++;
      expect(result).toMatchObject({ trackId: row.values.track_id, fixes: [] });
      if (!('song' in result)) return;
      const text = (start: number, end: number) => row.csv!.bytes.toString('utf8', start, end);
      expect([text(plain.idStart, plain.idEnd), plain.popularity, plain.durationMs]).toEqual([result.trackId, result.song.popularity, result.song.durationMs]);
      expect([text(plain.nameStart, plain.nameEnd), text(plain.artistsStart, plain.artistsEnd), text(plain.genreStart, plain.genreEnd)]).toEqual([
        result.song.trackName,
        result.song.artists.join(';'),
        result.genre,
      ]);
      await slow.add(result.trackId, result.genre, result.song);
      await fast.addPlain(row.csv!.bytes, plain);
    });
    await Promise.all([slow.close(), fast.close()]);
    expect(decided).toBeGreaterThan(100);
    expect(fast.snapshot.groups).toEqual([1]);
    expect(await fs.readFile(path.join(dir, 'fast', 'group=0', '0.bin'))).toEqual(await fs.readFile(path.join(dir, 'slow', 'group=0', '0.bin')));
  });

  it('a users row the fast path keeps is the row the rules keep, with its id', async () => {
    const file = path.join(dir, 'users.csv');
    await fs.writeFile(file, drawCsv(USER_FIELDS, 5000, 11));
    let decided = 0;
    await forEachRow(store, file, 'users', USER_COLUMNS, (row) => {
      const result = validateUserRow(row.values);
      const userId = plainUserRow(row.csv!);
      if (plainValues(USER_FIELDS, row)) expect(userId).toBeGreaterThan(0);
      if (!userId) return;
      decided++;
      expect(result).toEqual({ userId });
    });
    expect(decided).toBeGreaterThan(100);
  });
});
