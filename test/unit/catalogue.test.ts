/**
 * SPEC 2.2 / 2.3 row rules, the song catalogue, CSV catalogue sources and the
 * quarantine writer (file:// store in a temp folder of this file).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  inShard,
  readCatalogueSource,
  SONG_COLUMNS,
  SourceFormatError,
  TrackFingerprintSet,
  USER_COLUMNS,
  validateSongRow,
  validateUserRow,
  type SourceRow,
} from '@musicflow/ingest';
import { catalogueShardCounts, MAX_CATALOGUE_SHARDS } from '@musicflow/flow';
import { QUARANTINE_HEADER, QuarantineWriter } from '@musicflow/lake';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { fileUrl, tempDir } from '../helpers/env.ts';
import { snapshotSongs } from '../helpers/snapshot.ts';

const song = (over: Record<string, string | undefined> = {}) => ({
  track_id: 'trk-1',
  artists: 'A;B',
  album_name: 'Album',
  track_name: 'Name, with "quotes"',
  popularity: '42',
  duration_ms: '210000',
  track_genre: 'pop',
  ...over,
});

describe('validateSongRow', () => {
  it('accepts a good row, splitting `A;B` credits', () => {
    expect(validateSongRow(song())).toEqual({
      trackId: 'trk-1',
      genre: 'pop',
      song: { trackId: 'trk-1', trackName: 'Name, with "quotes"', artists: ['A', 'B'], popularity: 42, durationMs: 210000 },
      fixes: [],
    });
    expect(validateSongRow(song({ artists: ' A ; ;B;A ' }))).toMatchObject({ song: { artists: ['A', 'B'] } });
    expect(validateSongRow(song({ popularity: '0', duration_ms: '1' }))).toMatchObject({ song: { popularity: 0, durationMs: 1 } });
    expect(validateSongRow(song({ popularity: '100', duration_ms: '210000.0' }))).toMatchObject({ song: { popularity: 100, durationMs: 210000 } });
    expect(validateSongRow(song({ duration_ms: '2147483647' }))).toMatchObject({ song: { durationMs: 2147483647 } });
  });

  it.each([
    ['track_id', ''],
    ['track_id', 'a b'],
    ['track_id', 'x'.repeat(65)],
    ['popularity', '101'],
    ['popularity', '-1'],
    ['popularity', '4.5'],
    ['popularity', 'high'],
    ['popularity', ''],
    ['duration_ms', '0'],
    ['duration_ms', '-5'],
    ['duration_ms', 'abc'],
    ['duration_ms', '2147483648'], // beyond the lake's INT32 column
    ['duration_ms', ''],
    ['track_genre', ''],
    ['track_genre', '   '],
  ])('rejects %s %j, naming the field', (field, value) => {
    expect(validateSongRow(song({ [field]: value }))).toMatchObject({ field, reason: expect.stringContaining(field) });
  });
});

describe('validateUserRow', () => {
  const user = (over: Record<string, string | undefined> = {}) => ({
    user_id: '7',
    user_name: 'Ann',
    user_age: '30',
    user_country: 'FR',
    created_at: '2023-01-31',
    ...over,
  });

  it('accepts good rows, with optional age and creation date', () => {
    expect(validateUserRow(user())).toEqual({ userId: 7 });
    expect(validateUserRow(user({ user_age: '', created_at: '' }))).toEqual({ userId: 7 });
    expect(validateUserRow(user({ created_at: '2023-01-31 12:00:00' }))).toEqual({ userId: 7 });
  });

  it.each([
    ['user_id', '0'],
    ['user_id', '-1'],
    ['user_id', '1.5'],
    ['user_id', 'abc'],
    ['user_id', ''],
    ['user_age', '-3'],
    ['user_age', 'old'],
    ['created_at', 'yesterday'],
    ['created_at', '2023-02-30'],
    ['created_at', '2023-13-01'],
    ['created_at', '31/01/2023'],
  ])('rejects %s %j', (field, value) => {
    expect(validateUserRow(user({ [field]: value }))).toMatchObject({ field });
  });

  it("takes a created_at exactly when it is a day of Date's calendar (leap years, centuries, year 0)", () => {
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    const isDay = (text: string) => !Number.isNaN(Date.parse(text)) && new Date(Date.parse(text)).toISOString().slice(0, 10) === text;
    for (const year of [0, 4, 100, 1900, 1999, 2000, 2023, 2024, 2100, 2400, 9999]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          const text = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}`;
          expect('userId' in validateUserRow(user({ created_at: text })), text).toBe(isDay(text));
        }
      }
    }
  });
});

describe("the catalogue jobs' shards", () => {
  it('are sized by the run ids over CATALOGUE_*_PER_JOB, one at least, MAX_CATALOGUE_SHARDS at most', () => {
    const config = { CATALOGUE_TRACKS_PER_JOB: 1000, CATALOGUE_USERS_PER_JOB: 4000 };
    expect(catalogueShardCounts(config, { tracks: 0, users: 0 })).toEqual({ songs: 1, users: 1 });
    expect(catalogueShardCounts(config, { tracks: 1000, users: 4001 })).toEqual({ songs: 1, users: 2 });
    expect(catalogueShardCounts(config, { tracks: 10_000_000, users: 8000 })).toEqual({ songs: MAX_CATALOGUE_SHARDS, users: 2 });
  });

  it('put every id in exactly one shard, spread evenly', () => {
    const count = 5;
    const users = new Array<number>(count).fill(0);
    const tracks = Array.from({ length: count }, (_, index) => new TrackFingerprintSet({ index, count }));
    for (let id = 1; id <= 50_000; id++) {
      const owners = Array.from({ length: count }, (_, index) => index).filter((index) => inShard(id, { index, count }));
      expect(owners).toHaveLength(1);
      users[owners[0]!]!++;
      const bytes = Buffer.from(`trk-${id}`);
      for (const set of tracks) set.add(bytes, 0, bytes.length);
    }
    expect(tracks.reduce((n, set) => n + set.size, 0)).toBe(50_000);
    for (const n of [...users, ...tracks.map((set) => set.size)]) expect(Math.abs(n - 10_000)).toBeLessThan(500);
  });
});

describe('the songs of a run snapshot', () => {
  it('puts a track in every genre it is listed under; the first row of a track and of a (track, genre) pair wins', async () => {
    const songs = await snapshotSongs([
      song({ track_id: 't1', track_genre: 'pop', track_name: 'First' }),
      song({ track_id: 't2', track_genre: 'jazz' }),
      song({ track_id: 't1', track_genre: 'rock', track_name: 'Second', popularity: '9' }),
      song({ track_id: 't1', track_genre: 'pop', track_name: 'Third' }), // repeated pair: ignored
    ]);
    expect(songs.size).toBe(2);
    expect(songs.get('t1')).toEqual({
      trackId: 't1',
      trackName: 'First',
      artists: ['A', 'B'],
      popularity: 42,
      durationMs: 210000,
      genres: ['pop', 'rock'],
    });
    expect(songs.get('t2')?.genres).toEqual(['jazz']);
  });
});

describe('CSV catalogue sources and quarantine (file://)', () => {
  let dir: string;
  let store: ObjectStore;

  const write = async (name: string, body: string) => {
    await fs.writeFile(path.join(dir, name), body);
    return fileUrl(path.join(dir, name));
  };
  const readAll = async (url: string, table: string, required: readonly string[]) => {
    // The record is decoded while its row is the current one.
    const rows: (Omit<SourceRow, 'record'> & { record: string[] })[] = [];
    for await (const batch of readCatalogueSource(store, url, table, required))
      for (const r of batch) rows.push({ values: r.values, record: r.record(), line: r.line });
    return rows;
  };

  beforeAll(async () => {
    dir = await tempDir('musicflow-catalogue-');
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads rows by column name whatever the order, with BOM, CRLF, quotes and extra columns', async () => {
    const url = await write(
      'songs.csv',
      '\uFEFFid,track_genre,popularity,track_name,artists,album_name,duration_ms,track_id,energy\r\n' +
        '0,pop,42,"Hello, ""World""",A;B,Alb,210000,t1,0.5\r\n' +
        '1,rock,7,"Two\r\nLines",C,Alb,1000,t2,0.1\r\n\r\n',
    );
    expect(await readAll(url, 'songs', SONG_COLUMNS)).toEqual([
      {
        line: 2,
        values: {
          track_id: 't1',
          track_name: 'Hello, "World"',
          artists: 'A;B',
          album_name: 'Alb',
          popularity: '42',
          duration_ms: '210000',
          track_genre: 'pop',
        },
        // The whole record, extra columns included, for quarantine.
        record: ['0', 'pop', '42', 'Hello, "World"', 'A;B', 'Alb', '210000', 't1', '0.5'],
      },
      {
        line: 4,
        values: { track_id: 't2', track_name: 'Two\r\nLines', artists: 'C', album_name: 'Alb', popularity: '7', duration_ms: '1000', track_genre: 'rock' },
        record: ['1', 'rock', '7', 'Two\r\nLines', 'C', 'Alb', '1000', 't2', '0.1'],
      },
    ]);
  });

  it('throws SourceFormatError naming every missing column, and for an empty file', async () => {
    const url = await write('users.csv', 'user_id,user_name\n1,Ann\n');
    await expect(readAll(url, 'users', USER_COLUMNS)).rejects.toThrow(SourceFormatError);
    await expect(readAll(url, 'users', USER_COLUMNS)).rejects.toThrow(/user_age, user_country, created_at/);
    const empty = await write('empty.csv', '');
    await expect(readAll(empty, 'users', USER_COLUMNS)).rejects.toThrow(SourceFormatError);
    // A header-only file is a valid, empty catalogue.
    expect(await readAll(await write('header.csv', 'user_id,user_name,user_age,user_country,created_at\n'), 'users', USER_COLUMNS)).toEqual([]);
  });

  it('writes quarantine rows with file, line, reason, field, value and the raw row, only when there is one', async () => {
    const none = new QuarantineWriter(store, fileUrl(path.join(dir, 'q', 'none.csv')), 'streams1.csv');
    expect(await none.close()).toBeUndefined();
    await expect(fs.access(path.join(dir, 'q', 'none.csv'))).rejects.toThrow();

    const url = fileUrl(path.join(dir, 'q', 'run=r1', 'streams1.csv'));
    const q = new QuarantineWriter(store, url, 'streams1.csv');
    await q.add(3, 'invalid_user_id', 'user_id', '0', ['0', 't', '2024-06-25 10:00:00']);
    await q.add(9, 'invalid_track_id', 'track_id', 'a "b", c', ['1', 'a "b", c', '2024-06-25 10:00:00']);
    expect(q.count).toBe(2);
    expect(await q.close()).toBe(url);
    const rows = parse(await fs.readFile(path.join(dir, 'q', 'run=r1', 'streams1.csv')));
    expect(rows).toEqual([
      [...QUARANTINE_HEADER],
      ['streams1.csv', '3', 'invalid_user_id', 'user_id', '0', '0,t,2024-06-25 10:00:00'],
      ['streams1.csv', '9', 'invalid_track_id', 'track_id', 'a "b", c', '1,"a ""b"", c",2024-06-25 10:00:00'],
    ]);
  });
});
