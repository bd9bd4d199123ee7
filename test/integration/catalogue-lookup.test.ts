/**
 * Issue 16: a run's catalogue is what its events name. The RDS source looks
 * the run's ids up by key in tables of millions of rows (no full scan); a CSV
 * source is streamed once and only the run's rows are kept. SPEC 2.2/2.3
 * rules stay exact.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  catalogueSnapshotsFor,
  CleanEventsWriter,
  encodeChunkKeys,
  joinCatalogueShards,
  QUARANTINE_HEADER,
  readChunkCatalogue,
  readKeysCatalogue,
  songsSnapshotGroup,
  UsersSnapshotWriter,
} from '@musicflow/lake';
import { UserIdSet } from '@musicflow/ingest';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { catalogueResultSchema, ONE_SHARD, TRACK_GROUPS, type CatalogueResult, type RunContext } from '@musicflow/contracts';
import { extractCatalogueTable } from '../../services/extractor/src/catalogue.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, tempDir, testConfig } from '../helpers/env.ts';

const USERS = 2_000_000;
const SONGS = 1_000_000;

describe('catalogue lookup for a run', () => {
  let work: string;
  let rdsUrl: string;
  let store: ObjectStore;
  let keysUrl: string;
  // The run's 200 track ids.
  const trackIds = [...new Set(Array.from({ length: 3000 }, (_, i) => (i % 200 === 199 ? 'not-in-catalogue' : `trk-${(i % 200) * 4999 + 1}`)))];
  const run = (users: string, songs: string): RunContext => ({
    runId: 'lookup-test',
    trigger: 'test',
    startedAt: new Date().toISOString(),
    sources: { streams: dirUrl(path.join(work, 'streams')), users, songs },
    lake: dirUrl(path.join(work, 'lake')),
    archive: dirUrl(path.join(work, 'archive')),
  });

  beforeAll(async () => {
    work = await tempDir();
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    // The run's clean events: 300 users (every seventh one not in the catalogue) and 200 tracks (one unknown), as their chunk's keys.
    const out = new PassThrough();
    const upload = store.write(fileUrl(path.join(work, 'run.events')), out);
    const events = new CleanEventsWriter(out);
    for (let i = 0; i < 3000; i++) await events.add((i % 300) * 3 + 1, i % 200 === 199 ? 'not-in-catalogue' : `trk-${(i % 200) * 4999 + 1}`, 1719309600000 + i);
    await events.end();
    await upload;
    keysUrl = fileUrl(path.join(work, 'run.keys'));
    await store.write(keysUrl, events.keys());

    rdsUrl = await createTestDatabase();
    const client = new pg.Client({ connectionString: rdsUrl });
    await client.connect();
    await client.query(`
      CREATE TABLE users AS
        SELECT g AS user_id, 'user ' || g AS user_name, 20 + g % 50 AS user_age, 'FR' AS user_country, DATE '2023-01-01' AS created_at
        FROM generate_series(1, ${USERS}) AS g WHERE g % 7 <> 0 OR g > 2100;
      CREATE INDEX ON users (user_id);
      CREATE TABLE songs AS
        SELECT 'trk-' || g AS track_id, 'Artist ' || (g % 97) || ';Guest' AS artists, 'Album' AS album_name, 'Track ' || g AS track_name,
               g % 101 AS popularity, 1000 + g AS duration_ms, 'genre-' || (g % 5) AS track_genre
        FROM generate_series(1, ${SONGS}) AS g;
      -- A second genre for one of the run's tracks, a repeated pair, and a bad row of a wanted track.
      INSERT INTO songs VALUES ('trk-1', 'Other', 'Album', 'Renamed', 1, 1, 'jazz'), ('trk-1', 'Other', 'Album', 'Renamed', 1, 1, 'genre-1'),
                               ('trk-5000', 'X', 'Album', 'Bad', 500, 1, 'pop');
      CREATE INDEX ON songs (track_id);
      ANALYZE users; ANALYZE songs;
    `);
    await client.end();
  });
  afterAll(async () => {
    await store?.close();
    if (rdsUrl) await dropTestDatabase(rdsUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  const scans = async () => {
    const client = new pg.Client({ connectionString: rdsUrl });
    await client.connect();
    const { rows } = await client.query(`SELECT relname, seq_scan, idx_scan FROM pg_stat_user_tables WHERE relname IN ('users', 'songs') ORDER BY relname`);
    await client.end();
    return Object.fromEntries(rows.map((r) => [r.relname, { seq: Number(r.seq_scan), idx: Number(r.idx_scan ?? 0) }]));
  };

  it('looks the run ids up in RDS tables of millions of rows by key, never scanning them', async () => {
    const before = await scans();
    const users = await extractCatalogueTable(store, testConfig({}), run(rdsUrl, rdsUrl), 'users', { keysUrls: [keysUrl], partUrls: [] }, ONE_SHARD);
    const songs = await extractCatalogueTable(store, testConfig({}), run(rdsUrl, rdsUrl), 'songs', { keysUrls: [keysUrl], partUrls: [] }, ONE_SHARD);
    // Statistics reach other sessions when a session ends; give the collector a moment.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const after = await scans();

    // 300 wanted users; those with an id divisible by 7 (all below 2100) are not in the table.
    const wantedUsers = new Set(Array.from({ length: 300 }, (_, i) => i * 3 + 1));
    const present = [...wantedUsers].filter((u) => u % 7 !== 0 || u > 2100);
    expect(present.length).toBeLessThan(300);
    expect(users).toMatchObject({ wanted: 300, kept: present.length, rejected: 0, rowsRead: present.length });
    const catalogue = await readChunkCatalogue(store, keysUrl, { songs: [songsSnapshotGroup(songs, 0)], usersUrls: [users.url] });
    expect([...catalogue.users.values()].sort((a, b) => a - b)).toEqual(present.sort((a, b) => a - b));

    // 200 wanted tracks, one unknown; trk-1 has three more rows (a second genre, a repeated pair), trk-5000 a bad one.
    expect(songs).toMatchObject({ wanted: 200, kept: 199, rejected: 1, rowsRead: 199 + 3 });
    expect(trackIds.filter((id) => catalogue.trackOf(id)).length).toBe(199);
    expect(catalogue.trackOf('trk-1')).toEqual({ trackName: 'Track 1', artists: 'Artist 1;Guest', popularity: 1, durationMs: 1001, genres: 'genre-1;jazz' });
    expect(catalogue.trackOf('not-in-catalogue')).toBeUndefined();

    expect(after.users!.seq).toBe(before.users!.seq);
    expect(after.songs!.seq).toBe(before.songs!.seq);
    expect(after.users!.idx).toBeGreaterThan(before.users!.idx);
    expect(after.songs!.idx).toBeGreaterThan(before.songs!.idx);
  });

  it('streams a CSV catalogue once and keeps only the run rows, quarantining rows with unusable ids', async () => {
    const songsCsv = path.join(work, 'songs.csv');
    const lines = ['track_id,artists,album_name,track_name,popularity,duration_ms,track_genre'];
    for (let g = 1; g <= 50_000; g++) lines.push(`trk-${g},Artist ${g % 97},Album,"Track, ${g}",${g % 101},${1000 + g},genre-${g % 5}`);
    lines.push('trk-1,Other,Album,Renamed,1,1,jazz', 'bad id with spaces,A,B,C,1,1,pop', 'trk-9,A,B,C,1,1,pop');
    await fs.writeFile(songsCsv, `${lines.join('\n')}\n`);
    const usersCsv = path.join(work, 'users.csv');
    await fs.writeFile(
      usersCsv,
      `user_id,user_name,user_age,user_country,created_at\n${Array.from({ length: 5000 }, (_, u) => `${u + 1},n,30,FR,2023-01-01`).join('\n')}\nx1,n,30,FR,2023-01-01\n7,n,999,FR,2023-01-01\n`,
    );

    const lookUp = (table: 'users' | 'songs') =>
      extractCatalogueTable(store, testConfig({}), run(fileUrl(usersCsv), fileUrl(songsCsv)), table, { keysUrls: [keysUrl], partUrls: [] }, ONE_SHARD);
    const songs = await lookUp('songs');
    expect(songs).toMatchObject({ wanted: 200, rowsRead: 50_003, rejected: 1 });
    const users = await lookUp('users');
    const catalogue = await readChunkCatalogue(store, keysUrl, { songs: [songsSnapshotGroup(songs, 0)], usersUrls: [users.url] });
    // Tracks trk-(k*4999+1) up to 50,000: k = 0..10.
    expect(trackIds.filter((id) => catalogue.trackOf(id)).sort()).toEqual(Array.from({ length: 11 }, (_, k) => `trk-${k * 4999 + 1}`).sort());
    expect(catalogue.trackOf('trk-1')?.genres).toBe('genre-1;jazz');
    const quarantine = await fs.readFile(path.join(work, 'lake', 'quarantine', 'run=lookup-test', 'songs.csv'), 'utf8');
    expect(quarantine).toContain('bad id with spaces');
    expect(quarantine).not.toContain('trk-9');

    // Every wanted user is among the CSV's 5,000: a later bad row of user 7 is quarantined, its first row keeps it known.
    const known = Array.from({ length: 300 }, (_, i) => i * 3 + 1);
    expect(users).toMatchObject({ wanted: 300, kept: known.length, rejected: 2 });
    expect([...catalogue.users.values()].sort((a, b) => a - b)).toEqual(known);
  });

  it('looks the ids up in several jobs by a hash of the id: together what one job finds, each bad row quarantined once', async () => {
    const songsCsv = path.join(work, 'shard-songs.csv');
    const songLines = ['track_id,artists,album_name,track_name,popularity,duration_ms,track_genre'];
    for (let g = 1; g <= 20_000; g++) songLines.push(`trk-${g},Artist ${g % 97},Album,Track ${g},${g % 101},${1000 + g},genre-${g % 5}`);
    // A second genre of a wanted track, a row whose key no id rule takes, and a bad row of a wanted track.
    songLines.push('trk-1,Other,Album,Renamed,1,1,jazz', 'bad id with spaces,A,B,C,1,1,pop', 'trk-5000,A,B,C,500,1,pop');
    await fs.writeFile(songsCsv, `${songLines.join('\n')}\n`);
    const usersCsv = path.join(work, 'shard-users.csv');
    const userLines = Array.from({ length: 1000 }, (_, u) => `${u + 1},n,30,FR,2023-01-01`);
    await fs.writeFile(usersCsv, `user_id,user_name,user_age,user_country,created_at\n${userLines.join('\n')}\nx1,n,30,FR,2023-01-01\n7,n,999,FR,2023-01-01\n`);

    const lookUp = async (runId: string, users: string, songs: string, count: number) => {
      const results: (CatalogueResult & { rowsRead: number })[] = [];
      for (const table of ['users', 'songs'] as const) {
        for (let index = 0; index < count; index++) {
          const shard = { index, count };
          const found = await extractCatalogueTable(
            store,
            testConfig({}),
            { ...run(users, songs), runId },
            table,
            { keysUrls: [keysUrl], partUrls: [] },
            shard,
          );
          results.push({ kind: 'catalogue', startedAt: 0, finishedAt: 0, table, shard, ...found });
        }
      }
      return results;
    };
    const csv = (runId: string, count: number) => lookUp(runId, fileUrl(usersCsv), fileUrl(songsCsv), count);
    const one = await csv('shards-1', 1);
    const three = await csv('shards-3', 3);
    const [whole, split] = await Promise.all([
      joinCatalogueShards(store, { ...run('', ''), runId: 'shards-1' }, one),
      joinCatalogueShards(store, { ...run('', ''), runId: 'shards-3' }, three),
    ]);

    // Each shard wants some of the ids and only those: the wanted, kept and quarantined add up to one job's.
    for (const table of ['users', 'songs'] as const) {
      const shards = three.filter((r) => r.table === table);
      const wanted = one.find((r) => r.table === table)!.wanted;
      for (const r of shards) expect(r.wanted).toBeGreaterThan(0);
      for (const r of shards) expect(r.wanted).toBeLessThan(wanted);
      expect(shards.reduce((n, r) => n + r.wanted, 0)).toBe(wanted);
    }
    expect(split!.counts).toMatchObject({ users: whole!.counts.users, songs: whole!.counts.songs, rejected: whole!.counts.rejected });
    expect(whole!.counts.rejected).toBe(4);
    const quarantine = (runId: string, table: string) => fs.readFile(path.join(work, 'lake', 'quarantine', `run=${runId}`, `${table}.csv`), 'utf8');
    for (const table of ['users', 'songs']) {
      const lines = async (runId: string) => (await quarantine(runId, table)).trimEnd().split('\n');
      const [first, ...rows] = await lines('shards-3');
      expect(first).toBe(QUARANTINE_HEADER.join(','));
      expect(rows.sort()).toEqual((await lines('shards-1')).slice(1).sort());
    }
    // A chunk joining every shard's snapshot finds what it finds in one job's.
    const [a, b] = await Promise.all([
      readChunkCatalogue(store, keysUrl, catalogueSnapshotsFor(whole!, 0)),
      readChunkCatalogue(store, keysUrl, catalogueSnapshotsFor(split!, 0)),
    ]);
    for (const id of trackIds) expect(b.trackOf(id)).toEqual(a.trackOf(id));
    expect([...b.users.values()].sort((x, y) => x - y)).toEqual([...a.users.values()].sort((x, y) => x - y));
    expect(b.trackOf('trk-1')?.genres).toBe('genre-1;jazz');

    // From RDS, each shard's job asks for its own ids only: together, the rows one job reads.
    const rds = async (runId: string, count: number) => (await lookUp(runId, rdsUrl, rdsUrl, count)).reduce((n, r) => n + r.rowsRead, 0);
    expect(await rds('shards-rds-3', 3)).toBe(await rds('shards-rds-1', 1));

    // A shard's result missing is an error naming the table, not a catalogue without its rows.
    await expect(joinCatalogueShards(store, { ...run('', ''), runId: 'shards-3' }, three.slice(1))).rejects.toThrow(/incomplete: 2 of 3 users job/);
  });

  it("gives each chunk's keys a group of the songs snapshot holding its own tracks' songs", async () => {
    const songsCsv = path.join(work, 'grouped-songs.csv');
    const header = 'track_id,artists,album_name,track_name,popularity,duration_ms,track_genre';
    const rows = Array.from({ length: 9 }, (_, i) => `g-${i},Artist,Album,Song ${i},${i},${1000 + i},pop`);
    await fs.writeFile(songsCsv, `${[header, ...rows, 'g-1,Artist,Album,Song 1,1,1001,jazz'].join('\n')}\n`);
    // Eight chunks: chunk c names g-c and g-8 (a head track every chunk plays). Six groups: chunks 6 and 7 share groups 0 and 1.
    const keysUrls: string[] = [];
    for (let c = 0; c < 8; c++) {
      const url = fileUrl(path.join(work, `grouped-${c}.keys`));
      await store.write(url, encodeChunkKeys(new UserIdSet(), Buffer.from(`g-${c}\ng-8`)));
      keysUrls.push(url);
    }
    const songs = await extractCatalogueTable(store, testConfig({}), run(rdsUrl, fileUrl(songsCsv)), 'songs', { keysUrls, partUrls: [] }, ONE_SHARD);
    expect(songs.groups).toHaveLength(TRACK_GROUPS);
    // The result that carries the groups is bounded: more groups than a track's flag byte holds are refused.
    const result = { kind: 'catalogue', startedAt: 0, finishedAt: 0, table: 'songs', url: songs.url, groups: songs.groups, wanted: 9, kept: 9, rejected: 0 };
    expect(catalogueResultSchema.safeParse(result).success).toBe(true);
    expect(catalogueResultSchema.safeParse({ ...result, groups: [...songs.groups!, 1] }).success).toBe(false);
    const usersUrl = fileUrl(path.join(work, 'grouped-users.bin'));
    await new UsersSnapshotWriter(store, usersUrl).close();
    const groupTracks = async (c: number) => {
      const ids = Array.from({ length: 9 }, (_, i) => `g-${i}`);
      const catalogue = await readKeysCatalogue(store, { songs: [songsSnapshotGroup(songs, c)], usersUrls: [usersUrl] }, Buffer.from(ids.join('\n')), []);
      return ids.filter((id) => catalogue.trackOf(id));
    };
    expect(await groupTracks(0)).toEqual(['g-0', 'g-6', 'g-8']);
    expect(await groupTracks(1)).toEqual(['g-1', 'g-7', 'g-8']);
    expect(await groupTracks(5)).toEqual(['g-5', 'g-8']);
    // A chunk's group is the one it reads: chunk 7 reads group 1, its genres merged across rows as before.
    const chunk7 = await readChunkCatalogue(store, keysUrls[7]!, { songs: [songsSnapshotGroup(songs, 7)], usersUrls: [usersUrl] });
    expect(chunk7.trackOf('g-7')?.trackName).toBe('Song 7');
    expect((await readChunkCatalogue(store, keysUrls[1]!, { songs: [songsSnapshotGroup(songs, 1)], usersUrls: [usersUrl] })).trackOf('g-1')?.genres).toBe(
      'pop;jazz',
    );
  });
});
