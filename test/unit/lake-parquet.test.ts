/**
 * The lake's own Parquet writer (LakeParquetFile): given hyparquet-writer's
 * snappy compressor it writes the very bytes hyparquet-writer's ParquetWriter
 * writes for the same rows (the lake's writer before), and with the native
 * compressor it writes parts that hyparquet and DuckDB read back row for row.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { snappyCompress } from 'hyparquet-writer/src/snappy.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  LAKE_COLUMN_ENCODING,
  LAKE_CREATED_BY,
  LAKE_PARQUET_SCHEMA,
  LakeParquetFile,
  LakeTrackTable,
  PAGE_ROWS,
  SOURCE_FILES_KEY,
  userBucketOf,
  type LakeEvent,
  type LakeGroupRows,
  type LakeTrack,
} from '@musicflow/lake';
import { tempDir } from '../helpers/env.ts';
import { lakeColumnValues } from '../helpers/lake-columns.ts';

/** Strings of every kind the catalogue can hold: empty, quotes, separators, accents, CJK, emoji, a lone surrogate. */
const ODD = ['', ' ', '"q", \'x\'', 'A;B', 'Beyoncé', '東京事変', '🎸 Band 🥁', 'e\u0301', '\uD800', 'ÿ'.repeat(40)];

function random(seed: number) {
  let s = seed;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
}

/** 3000 catalogued tracks (names and genres repeat across tracks) and one uncatalogued track per 200th id. */
function makeTracks(rand: () => number): { ids: string[]; tracks: (LakeTrack | undefined)[] } {
  const ids: string[] = [];
  const tracks: (LakeTrack | undefined)[] = [];
  for (let t = 0; t < 3000; t++) {
    ids.push(t % 97 === 0 ? `${ODD[t % ODD.length]}#${t}` : `trk-${t.toString(36)}`);
    tracks.push(
      t % 200 === 7
        ? undefined
        : {
            trackName: t % 50 === 0 ? ODD[t % ODD.length]! : `Name ${t % 2500}`,
            artists: rand() < 0.1 ? ODD[Math.floor(rand() * ODD.length)]! : `Artist ${t % 700};Guest ${t % 3}`,
            genres: ['pop', 'rock;pop', '', 'k-pop', 'música'][t % 5]!,
            popularity: t % 101,
            durationMs: t === 1 ? 2 ** 31 - 1 : t === 2 ? 0 : 1000 + ((t * 7919) % 400_000),
          },
    );
  }
  return { ids, tracks };
}

/**
 * Row groups of the shapes the lake writes: one bucket with few users (user_id
 * dictionary-encoded), every bucket with many users (PLAIN), tiny groups (PLAIN
 * booleans), a group of uncatalogued tracks only, distinct listen times (the
 * lake keeps listen_time PLAIN) across the 32-bit boundaries and before 1970.
 */
function makeGroups(rand: () => number, trackCount: number): { events: LakeEvent[][]; trackIndexes: number[][] } {
  const bucket5: number[] = [];
  for (let u = 1; bucket5.length < 300; u++) if (userBucketOf(u) === 5) bucket5.push(u);
  const shapes = [
    { rows: 25_000, users: () => bucket5[Math.floor(rand() * bucket5.length)]! },
    { rows: 40_000, users: () => 1 + Math.floor(rand() * 2 ** 30) },
    { rows: 1, users: () => 2 ** 31 - 1 },
    { rows: 16, users: () => 1 + Math.floor(rand() * 100) },
    { rows: 17, users: () => 1 + Math.floor(rand() * 100) },
    { rows: 300, users: () => 1 + Math.floor(rand() * 100), uncatalogued: true },
    { rows: 5000, users: () => 1 + Math.floor(rand() * 50_000) },
  ];
  const times = [-86_400_000 * 365, -1, 2 ** 31 - 2, 2 ** 32 - 3, 1_719_273_600_000];
  let time = 0;
  const events: LakeEvent[][] = [];
  const trackIndexes: number[][] = [];
  const { ids, tracks } = makeTracks(random(7));
  for (const shape of shapes) {
    const group: LakeEvent[] = [];
    const indexes: number[] = [];
    for (let r = 0; r < shape.rows; r++) {
      // Skewed towards a few hundred tracks, as listening is.
      let t = rand() < 0.7 ? Math.floor(rand() * rand() * 400) : Math.floor(rand() * trackCount);
      if (shape.uncatalogued) t = 7 + 200 * Math.floor(rand() * 15);
      const track = tracks[t];
      const base = times[time % times.length]!;
      group.push({
        userId: shape.users(),
        trackId: ids[t]!,
        listenTime: base + 1000 * time++,
        userKnown: rand() < 0.9,
        trackName: track?.trackName ?? null,
        artists: track?.artists ?? null,
        genres: track?.genres ?? null,
        popularity: track?.popularity ?? null,
        durationMs: track?.durationMs ?? null,
        sourceFile: rand() < 0.5 ? 'streams01' : 'dossier «été»',
      });
      indexes.push(t);
    }
    events.push(group);
    trackIndexes.push(indexes);
  }
  return { events, trackIndexes };
}

/** The lake's rows through hyparquet-writer's ParquetWriter, as LakePartWriter wrote them before. */
function writeWithParquetWriter(groups: LakeEvent[][], sourceFiles: string[]): Uint8Array {
  const writer = new ByteWriter();
  const parquet = new ParquetWriter({ writer, schema: LAKE_PARQUET_SCHEMA as never, statistics: false });
  for (const group of groups) {
    const columns = lakeColumnValues(group);
    const columnData = Object.entries(columns).map(([name, data]) => ({
      name,
      data,
      encoding: LAKE_COLUMN_ENCODING[name],
      statistics: name === 'user_bucket',
    }));
    void parquet.write({ columnData: columnData, rowGroupSize: group.length });
  }
  parquet.kvMetadata = [{ key: SOURCE_FILES_KEY, value: JSON.stringify(sourceFiles) }];
  void parquet.finish();
  return writer.getBytes();
}

/** The same rows through LakeParquetFile: typed arrays, tracks as indexes into a track table. */
function writeWithLakeFile(groups: LakeEvent[][], trackIndexes: number[][], compress?: (b: Uint8Array) => Uint8Array): Uint8Array {
  const { ids, tracks } = makeTracks(random(7));
  const table = new LakeTrackTable();
  ids.forEach((id, t) => table.add(id, tracks[t]));
  const writer = Object.assign(new ByteWriter(), { flush: () => undefined });
  const file = new LakeParquetFile(writer, LAKE_PARQUET_SCHEMA, table, compress);
  const files = new Set<string>();
  groups.forEach((group, g) => {
    for (const e of group) files.add(e.sourceFile);
    const rows: LakeGroupRows = {
      rows: group.length,
      userIds: Int32Array.from(group, (e) => e.userId),
      listenTimes: Float64Array.from(group, (e) => e.listenTime),
      known: Uint8Array.from(group, (e) => (e.userKnown ? 1 : 0)),
      tracks: Int32Array.from(trackIndexes[g]!),
      files: Int32Array.from(group, (e) => file.fileIndex(e.sourceFile)),
      buckets: Uint16Array.from(group, (e) => userBucketOf(e.userId)),
    };
    void file.writeGroup(rows);
  });
  file.finish([{ key: SOURCE_FILES_KEY, value: JSON.stringify([...files].sort()) }]);
  return writer.getBytes();
}

/** A string as UTF-8 keeps it (a lone surrogate becomes U+FFFD, in any writer). */
const utf8 = <T extends string | null>(s: T): T => (s === null ? s : (Buffer.from(s).toString() as T));

/** An event as a row of the part, in the schema's column order. */
const toRow = (e: LakeEvent) => ({
  user_id: e.userId,
  track_id: utf8(e.trackId),
  listen_time: e.listenTime,
  user_known: e.userKnown,
  track_name: utf8(e.trackName),
  artists: utf8(e.artists),
  genres: utf8(e.genres),
  popularity: e.popularity,
  duration_ms: e.durationMs,
  user_bucket: userBucketOf(e.userId),
  source_file: e.sourceFile,
});

describe('the lake Parquet writer', () => {
  const rand = random(2024);
  const { events, trackIndexes } = makeGroups(rand, 3000);
  const sourceFiles = ['dossier «été»', 'streams01'];
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('musicflow-lake-parquet-');
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("writes hyparquet-writer's bytes, page for page, given its compressor, and a footer that names musicflow", () => {
    // Groups our writer writes as one page a column: hyparquet-writer cuts pages by bytes, ours at user buckets.
    const onePage = events.flatMap((g, i) => (g.length <= PAGE_ROWS || new Set(g.map((e) => userBucketOf(e.userId))).size === 1 ? [i] : []));
    expect(onePage.length).toBe(5);
    const reference = writeWithParquetWriter(
      onePage.map((i) => events[i]!),
      sourceFiles,
    );
    const ours = writeWithLakeFile(
      onePage.map((i) => events[i]!),
      onePage.map((i) => trackIndexes[i]!),
      snappyCompress,
    );
    // The footer's length is in the 4 bytes before the closing magic; everything before the footer is the pages.
    const pages = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, bytes.length - 8 - Buffer.from(bytes).readUInt32LE(bytes.length - 8)));
    expect(Buffer.compare(pages(ours), pages(reference))).toBe(0);
    const footer = (bytes: Uint8Array) => {
      const { metadata_length: _, ...metadata } = parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer);
      return metadata;
    };
    expect(footer(ours)).toEqual({ ...footer(reference), created_by: LAKE_CREATED_BY });
    expect(LAKE_CREATED_BY).toMatch(/^musicflow version \d+\.\d+\.\d+/);
  });

  it('writes parts hyparquet and DuckDB read back row for row, with bucket statistics per row group and pages of whole buckets', async () => {
    const bytes = writeWithLakeFile(events, trackIndexes);
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer;
    const metadata = parquetMetadata(buffer);
    expect(metadata.row_groups.map((g) => Number(g.num_rows))).toEqual(events.map((g) => g.length));
    expect(metadata.key_value_metadata).toEqual([{ key: SOURCE_FILES_KEY, value: JSON.stringify(sourceFiles) }]);
    const want = events.flat().map(toRow);

    const read = await parquetReadObjects({ file: buffer, parsers: { timestampFromMilliseconds: (v: bigint) => Number(v) } });
    expect(read.length).toBe(want.length);
    let mismatches = 0;
    for (let i = 0; i < want.length; i++) {
      const got = Object.fromEntries(Object.entries(read[i]!).map(([k, v]) => [k, v ?? null]));
      if (JSON.stringify(got) !== JSON.stringify(want[i])) if (mismatches++ === 0) expect(got).toEqual(want[i]);
    }
    expect(mismatches).toBe(0);

    const file = path.join(dir, 'part.parquet');
    await fs.writeFile(file, bytes);
    const db = await DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    try {
      const rows = (
        await conn.runAndReadAll(
          `SELECT user_id, track_id, epoch_ms(listen_time)::DOUBLE AS listen_time, user_known, track_name, artists, genres, popularity, duration_ms,
                  user_bucket, source_file
           FROM read_parquet('${file}')`,
        )
      ).getRowObjectsJS();
      expect(rows.length).toBe(want.length);
      mismatches = 0;
      for (let i = 0; i < want.length; i++) {
        if (JSON.stringify(rows[i]) !== JSON.stringify(want[i])) if (mismatches++ === 0) expect(rows[i]).toEqual(want[i]);
      }
      expect(mismatches).toBe(0);
      const stats = (
        await conn.runAndReadAll(
          `SELECT stats_min_value::INTEGER AS lo, stats_max_value::INTEGER AS hi FROM parquet_metadata('${file}') WHERE path_in_schema = 'user_bucket' ORDER BY row_group_id`,
        )
      ).getRowObjectsJS();
      expect(stats).toEqual(
        events.map((g) => ({ lo: Math.min(...g.map((e) => userBucketOf(e.userId))), hi: Math.max(...g.map((e) => userBucketOf(e.userId))) })),
      );
      // The first group holds one bucket: a reader skips it by its statistics.
      const [{ n }] = (await conn.runAndReadAll(`SELECT count(*)::INTEGER AS n FROM read_parquet('${file}') WHERE user_bucket = 5`)).getRowObjectsJS() as [
        { n: number },
      ];
      expect(n).toBe(want.filter((r) => r.user_bucket === 5).length);
    } finally {
      conn.closeSync();
      db.closeSync();
    }
  });
});
