/**
 * The RDS catalogue source: readCatalogueSource with a postgres:// URL against
 * a real PostgreSQL database created for this file (tables `users`, `songs`).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalogueSource, SONG_COLUMNS, SourceFormatError, USER_COLUMNS, validateSongRow, validateUserRow, type SourceRow } from '@musicflow/ingest';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { createTestDatabase, dropTestDatabase } from '../helpers/env.ts';
import { snapshotSongs } from '../helpers/snapshot.ts';

describe('readCatalogueSource from PostgreSQL (RDS)', () => {
  let dbUrl: string;
  let client: pg.Client;
  let store: ObjectStore;

  const readAll = async (url: string, table: string, required: readonly string[]) => {
    const rows: (Omit<SourceRow, 'record'> & { record: string[] })[] = [];
    for await (const batch of readCatalogueSource(store, url, table, required))
      for (const r of batch) rows.push({ values: r.values, record: r.record(), line: r.line });
    return rows;
  };

  beforeAll(async () => {
    dbUrl = await createTestDatabase();
    client = new pg.Client({ connectionString: dbUrl });
    await client.connect();
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    await client.query(`
      CREATE TABLE users (
        user_id INTEGER, user_name VARCHAR(100), user_age INTEGER, user_country VARCHAR(2), created_at DATE, extra BOOLEAN
      );
      INSERT INTO users VALUES
        (1, 'Ann', 30, 'FR', '2023-01-31', true),
        (2, 'Bo, "the" Second', NULL, NULL, NULL, false),
        (0, 'Zero', 20, 'DE', '2023-02-01', NULL),
        (1, 'Ann again', 31, 'FR', '2023-03-01', NULL);
      CREATE TABLE songs (
        id INTEGER, track_id VARCHAR(64), artists VARCHAR(200), album_name VARCHAR(200), track_name VARCHAR(200),
        popularity SMALLINT, duration_ms NUMERIC(12, 1), explicit BOOLEAN, danceability DOUBLE PRECISION, track_genre VARCHAR(50)
      );
      INSERT INTO songs VALUES
        (0, 't1', 'A;B', 'Alb', 'Hello, "World"', 42, 210000.0, false, 0.5, 'pop'),
        (1, 't1', 'A;B', 'Alb', 'Hello, "World"', 42, 210000, false, 0.5, 'rock'),
        (2, 't2', 'C', NULL, 'Two', 7, 1000, true, 0.1, 'jazz'),
        (3, 't3', 'D', 'Alb', 'Bad', 150, 1000, true, 0.1, 'jazz');
      CREATE TABLE big_songs AS
        SELECT 'trk-' || g AS track_id, 'Artist ' || (g % 97) AS artists, 'Album' AS album_name, 'Track ' || g AS track_name,
               g % 101 AS popularity, 1000 + g AS duration_ms, 'genre-' || (g % 5) AS track_genre
        FROM generate_series(1, 12000) AS g;
      CREATE TABLE songs_missing (track_id VARCHAR(64), artists VARCHAR(200), track_name VARCHAR(200), popularity INTEGER);
      CREATE SCHEMA hidden;
      CREATE TABLE hidden.only_here (user_id INTEGER);
    `);
  });

  afterAll(async () => {
    await client?.end();
    await store?.close();
    if (dbUrl) await dropTestDatabase(dbUrl);
  });

  it('streams the required columns as text, NULL as undefined, extra columns ignored, rows numbered', async () => {
    const rows = await readAll(dbUrl, 'users', USER_COLUMNS);
    expect(rows.map((r) => r.line)).toEqual([1, 2, 3, 4]);
    const byName = Object.fromEntries(rows.map((r) => [r.values.user_name, r.values]));
    expect(byName['Ann']).toEqual({ user_id: '1', user_name: 'Ann', user_age: '30', user_country: 'FR', created_at: '2023-01-31' });
    expect(byName['Bo, "the" Second']).toEqual({
      user_id: '2',
      user_name: 'Bo, "the" Second',
      user_age: undefined,
      user_country: undefined,
      created_at: undefined,
    });
    expect(Object.keys(byName['Ann'])).not.toContain('extra');
    // Table rows go through the same rules as CSV rows: user 0 is bad, the others are fine.
    expect(rows.map((r) => 'userId' in validateUserRow(r.values))).toEqual(rows.map((r) => r.values.user_id !== '0'));
  });

  it('gives song rows that validate into a catalogue (numeric 210000.0 is a whole number)', async () => {
    const rows = await readAll(dbUrl, 'songs', SONG_COLUMNS);
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(Object.keys(r.values).sort()).toEqual([...SONG_COLUMNS].sort());
    const problems: string[] = [];
    for (const r of rows) {
      const v = validateSongRow(r.values);
      if ('reason' in v) problems.push(`${v.field}=${v.value}`);
    }
    expect(problems).toEqual(['popularity=150']);
    const songs = Object.fromEntries(await snapshotSongs(rows.map((r) => r.values).filter((v) => !('reason' in validateSongRow(v)))));
    expect(songs['t1']).toEqual({
      trackId: 't1',
      trackName: 'Hello, "World"',
      artists: ['A', 'B'],
      popularity: 42,
      durationMs: 210000,
      genres: expect.arrayContaining(['pop', 'rock']),
    });
    expect(songs['t1']!.genres).toHaveLength(2);
    expect(songs['t2']).toMatchObject({ durationMs: 1000, genres: ['jazz'] });
  });

  it('streams a table larger than one fetch batch', async () => {
    const rows = await readAll(dbUrl, 'big_songs', SONG_COLUMNS);
    expect(rows).toHaveLength(12000);
    expect(new Set(rows.map((r) => r.values.track_id)).size).toBe(12000);
    expect(rows.at(-1)!.line).toBe(12000);
  });

  it('throws SourceFormatError for a missing table, also one only in a schema outside the search path', async () => {
    await expect(readAll(dbUrl, 'no_such_table', SONG_COLUMNS)).rejects.toThrow(SourceFormatError);
    await expect(readAll(dbUrl, 'no_such_table', SONG_COLUMNS)).rejects.toThrow(/table no_such_table not found/);
    await expect(readAll(dbUrl, 'only_here', ['user_id'])).rejects.toThrow(SourceFormatError);
  });

  it('throws SourceFormatError naming every missing column', async () => {
    const err = await readAll(dbUrl, 'songs_missing', SONG_COLUMNS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceFormatError);
    expect((err as Error).message).toMatch(/missing column\(s\) album_name, duration_ms, track_genre$/);
  });

  it("tells the table's columns in table order, also when it refuses a missing one (for schema drift)", async () => {
    const users = readCatalogueSource(store, dbUrl, 'users', USER_COLUMNS);
    for await (const row of users) void row;
    expect(users.columns).toEqual(['user_id', 'user_name', 'user_age', 'user_country', 'created_at', 'extra']);
    const missing = readCatalogueSource(store, dbUrl, 'songs_missing', SONG_COLUMNS);
    await expect(missing.next()).rejects.toThrow(SourceFormatError);
    expect(missing.columns).toEqual(['track_id', 'artists', 'track_name', 'popularity']);
  });

  it('does not put the password of the URL in its errors', async () => {
    const url = new URL(dbUrl);
    url.username = url.username || 'postgres';
    url.password = 'sup3r-secret';
    const err = await readAll(url.toString(), 'no_such_table', SONG_COLUMNS).catch((e: unknown) => e);
    // With trust auth the password is ignored and we get the format error; otherwise an auth error. Neither may leak it.
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).not.toContain('sup3r-secret');
  });

  it('a session cut mid-read (a failover) fails the read with an ordinary (retryable) error, without an uncaught error', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const rows = readCatalogueSource(store, dbUrl, 'big_songs', SONG_COLUMNS);
      await rows.next(); // the first batch is read, the rest waits in the server's cursor
      const { rows: sessions } = await client.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%big_songs%'`,
      );
      expect(sessions).toHaveLength(1);
      await client.query('SELECT pg_terminate_backend($1)', [sessions[0]!.pid]);
      await new Promise((resolve) => setTimeout(resolve, 200)); // the cut reaches the reader's client
      const err = await (async () => {
        for await (const row of rows) void row;
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(SourceFormatError);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('fails with an ordinary (retryable) error when the database cannot be reached', async () => {
    const err = await readAll('postgres://postgres@127.0.0.1:1/nowhere', 'songs', SONG_COLUMNS).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SourceFormatError);
  });
});
