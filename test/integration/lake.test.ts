/**
 * Lake parts (SPEC 3b): written with LakePartWriter, read back with
 * readLakePart through the file:// store, and read independently by DuckDB.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  COARSE_BUCKET_SPAN,
  LAKE_LAYOUT,
  LAKE_PARQUET_SCHEMA,
  listenDateOf,
  openLakePart,
  PART_FORMAT_KEY,
  PART_FORMAT_VERSION,
  PAGE_ROWS,
  partFileName,
  readLakeColumns,
  rewritePart,
  SOURCE_FILES_KEY,
  type LakeColumns,
  type LakeEvent,
  USER_BUCKETS,
  userBucketOf,
} from '@musicflow/lake';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { basename, createObjectStore, joinUrl, type ObjectStore } from '@musicflow/storage';
import { dirUrl, tempDir } from '../helpers/env.ts';
import { coarseBucketOf, lakeColumnValues } from '../helpers/lake-columns.ts';
import { EventWriter } from '../helpers/lake-writer.ts';

const DAY1 = Date.parse('2024-06-25T00:00:00Z');
const DAY2 = Date.parse('2024-06-26T00:00:00Z');
const ROWS_DAY1 = 120_000; // crosses the 100k row group
const ROWS_DAY2 = 7;

/** Event i of the test set: every 10th track is unknown (nulls), every 7th user unknown. */
function event(i: number, day: number): LakeEvent {
  const known = i % 10 !== 0;
  return {
    userId: 1 + (i % 50_000),
    trackId: `trk-${i % 3000}`,
    listenTime: day + ((i * 719) % 86_400_000),
    userKnown: i % 7 !== 0,
    trackName: known ? `Name ${i % 3000}, "q"` : null,
    artists: known ? (i % 3 === 0 ? 'A;B' : '\u{1F3B8} Band') : null,
    genres: known ? (i % 2 === 0 ? 'pop;rock' : 'jazz') : null,
    popularity: known ? i % 101 : null,
    durationMs: known ? 1 + (i % 600_000) : null,
    sourceFile: `file-${i % 3}`,
  };
}

/** An event of an uncatalogued track 'trk' at `listenTime`. */
const bareEvent = (userId: number, listenTime: number): LakeEvent => ({
  userId,
  trackId: 'trk',
  listenTime,
  userKnown: true,
  trackName: null,
  artists: null,
  genres: null,
  popularity: null,
  durationMs: null,
  sourceFile: 'times',
});

/** A row group's columns back into events (nulls as null, whatever the reader uses for them). */
function eventsOf(group: LakeColumns): LakeEvent[] {
  return Array.from({ length: group.rows }, (_, i) => ({
    userId: group.user_id[i]!,
    trackId: group.track_id[i]!,
    listenTime: group.listen_time[i]!,
    userKnown: group.user_known[i]!,
    trackName: group.track_name[i] ?? null,
    artists: group.artists[i] ?? null,
    genres: group.genres[i] ?? null,
    popularity: group.popularity[i] ?? null,
    durationMs: group.duration_ms[i] ?? null,
    // Parts written before they recorded their source file have no such column.
    sourceFile: (group.source_file as ArrayLike<string> | undefined)?.[i] as string,
  }));
}

async function readEvents(store: ObjectStore, url: string): Promise<LakeEvent[][]> {
  const groups: LakeEvent[][] = [];
  for await (const group of readLakeColumns(store, url)) groups.push(eventsOf(group));
  return groups;
}

/**
 * Every group's plays through `readPlays`, each column checked against the
 * same group read through hyparquet; the track ids mapped back, and how many
 * times the intern function ran per group.
 */
async function readPlaysChecked(store: ObjectStore, url: string): Promise<{ trackIds: string[][]; calls: number[] }> {
  const reader = await openLakePart(store, url);
  const index = new Map<string, number>();
  const ids: string[] = [];
  const trackIds: string[][] = [];
  const calls: number[] = [];
  for (let g = 0; g < reader.rowGroups; g++) {
    let n = 0;
    const plays = await reader.readPlays(g, (utf8, start, end) => {
      const id = Buffer.from(utf8.subarray(start, end)).toString();
      n++;
      if (!index.has(id)) index.set(id, ids.push(id) - 1);
      return index.get(id)!;
    });
    const group = await reader.readGroup(g, ['user_id', 'listen_time', 'track_id', 'track_name']);
    expect(plays.rows).toBe(group.rows);
    expect(Array.from(plays.userIds)).toEqual(Array.from(group.user_id));
    expect(Array.from(plays.listenTimes)).toEqual(Array.from(group.listen_time));
    expect(Array.from(plays.catalogued)).toEqual(Array.from(group.track_name, (name) => (name != null ? 1 : 0)));
    trackIds.push(Array.from(plays.tracks, (t) => ids[t]!));
    expect(trackIds.at(-1)).toEqual(Array.from(group.track_id));
    calls.push(n);
  }
  return { trackIds, calls };
}

describe('lake parts', () => {
  let dir: string;
  let lake: string;
  let store: ObjectStore;

  beforeAll(async () => {
    dir = await tempDir('musicflow-lake-');
    lake = dirUrl(dir);
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('names parts after their source file and dates by UTC day', () => {
    expect(partFileName('streams1', 0, 1)).toBe('streams1.parquet');
    expect(partFileName('streams1', 3, 12)).toBe('streams1.part-0003.parquet');
    expect(LAKE_LAYOUT.isPartOf('streams1.part-0003.parquet', 'streams1')).toBe(true);
    expect(LAKE_LAYOUT.isPartOf('streams10.parquet', 'streams1')).toBe(false);
    expect(LAKE_LAYOUT.processedDate('file:///lake/', '2024-06-25')).toBe('file:///lake/processed/listen_date=2024-06-25/');
    expect(listenDateOf(Date.parse('2024-06-25T23:59:59.999Z'))).toBe('2024-06-25');
    expect(listenDateOf(Date.parse('2024-06-26T00:00:00Z'))).toBe('2024-06-26');
  });

  it('writes one part per date and reads every row back, row group by row group as columns, nulls included', async () => {
    const writer = new EventWriter(store, (date) => joinUrl(LAKE_LAYOUT.processedDate(lake, date), 'streams1.parquet'));
    // Interleave the dates so both parts are open at once.
    for (let i = 0; i < ROWS_DAY1; i++) {
      await writer.add(event(i, DAY1));
      if (i < ROWS_DAY2) await writer.add(event(i, DAY2));
    }
    const parts = await writer.close();
    expect(parts).toEqual([
      { listenDate: '2024-06-25', url: `${lake}processed/listen_date=2024-06-25/streams1.parquet`, rows: ROWS_DAY1 },
      { listenDate: '2024-06-26', url: `${lake}processed/listen_date=2024-06-26/streams1.parquet`, rows: ROWS_DAY2 },
    ]);
    // No temporary file left next to the parts.
    expect(await fs.readdir(path.join(dir, 'processed', 'listen_date=2024-06-25'))).toEqual(['streams1.parquet']);

    const groups = await readEvents(store, parts[0]!.url);
    // A date of fewer than 200k events is written when the writer closes, in groups of about 100k cut where a user bucket ends.
    expect(groups.map((g) => g.length)).toEqual([expect.any(Number), expect.any(Number)]);
    expect(groups[0]!.length).toBeGreaterThanOrEqual(100_000);
    expect(groups[0]!.length + groups[1]!.length).toBe(ROWS_DAY1);
    // Rows in bucket order, the last bucket of one group not in the next.
    const buckets = groups.map((g) => g.map((e) => userBucketOf(e.userId)));
    for (const b of buckets) expect(b).toEqual([...b].sort((x, y) => x - y));
    expect(buckets[0]!.at(-1)!).toBeLessThan(buckets[1]![0]!);
    // Tracks by interned index: the same ids, interned once per distinct track of a group (3,000), not per row.
    const interned = await readPlaysChecked(store, parts[0]!.url);
    expect(interned.trackIds).toEqual(groups.map((g) => g.map((e) => e.trackId)));
    expect(interned.calls).toEqual([3000, 3000]);
    const rows = groups.flat();
    let mismatches = 0;
    // A part is in bucket order; within a bucket, in the order the events came.
    const inPartOrder = (n: number) => Array.from({ length: n }, (_, i) => i).sort((a, b) => bucketOfEvent(a) - bucketOfEvent(b) || a - b);
    const bucketOfEvent = (i: number) => userBucketOf(event(i, DAY1).userId);
    for (const [k, i] of inPartOrder(ROWS_DAY1).entries()) {
      const want = event(i, DAY1);
      const got = rows[k]!;
      if (
        got.userId !== want.userId ||
        got.trackId !== want.trackId ||
        got.listenTime !== want.listenTime ||
        got.userKnown !== want.userKnown ||
        got.trackName !== want.trackName ||
        got.artists !== want.artists ||
        got.genres !== want.genres ||
        got.popularity !== want.popularity ||
        got.durationMs !== want.durationMs ||
        got.sourceFile !== want.sourceFile
      ) {
        mismatches++;
        if (mismatches === 1) expect(got).toEqual(want);
      }
    }
    expect(mismatches).toBe(0);
    expect(rows[inPartOrder(ROWS_DAY1).indexOf(0)]).toEqual({
      userId: 1,
      trackId: 'trk-0',
      listenTime: DAY1,
      userKnown: false,
      trackName: null,
      artists: null,
      genres: null,
      popularity: null,
      durationMs: null,
      sourceFile: 'file-0',
    });
    expect((await openLakePart(store, parts[0]!.url)).format.sourceFiles).toEqual(['file-0', 'file-1', 'file-2']);
    // Its footer counts its distinct tracks, which a KPI date job sizes its passes by.
    expect((await openLakePart(store, parts[0]!.url)).format.distinctTracksAtMost).toBe(new Set(rows.map((e) => e.trackId)).size);

    expect((await readEvents(store, parts[1]!.url)).flat()).toEqual(inPartOrder(ROWS_DAY2).map((i) => event(i, DAY2)));

    // An independent reader (DuckDB, as analysts would use) sees the same data and types.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const file = path.join(dir, 'processed', 'listen_date=2024-06-25', 'streams1.parquet');
      const reader = await conn.runAndReadAll(
        `SELECT count(*)::INTEGER AS n, count(track_name)::INTEGER AS known, count(*) FILTER (WHERE NOT user_known)::INTEGER AS unknown_users,
                min(listen_time)::VARCHAR AS first, sum(duration_ms)::BIGINT::VARCHAR AS duration_sum
         FROM read_parquet('${file.replace(/'/g, "''")}')`,
      );
      const [row] = reader.getRowObjectsJson();
      let known = 0;
      let unknownUsers = 0;
      let durationSum = 0n;
      for (let i = 0; i < ROWS_DAY1; i++) {
        const e = event(i, DAY1);
        if (e.trackName !== null) known++;
        if (!e.userKnown) unknownUsers++;
        durationSum += BigInt(e.durationMs ?? 0);
      }
      expect(row).toEqual({ n: ROWS_DAY1, known, unknown_users: unknownUsers, first: '2024-06-25 00:00:00', duration_sum: String(durationSum) });

      // A part another writer rewrote (DuckDB: DATA_PAGE v1 pages) is read through hyparquet, to the same plays.
      const copy = path.join(dir, 'duckdb-copy.parquet');
      await conn.run(`COPY (SELECT * FROM read_parquet('${file.replace(/'/g, "''")}')) TO '${copy}' (FORMAT parquet, ROW_GROUP_SIZE 50000)`);
      const copied = await readPlaysChecked(store, pathToFileURL(copy).href);
      expect(copied.trackIds.flat()).toEqual(inPartOrder(ROWS_DAY1).map((i) => event(i, DAY1).trackId));
      // Its track info too, the same as from the lake writer's pages (uncatalogued rows among them: all null).
      const wanted = Int32Array.from({ length: 200 }, (_, k) => 5 * k);
      const [fast, slow] = await Promise.all([file, copy].map(async (f) => (await openLakePart(store, pathToFileURL(f).href)).readTrackInfo(0, wanted)));
      const text = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString() : null);
      const rows = (read: typeof fast) => {
        const info = read!;
        return Array.from(wanted, (_, k) => [
          text(info.track_name.bytes(k)),
          text(info.artists.bytes(k)),
          text(info.genres.bytes(k)),
          info.duration_ms.number(k),
          info.popularity.number(k),
        ]);
      };
      expect(rows(fast).filter(([name]) => name === null).length).toBeGreaterThan(0);
      expect(rows(slow)).toEqual(rows(fast));
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });

  it('bounds the events waiting in memory across all dates, not per date', async () => {
    // 5 dates round-robin, 40k events each, with room for 100k: no date ever holds 100k on its own, yet the
    // fullest is written whenever 100k events wait in all.
    const url = (date: string) => joinUrl(LAKE_LAYOUT.processedDate(lake, date), 'five-days.parquet');
    const writer = new EventWriter(store, url, 100_000);
    for (let i = 0; i < 200_000; i++) await writer.add(event(i, DAY1 + (i % 5) * 86_400_000));
    const parts = await writer.close();
    expect(parts.map((p) => p.rows)).toEqual([40_000, 40_000, 40_000, 40_000, 40_000]);
    let groups = 0;
    for (const part of parts) {
      const sizes = (await readEvents(store, part.url)).map((g) => g.length);
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(40_000);
      groups += sizes.length;
    }
    expect(groups).toBeGreaterThan(5);
  });

  it('orders a big date by user bucket, in row groups whose statistics give their bucket range', async () => {
    const url = joinUrl(lake, 'buckets.parquet');
    const writer = new EventWriter(store, () => url);
    const events = Array.from({ length: 220_000 }, (_, i) => event(i, DAY1));
    for (const e of events) await writer.add(e);
    await writer.close();
    const part = await openLakePart(store, url);
    expect(part.rowGroups).toBeGreaterThanOrEqual(8);
    let previousMax = -1;
    const seen: number[] = [];
    for (let g = 0; g < part.rowGroups; g++) {
      const range = part.groupBuckets(g)!;
      // Contiguous, non-overlapping ranges in order; every row of a group inside its range.
      expect(range.min).toBeGreaterThan(previousMax);
      previousMax = range.max;
      const { user_id } = await part.readGroup(g, ['user_id']);
      for (const u of Array.from(user_id)) {
        const b = userBucketOf(u);
        expect(b >= range.min && b <= range.max).toBe(true);
        seen.push(u);
      }
    }
    expect(seen.sort((a, b) => a - b)).toEqual(events.map((e) => e.userId).sort((a, b) => a - b));

    // DuckDB reads the column and its statistics: a reader can skip by them as well.
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const file = fileURLToPath(url).replace(/'/g, "''");
      const stats = (
        await conn.runAndReadAll(
          `SELECT stats_min_value::INTEGER AS lo, stats_max_value::INTEGER AS hi FROM parquet_metadata('${file}') WHERE path_in_schema = 'user_bucket' ORDER BY row_group_id`,
        )
      ).getRowObjectsJson();
      expect(stats).toEqual(Array.from({ length: part.rowGroups }, (_, g) => ({ lo: part.groupBuckets(g)!.min, hi: part.groupBuckets(g)!.max })));
      const [count] = (
        await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}') WHERE user_bucket BETWEEN 0 AND 15`)
      ).getRowObjectsJson();
      expect(count!.n).toBe(events.filter((e) => userBucketOf(e.userId) < 16).length);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });

  it('writing the same part again replaces it instead of adding rows', async () => {
    const url = (date: string) => joinUrl(LAKE_LAYOUT.processedDate(lake, date), 'again.parquet');
    for (const n of [5, 3]) {
      const writer = new EventWriter(store, url);
      for (let i = 0; i < n; i++) await writer.add(event(i + 1, DAY2));
      expect(await writer.close()).toEqual([{ listenDate: '2024-06-26', url: url('2024-06-26'), rows: n }]);
    }
    const byBucket = (a: LakeEvent, b: LakeEvent) => userBucketOf(a.userId) - userBucketOf(b.userId);
    expect((await readEvents(store, url('2024-06-26'))).flat()).toEqual([1, 2, 3].map((i) => event(i, DAY2)).sort(byBucket));
    // Only the columns asked for are read.
    const narrow = [];
    for await (const group of readLakeColumns(store, url('2024-06-26'), ['user_id', 'listen_time'])) narrow.push(group);
    const sorted = [1, 2, 3].map((i) => event(i, DAY2)).sort(byBucket);
    expect(narrow.map((g) => ({ ...g, user_id: Array.from(g.user_id), listen_time: Array.from(g.listen_time) }))).toEqual([
      { rows: 3, user_id: sorted.map((e) => e.userId), listen_time: sorted.map((e) => e.listenTime) },
    ]);
  });

  it('reads a part whose columns come in several pages, as other writers make them', async () => {
    const events = Array.from({ length: 5000 }, (_, i) => event(i, DAY1));
    const columnData = [
      { name: 'user_id', data: events.map((e) => e.userId) },
      { name: 'track_id', data: events.map((e) => e.trackId) },
      { name: 'listen_time', data: events.map((e) => e.listenTime) },
      { name: 'user_known', data: events.map((e) => e.userKnown) },
      { name: 'track_name', data: events.map((e) => e.trackName) },
      { name: 'artists', data: events.map((e) => e.artists) },
      { name: 'genres', data: events.map((e) => e.genres) },
      { name: 'popularity', data: events.map((e) => e.popularity) },
      { name: 'duration_ms', data: events.map((e) => e.durationMs) },
    ];
    // 4 KiB pages: every column of the 2000-row groups spans several. The layout of parts written before
    // user buckets (no user_bucket column): still read, with no bucket ranges to skip by.
    const schema = [{ name: 'root', num_children: 9 }, ...LAKE_PARQUET_SCHEMA.slice(1, 10)];
    const bytes = parquetWriteBuffer({ columnData, schema: schema, rowGroupSize: 2000, pageSize: 4096 });
    const url = joinUrl(lake, 'paged.parquet');
    await store.write(url, Buffer.from(bytes));
    const groups = await readEvents(store, url);
    expect(groups.map((g) => g.length)).toEqual([2000, 2000, 1000]);
    expect(groups.flat()).toEqual(events.map((e) => ({ ...e, sourceFile: undefined })));
    expect((await openLakePart(store, url)).groupBuckets(0)).toBeUndefined();
    expect((await openLakePart(store, url)).format).toMatchObject({ version: 1, sourceFiles: ['paged'], distinctTracksAtMost: 5000 });
    expect((await readPlaysChecked(store, url)).trackIds).toEqual(groups.map((g) => g.map((e) => e.trackId)));
  });

  it('reads listen times back to the millisecond across the 32-bit boundaries and before 1970', async () => {
    // The reader splits each INT64 into two int32 words: the low word's sign bit and a negative high word.
    const times = [-86_400_000 * 365 + 1, -1, 0, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, Date.parse('2024-06-25T23:59:59.999Z'), 8.64e15 - 1];
    const writer = new EventWriter(store, (date) => joinUrl(lake, 'times', `${date}.parquet`));
    for (const [i, t] of times.entries()) await writer.add(bareEvent(i + 1, t));
    const read: number[] = [];
    for (const part of await writer.close()) {
      for await (const group of readLakeColumns(store, part.url, ['listen_time'])) read.push(...Array.from(group.listen_time));
    }
    expect(read.sort((a, b) => a - b)).toEqual(times);
  });

  it('reads listen times back when they repeat enough for a writer to dictionary-encode them', async () => {
    // The lake's writer keeps listen_time PLAIN; hyparquet-writer (and DuckDB) pick a dictionary for repeated values.
    const at = Date.parse('2024-06-25T10:00:00Z');
    const times = Array.from({ length: 5000 }, (_, i) => at + (i % 3));
    const url = joinUrl(lake, 'repeated', 'times.parquet');
    const schema = [{ name: 'root', num_children: 1 }, LAKE_PARQUET_SCHEMA[3]];
    const bytes = parquetWriteBuffer({ columnData: [{ name: 'listen_time', data: times }], schema: schema, rowGroupSize: times.length });
    await store.write(url, Buffer.from(bytes));
    const reader = await openLakePart(store, url);
    expect(reader.rowGroups).toBe(1);
    expect(Array.from((await reader.readGroup(0, ['listen_time'])).listen_time)).toEqual(times);
  });

  it('rewrites a pack without some files, keeping the others and their enrichment; an empty rewrite deletes it', async () => {
    const url = joinUrl(LAKE_LAYOUT.processedDate(lake, '2024-06-25'), LAKE_LAYOUT.packPartName('c0ffee'));
    expect(LAKE_LAYOUT.isPack(basename(url))).toBe(true);
    const events = Array.from({ length: 30_000 }, (_, i) => event(i, DAY1));
    const writer = new EventWriter(store, () => url);
    for (const e of events) await writer.add(e);
    await writer.close();
    const staged = LAKE_LAYOUT.rewrittenPart(lake, 'run1', 'repack', url);
    // Nothing to drop: the pack is left as it is.
    expect(await rewritePart(store, url, staged, { drop: new Set(['file-9']) })).toEqual({ rows: 30_000, kept: 30_000 });
    expect(await store.head(staged)).toBeUndefined();

    expect(await rewritePart(store, url, staged, { drop: new Set(['file-1']) })).toEqual({ rows: 30_000, kept: 20_000 });
    const left = events.filter((e) => e.sourceFile !== 'file-1');
    const byKey = (a: LakeEvent, b: LakeEvent) => a.userId - b.userId || a.listenTime - b.listenTime;
    expect((await readEvents(store, url)).flat().sort(byKey)).toEqual(left.sort(byKey));
    expect((await openLakePart(store, url)).format.sourceFiles).toEqual(['file-0', 'file-2']);
    expect(await store.head(staged)).toBeUndefined();
    // Again: it holds none of them any more, so nothing changes.
    expect(await rewritePart(store, url, staged, { drop: new Set(['file-1']) })).toEqual({ rows: 20_000, kept: 20_000 });

    await rewritePart(store, url, staged, { drop: new Set(['file-0', 'file-2']) });
    expect(await store.head(url)).toBeUndefined();
  });

  it('rewrites a part with a new catalogue, keeping its rows and their source files', async () => {
    const url = joinUrl(lake, 're-enrich', 'streams9.parquet');
    const events = Array.from({ length: 5000 }, (_, i) => event(i, DAY1));
    const writer = new EventWriter(store, () => url);
    for (const e of events) await writer.add(e);
    await writer.close();
    const track = { trackName: 'New', artists: 'X;Y', genres: 'ska', popularity: 7, durationMs: 1234 };
    const enrich = { trackOf: (id: string) => (id === 'trk-0' ? track : undefined), userKnown: (userId: number) => userId % 2 === 0 };
    await rewritePart(store, url, joinUrl(lake, 'tmp', 'streams9.parquet'), { enrich });
    const got = (await readEvents(store, url)).flat();
    const byKey = (a: LakeEvent, b: LakeEvent) => a.userId - b.userId || a.listenTime - b.listenTime;
    expect(got.sort(byKey)).toEqual(
      events
        .map((e) => ({
          ...e,
          userKnown: e.userId % 2 === 0,
          ...(e.trackId === 'trk-0'
            ? { trackName: 'New', artists: 'X;Y', genres: 'ska', popularity: 7, durationMs: 1234 }
            : { trackName: null, artists: null, genres: null, popularity: null, durationMs: null }),
        }))
        .sort(byKey),
    );
  });

  it('writes no part for a writer that got no event, and reading a missing part fails clearly', async () => {
    expect(await new EventWriter(store, (d) => joinUrl(lake, 'empty', `${d}.parquet`)).close()).toEqual([]);
    const read = async () => {
      for await (const _ of readLakeColumns(store, joinUrl(lake, 'nope.parquet')));
    };
    await expect(read()).rejects.toThrow(/missing/);
  });
});

describe('lake part format versions (part-format.ts)', () => {
  let dir: string;
  let lake: string;
  let store: ObjectStore;
  // Two users in different buckets, two source files.
  const events = Array.from({ length: 3000 }, (_, i) => ({ ...event(i, DAY1), userId: 1 + (i % 2), sourceFile: `file-${i % 2}` }));
  const tracks = new Set(events.map((e) => e.trackId)).size;
  const keptTracks = new Set(events.filter((e) => e.sourceFile === 'file-0').map((e) => e.trackId)).size;

  beforeAll(async () => {
    dir = await tempDir('musicflow-lake-format-');
    lake = dirUrl(dir);
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** A part as a release of format `version` wrote it: the columns of that version (hyparquet-writer's pages) and its footer. */
  async function writeOldPart(version: 1 | 2 | 3, name: string, kv: { key: string; value: string }[] = []): Promise<string> {
    const columns = version === 1 ? 9 : version === 2 ? 10 : 11;
    const sorted = version === 1 ? events : [...events].sort((a, b) => coarseBucketOf(a.userId) - coarseBucketOf(b.userId));
    const data = lakeColumnValues(sorted, coarseBucketOf);
    const schema = [{ name: 'root', num_children: columns }, ...LAKE_PARQUET_SCHEMA.slice(1, columns + 1)];
    const columnData = schema.slice(1).map(({ name }) => ({ name, data: data[name]!, statistics: name === 'user_bucket' }));
    const url = joinUrl(LAKE_LAYOUT.processedDate(lake, '2024-06-25'), name);
    await store.write(url, Buffer.from(parquetWriteBuffer({ columnData, schema, rowGroupSize: 1500, kvMetadata: kv })));
    return url;
  }

  const byKey = (a: LakeEvent, b: LakeEvent) => a.userId - b.userId || a.listenTime - b.listenTime;
  const withoutFile = (e: LakeEvent) => ({ ...e, sourceFile: undefined as unknown as string });

  it('version 1: the nine event columns; the part is its file, no bucket ranges, its rows bound its tracks', async () => {
    const url = await writeOldPart(1, 'streams-v1.parquet');
    const reader = await openLakePart(store, url);
    expect(reader.format).toEqual({
      version: 1,
      bucketed: false,
      bucketSpan: COARSE_BUCKET_SPAN,
      pageIndexed: false,
      sourceFiles: ['streams-v1'],
      hasSourceFileColumn: false,
      distinctTracksAtMost: 3000,
    });
    expect(reader.groupBuckets(0)).toBeUndefined();
    expect((await readEvents(store, url)).flat()).toEqual(events.map(withoutFile));
    expect((await readPlaysChecked(store, url)).trackIds.flat()).toEqual(events.map((e) => e.trackId));
  });

  it('version 2: user_bucket gives each row group its bucket range, in 64 buckets', async () => {
    const url = await writeOldPart(2, 'streams-v2.parquet');
    const reader = await openLakePart(store, url);
    expect(reader.format).toMatchObject({ version: 2, bucketed: true, bucketSpan: COARSE_BUCKET_SPAN, pageIndexed: false, sourceFiles: ['streams-v2'] });
    // A bucket of 64 is the range of today's buckets nested in it.
    const [low, high] = [1, 2].map(coarseBucketOf).sort((a, b) => a - b);
    expect(reader.groupBuckets(0)).toEqual({ min: low! * 64, max: low! * 64 + 63 });
    expect(reader.groupBuckets(1)).toEqual({ min: high! * 64, max: high! * 64 + 63 });
    // A pass reads the whole group whose range meets its buckets, and none of the other.
    expect(await reader.rowsInBuckets(0, [low! * 64 + 5, low! * 64 + 6])).toEqual([0, 1500]);
    expect(await reader.rowsInBuckets(1, [low! * 64 + 5, low! * 64 + 6])).toEqual([0, 0]);
    expect((await readEvents(store, url)).flat().sort(byKey)).toEqual(events.map(withoutFile).sort(byKey));
  });

  it('version 3: rows say their source file and the footer lists the files; a rewrite drops one of them', async () => {
    const url = await writeOldPart(3, LAKE_LAYOUT.packPartName('v3'), [{ key: SOURCE_FILES_KEY, value: JSON.stringify(['file-0', 'file-1']) }]);
    const reader = await openLakePart(store, url);
    expect(reader.format).toMatchObject({
      version: 3,
      bucketed: true,
      sourceFiles: ['file-0', 'file-1'],
      hasSourceFileColumn: true,
      distinctTracksAtMost: 3000,
    });
    expect((await readEvents(store, url)).flat().sort(byKey)).toEqual([...events].sort(byKey));
    const staged = LAKE_LAYOUT.rewrittenPart(lake, 'run1', 'repack', url);
    expect(await rewritePart(store, url, staged, { drop: new Set(['file-1']) })).toEqual({ rows: 3000, kept: 1500 });
    // Rewritten, it is a part of today's format.
    expect((await openLakePart(store, url)).format).toMatchObject({ version: PART_FORMAT_VERSION, sourceFiles: ['file-0'], distinctTracksAtMost: keptTracks });
  });

  it('version 4: the footer counts distinct tracks and records the version', async () => {
    const url = await writeOldPart(3, 'streams-v4.parquet', [
      { key: SOURCE_FILES_KEY, value: JSON.stringify(['file-0', 'file-1']) },
      { key: 'musicflow.distinct_tracks', value: String(tracks) },
      { key: PART_FORMAT_KEY, value: '4' },
    ]);
    const reader = await openLakePart(store, url);
    expect(reader.format).toEqual({
      version: 4,
      bucketed: true,
      bucketSpan: COARSE_BUCKET_SPAN,
      pageIndexed: false,
      sourceFiles: ['file-0', 'file-1'],
      hasSourceFileColumn: true,
      distinctTracksAtMost: tracks,
    });
    // A part of this version written before the footer recorded it.
    const unmarked = await writeOldPart(3, 'streams-v4-unmarked.parquet', [
      { key: SOURCE_FILES_KEY, value: JSON.stringify(['file-0', 'file-1']) },
      { key: 'musicflow.distinct_tracks', value: String(tracks) },
    ]);
    expect((await openLakePart(store, unmarked)).format).toMatchObject({ version: 4, distinctTracksAtMost: tracks });
  });

  it('version 5: 4,096 buckets, rows sorted by them, pages cut at their boundaries and found through the page index', async () => {
    const many = Array.from({ length: 20_000 }, (_, i) => ({ ...event(i, DAY1), userId: 1 + ((i * 7919) % 20_000) }));
    const url = joinUrl(LAKE_LAYOUT.processedDate(lake, '2024-06-25'), 'streams-v5.parquet');
    const writer = new EventWriter(store, () => url);
    for (const e of many) await writer.add(e);
    await writer.close();
    const reader = await openLakePart(store, url);
    expect(PART_FORMAT_VERSION).toBe(5);
    expect(reader.format).toEqual({
      version: 5,
      bucketed: true,
      bucketSpan: 1,
      pageIndexed: true,
      sourceFiles: ['file-0', 'file-1', 'file-2'],
      hasSourceFileColumn: true,
      distinctTracksAtMost: 3000,
    });
    expect(reader.rowGroups).toBe(1);
    const { user_id } = await reader.readGroup(0, ['user_id']);
    const buckets = Array.from(user_id, userBucketOf);
    expect(buckets).toEqual([...buckets].sort((a, b) => a - b));
    // A pass over some buckets reads the pages that hold them: all of their rows, and less than a page more at each end.
    for (const range of [
      [0, 1],
      [100, 180],
      [2000, 2001],
      [4000, USER_BUCKETS],
    ] as [number, number][]) {
      const [from, to] = await reader.rowsInBuckets(0, range);
      const own = buckets.filter((b) => b >= range[0] && b < range[1]).length;
      expect(buckets.slice(from, to).filter((b) => b >= range[0] && b < range[1]).length).toBe(own);
      expect(to - from - own).toBeLessThan(2 * PAGE_ROWS);
      const plays = await reader.readPlays(0, (utf8, start, end) => Number(Buffer.from(utf8.subarray(start + 4, end)).toString()), [from, to]);
      expect(Array.from(plays.userIds)).toEqual(Array.from(user_id).slice(from, to));
      const info = await reader.readTrackInfo(0, Int32Array.of(0, to - from - 1), [from, to]);
      const whole = await reader.readGroup(0, ['track_name', 'artists']);
      const text = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString() : null);
      expect([0, 1].map((k) => [text(info.track_name.bytes(k)), text(info.artists.bytes(k))])).toEqual(
        [from, to - 1].map((r) => [whole.track_name[r] ?? null, whole.artists[r] ?? null]),
      );
      const { source_file } = await reader.readGroup(0, ['source_file']);
      expect(await reader.readSourceFiles(0, [1, 2], [from, to])).toEqual([source_file[from + 1], source_file[from + 2]]);
    }
    expect(await reader.rowsInBuckets(0, [0, USER_BUCKETS])).toEqual([0, 20_000]);
  });

  it('refuses a part whose footer lists its files wrongly, naming the part', async () => {
    for (const [name, value] of [
      ['files-not-json.parquet', 'file-0,file-1'],
      ['files-empty.parquet', '[]'],
      ['files-not-ids.parquet', '[1, 2]'],
    ]) {
      const url = await writeOldPart(3, name!, [{ key: SOURCE_FILES_KEY, value: value! }]);
      await expect(openLakePart(store, url)).rejects.toThrow(
        new RegExp(`${name!.replace('.', '\\.')}: footer musicflow.source_files is not a list of file ids`),
      );
    }
  });

  it('refuses a part of a newer format, naming the part and what to do', async () => {
    const url = await writeOldPart(3, 'streams-v9.parquet', [{ key: PART_FORMAT_KEY, value: '9' }]);
    await expect(openLakePart(store, url)).rejects.toThrow(/streams-v9\.parquet is format version 9, newer than this release reads \(5\): upgrade/);
  });
});
