/**
 * npx tsx --conditions=@musicflow/source bench/parquet-compare.ts --rows N
 *
 * Writes and reads back N lake rows (the lake schema of SPEC 3b, LAKE_PARQUET_SCHEMA:
 * user_id, track_id, listen_time, user_known, track_name, artists, genres,
 * popularity, duration_ms, user_bucket, source_file; 100k-row groups, SNAPPY)
 * with each candidate Parquet library,
 * each in its own child process so peak RSS is its own, checks the file with
 * DuckDB (the lake must stay readable by Athena/Spectrum/DuckDB) and prints a
 * table. Reading means getting the values into JS, as the KPI stage must.
 * `duckdb` appends the nine columns to DuckDB (@duckdb/node-api's appender)
 * and writes with `COPY ... TO (FORMAT parquet)`; `duckdb-narrow` appends only
 * what differs per event (user_id, a track index, listen_time) plus one row
 * per track, and lets DuckDB join them while writing. Both are read back with
 * hyparquet, as the KPI stage would. `lake` is the lake's own writer
 * (LakeParquetFile: events as typed arrays and track indexes into a track
 * table); it must write the same bytes as `hyparquet` (hyparquet-writer's
 * ParquetWriter, as the lake used it), and the table says whether it did.
 */
import { LAKE_COLUMN_ENCODING, LAKE_PARQUET_SCHEMA, LakeParquetFile, LakeTrackTable, userBucketOf } from '@musicflow/lake';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const LIBS = ['hyparquet', 'hyparquet-columnar', 'lake', 'duckdb', 'duckdb-narrow', 'parquet-wasm', 'parquetjs'] as const;
type Lib = (typeof LIBS)[number];
const GROUP = 100_000;

interface Columns {
  user_id: Int32Array;
  track_id: string[];
  listen_time: Float64Array;
  user_known: boolean[];
  track_name: (string | null)[];
  artists: (string | null)[];
  genres: (string | null)[];
  popularity: (number | null)[];
  duration_ms: (number | null)[];
  user_bucket: number[];
  source_file: string[];
}

/** The rows as the transformer hands them to the lake writer: a track table and each row's index into it. */
interface TrackedRows {
  table: LakeTrackTable;
  tracks: Int32Array;
}

const SOURCE_FILE = 'streams01';
/** The JavaScript writers write the file into one buffer: big enough from the start, so neither pays for growing it. */
const FILE_BUFFER = 1 << 26;

/** Deterministic rows with the sample's shapes: 28k tracks, 50k users, 0.5% unknown tracks. */
function makeRows(n: number): Columns & TrackedRows {
  let s = 12345;
  const rand = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const word = (len: number) => Array.from({ length: len }, () => alpha[Math.floor(rand() * alpha.length)]).join('');
  const genres = Array.from({ length: 113 }, () => word(4 + Math.floor(rand() * 8)).toLowerCase());
  const tracks = Array.from({ length: 28_352 }, () => ({
    id: word(22),
    name: `${word(5)} ${word(6)}`,
    artists: rand() < 0.2 ? `${word(6)} ${word(5)};${word(8)}` : `The ${word(7)}`,
    genres: rand() < 0.1 ? `${genres[Math.floor(rand() * 113)]};${genres[Math.floor(rand() * 113)]}` : genres[Math.floor(rand() * 113)]!,
    popularity: Math.floor(rand() * 101),
    duration: 60_000 + Math.floor(rand() * 400_000),
  }));
  const table = new LakeTrackTable();
  for (const t of tracks) table.add(t.id, { trackName: t.name, artists: t.artists, genres: t.genres, popularity: t.popularity, durationMs: t.duration });
  const c: Columns & TrackedRows = {
    table,
    tracks: new Int32Array(n),
    user_id: new Int32Array(n),
    track_id: new Array(n),
    listen_time: new Float64Array(n),
    user_known: new Array(n),
    track_name: new Array(n),
    artists: new Array(n),
    genres: new Array(n),
    popularity: new Array(n),
    duration_ms: new Array(n),
    user_bucket: new Array(n),
    source_file: new Array(n).fill(SOURCE_FILE),
  };
  const t0 = Date.UTC(2024, 5, 25);
  for (let i = 0; i < n; i++) {
    const known = rand() >= 0.005;
    const index = Math.floor(rand() * tracks.length);
    const t = tracks[index]!;
    c.user_id[i] = 1 + Math.floor(rand() * 50_000);
    c.user_bucket[i] = userBucketOf(c.user_id[i]!);
    c.track_id[i] = known ? t.id : `zzUnknown${word(8)}`;
    c.tracks[i] = known ? index : table.add(c.track_id[i]!, undefined);
    c.listen_time[i] = t0 + Math.floor(rand() * 86_400) * 1000;
    c.user_known[i] = true;
    c.track_name[i] = known ? t.name : null;
    c.artists[i] = known ? t.artists : null;
    c.genres[i] = known ? t.genres : null;
    c.popularity[i] = known ? t.popularity : null;
    c.duration_ms[i] = known ? t.duration : null;
  }
  return c;
}

const COLUMNS = LAKE_PARQUET_SCHEMA.slice(1).map((e) => e.name);

const slice = (c: Columns, a: number, b: number) =>
  Object.fromEntries(COLUMNS.map((k) => [k, (c[k as keyof Columns] as { slice(a: number, b: number): unknown }).slice(a, b)])) as unknown as Columns;

/** What a reader hands the KPI stage: a checksum over every value, so nothing is skipped lazily. */
class Checksum {
  n = 0;
  users = 0;
  chars = 0;
  add(
    userId: number,
    trackId: string,
    listenTime: number,
    name: string | null,
    artists: string | null,
    genres: string | null,
    pop: number | null,
    dur: number | null,
  ) {
    this.n++;
    this.users += userId;
    this.chars += trackId.length + (name?.length ?? 0) + (artists?.length ?? 0) + (genres?.length ?? 0) + (listenTime > 0 ? 1 : 0) + (pop ?? 0) + (dur ? 1 : 0);
  }
}

/** Reads a file back with hyparquet: rows as arrays (what the KPI stage did) or column chunks. */
async function readHyparquet(file: string, rowsAsArrays: boolean, check: Checksum): Promise<void> {
  const { parquetMetadata, parquetRead } = await import('hyparquet');
  const buf = await fs.readFile(file);
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
  const metadata = parquetMetadata(ab);
  const cols = ['user_id', 'track_id', 'listen_time', 'user_known', 'track_name', 'artists', 'genres', 'popularity', 'duration_ms'];
  let rowStart = 0;
  for (const g of metadata.row_groups) {
    const rowEnd = rowStart + Number(g.num_rows);
    if (rowsAsArrays) {
      // What the KPI stage does today: rows as arrays, one row group at a time.
      let rows: unknown[][] = [];
      await parquetRead({
        file: ab,
        metadata,
        columns: cols,
        rowStart,
        rowEnd,
        parsers: { timestampFromMilliseconds: (v: bigint) => Number(v) },
        onComplete: (d: unknown[][]) => (rows = d),
      });
      for (const r of rows)
        check.add(
          r[0] as number,
          r[1] as string,
          r[2] as number,
          r[4] as string | null,
          r[5] as string | null,
          r[6] as string | null,
          r[7] as number | null,
          r[8] as number | null,
        );
    } else {
      // Columnar: onChunk hands whole column chunks, no row assembly.
      const got: Record<string, unknown[]> = {};
      await parquetRead({
        file: ab,
        metadata,
        columns: cols,
        rowStart,
        rowEnd,
        parsers: { timestampFromMilliseconds: (v: bigint) => Number(v) },
        onChunk: (ch: { columnName: string; columnData: ArrayLike<unknown>; rowStart: number }) => {
          const arr = (got[ch.columnName] ??= []);
          for (let i = 0; i < ch.columnData.length; i++) arr[ch.rowStart - rowStart + i] = ch.columnData[i];
        },
      });
      const u = got.user_id!,
        tr = got.track_id!,
        lt = got.listen_time!,
        nm = got.track_name!,
        ar = got.artists!,
        ge = got.genres!,
        po = got.popularity!,
        du = got.duration_ms!;
      for (let i = 0; i < rowEnd - rowStart; i++) {
        check.add(
          u[i] as number,
          tr[i] as string,
          Number(lt[i]),
          (nm[i] ?? null) as string | null,
          (ar[i] ?? null) as string | null,
          (ge[i] ?? null) as string | null,
          (po[i] ?? null) as number | null,
          (du[i] ?? null) as number | null,
        );
      }
    }
    rowStart = rowEnd;
  }
}

/**
 * The lake rows through DuckDB's appender into a table, then DuckDB's own
 * Parquet writer. Narrow: per event only user_id, the track's index and
 * listen_time; the track columns once per track, joined by DuckDB.
 */
async function writeDuckDb(c: Columns, file: string, narrow: boolean): Promise<void> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:', { threads: '1' });
  const conn = await inst.connect();
  const n = c.user_id.length;
  if (narrow) {
    await conn.run(`CREATE TABLE events (user_id INTEGER, track INTEGER, listen_time BIGINT)`);
    await conn.run(
      `CREATE TABLE tracks (track INTEGER, track_id VARCHAR, track_name VARCHAR, artists VARCHAR, genres VARCHAR, popularity INTEGER, duration_ms INTEGER)`,
    );
    const index = new Map<string, number>();
    const events = await conn.createAppender('events');
    const tracks = await conn.createAppender('tracks');
    for (let i = 0; i < n; i++) {
      let t = index.get(c.track_id[i]!);
      if (t === undefined) {
        index.set(c.track_id[i]!, (t = index.size));
        tracks.appendInteger(t);
        tracks.appendVarchar(c.track_id[i]!);
        for (const v of [c.track_name[i], c.artists[i], c.genres[i]])
          if (v === null) tracks.appendNull();
          else tracks.appendVarchar(v!);
        for (const v of [c.popularity[i], c.duration_ms[i]])
          if (v === null) tracks.appendNull();
          else tracks.appendInteger(v!);
        tracks.endRow();
      }
      events.appendInteger(c.user_id[i]!);
      events.appendInteger(t);
      events.appendBigInt(BigInt(c.listen_time[i]!));
      events.endRow();
    }
    events.closeSync();
    tracks.closeSync();
    await conn.run(`COPY (
      SELECT e.user_id, t.track_id, epoch_ms(e.listen_time)::TIMESTAMP_MS AS listen_time, true AS user_known,
             t.track_name, t.artists, t.genres, t.popularity, t.duration_ms,
             ((e.user_id::BIGINT * 2654435761) % 4294967296 // 67108864)::INTEGER AS user_bucket, '${SOURCE_FILE}' AS source_file
      FROM events e JOIN tracks t USING (track)
    ) TO '${file}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${GROUP})`);
  } else {
    await conn.run(`CREATE TABLE lake (user_id INTEGER, track_id VARCHAR, listen_time BIGINT, user_known BOOLEAN,
      track_name VARCHAR, artists VARCHAR, genres VARCHAR, popularity INTEGER, duration_ms INTEGER, user_bucket INTEGER, source_file VARCHAR)`);
    const a = await conn.createAppender('lake');
    for (let i = 0; i < n; i++) {
      a.appendInteger(c.user_id[i]!);
      a.appendVarchar(c.track_id[i]!);
      a.appendBigInt(BigInt(c.listen_time[i]!));
      a.appendBoolean(c.user_known[i]!);
      for (const v of [c.track_name[i], c.artists[i], c.genres[i]])
        if (v === null) a.appendNull();
        else a.appendVarchar(v!);
      for (const v of [c.popularity[i], c.duration_ms[i]])
        if (v === null) a.appendNull();
        else a.appendInteger(v!);
      a.appendInteger(c.user_bucket[i]!);
      a.appendVarchar(c.source_file[i]!);
      a.endRow();
    }
    a.closeSync();
    await conn.run(`COPY (
      SELECT user_id, track_id, epoch_ms(listen_time)::TIMESTAMP_MS AS listen_time, user_known, track_name, artists, genres, popularity, duration_ms,
             user_bucket, source_file
      FROM lake
    ) TO '${file}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${GROUP})`);
  }
  conn.closeSync();
  inst.closeSync();
}

async function writeRead(lib: Lib, c: Columns & TrackedRows, file: string): Promise<{ writeMs: number; readMs: number; check: Checksum }> {
  const n = c.user_id.length;
  const check = new Checksum();
  let writeMs = 0;
  let readMs = 0;
  if (lib === 'hyparquet' || lib === 'hyparquet-columnar') {
    const { ParquetWriter, ByteWriter } = await import('hyparquet-writer');
    let t = performance.now();
    const writer = new ByteWriter(FILE_BUFFER);
    const pw = new ParquetWriter({ writer, schema: LAKE_PARQUET_SCHEMA as never, statistics: false });
    for (let a = 0; a < n; a += GROUP) {
      const part = slice(c, a, Math.min(n, a + GROUP));
      const columnData = Object.entries(part).map(([name, data]) => ({
        name,
        data: name === 'user_id' ? Array.from(data as Int32Array) : name === 'listen_time' ? Array.from(data as Float64Array) : data,
        encoding: LAKE_COLUMN_ENCODING[name],
        statistics: name === 'user_bucket',
      }));
      await pw.write({ columnData: columnData, rowGroupSize: GROUP });
    }
    await pw.finish();
    await fs.writeFile(file, new Uint8Array(writer.getBuffer()));
    writeMs = performance.now() - t;

    t = performance.now();
    await readHyparquet(file, lib === 'hyparquet', check);
    readMs = performance.now() - t;
  } else if (lib === 'lake') {
    const { ByteWriter } = await import('hyparquet-writer');
    let t = performance.now();
    const writer = Object.assign(new ByteWriter(FILE_BUFFER), { flush: () => undefined });
    const lakeFile = new LakeParquetFile(writer, LAKE_PARQUET_SCHEMA, c.table);
    const files = new Int32Array(n).fill(lakeFile.fileIndex(SOURCE_FILE));
    const buckets = Uint16Array.from(c.user_bucket);
    const known = Uint8Array.from(c.user_known, (k) => (k ? 1 : 0));
    for (let a = 0; a < n; a += GROUP) {
      const b = Math.min(n, a + GROUP);
      await lakeFile.writeGroup({
        rows: b - a,
        userIds: c.user_id.subarray(a, b),
        listenTimes: c.listen_time.subarray(a, b),
        known: known.subarray(a, b),
        tracks: c.tracks.subarray(a, b),
        files: files.subarray(a, b),
        buckets: buckets.subarray(a, b),
      });
    }
    lakeFile.finish();
    await fs.writeFile(file, writer.getBytes());
    writeMs = performance.now() - t;
    t = performance.now();
    await readHyparquet(file, false, check);
    readMs = performance.now() - t;
  } else if (lib === 'duckdb' || lib === 'duckdb-narrow') {
    let t = performance.now();
    await writeDuckDb(c, file, lib === 'duckdb-narrow');
    writeMs = performance.now() - t;
    t = performance.now();
    await readHyparquet(file, false, check);
    readMs = performance.now() - t;
  } else if (lib === 'parquet-wasm') {
    const arrow = await import('apache-arrow');
    const pq = await import('parquet-wasm/node');
    let t = performance.now();
    const props = new pq.WriterPropertiesBuilder().setCompression(pq.Compression.SNAPPY).setMaxRowGroupSize(GROUP).build();
    const utf8 = (v: (string | null)[]) => arrow.vectorFromArray(v, new arrow.Utf8());
    const table = new arrow.Table({
      user_id: arrow.makeVector(c.user_id),
      track_id: utf8(c.track_id),
      listen_time: arrow.vectorFromArray(Array.from(c.listen_time), new arrow.TimestampMillisecond()),
      user_known: arrow.vectorFromArray(c.user_known, new arrow.Bool()),
      track_name: utf8(c.track_name),
      artists: utf8(c.artists),
      genres: utf8(c.genres),
      popularity: arrow.vectorFromArray(c.popularity, new arrow.Int32()),
      duration_ms: arrow.vectorFromArray(c.duration_ms, new arrow.Int32()),
      user_bucket: arrow.vectorFromArray(c.user_bucket, new arrow.Int32()),
      source_file: utf8(c.source_file),
    });
    const wasmTable = pq.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
    const bytes = pq.writeParquet(wasmTable, props);
    await fs.writeFile(file, bytes);
    writeMs = performance.now() - t;

    t = performance.now();
    const read = pq.readParquet(new Uint8Array(await fs.readFile(file)), { batchSize: GROUP });
    const back = arrow.tableFromIPC(read.intoIPCStream());
    for (const batch of back.batches) {
      const u = batch.getChild('user_id')!.toArray() as Int32Array;
      const lt = batch.getChild('listen_time')!;
      const tr = batch.getChild('track_id')!,
        nm = batch.getChild('track_name')!,
        ar = batch.getChild('artists')!,
        ge = batch.getChild('genres')!;
      const po = batch.getChild('popularity')!,
        du = batch.getChild('duration_ms')!;
      for (let i = 0; i < batch.numRows; i++) {
        check.add(
          u[i]!,
          tr.get(i) as string,
          Number(lt.get(i)),
          nm.get(i) as string | null,
          ar.get(i) as string | null,
          ge.get(i) as string | null,
          po.get(i) as number | null,
          du.get(i) as number | null,
        );
      }
    }
    readMs = performance.now() - t;
  } else {
    const { ParquetSchema, ParquetWriter, ParquetReader } = await import('@dsnp/parquetjs');
    const schema = new ParquetSchema({
      user_id: { type: 'INT32' },
      track_id: { type: 'UTF8' },
      listen_time: { type: 'TIMESTAMP_MILLIS' },
      user_known: { type: 'BOOLEAN' },
      track_name: { type: 'UTF8', optional: true },
      artists: { type: 'UTF8', optional: true },
      genres: { type: 'UTF8', optional: true },
      popularity: { type: 'INT32', optional: true },
      duration_ms: { type: 'INT32', optional: true },
      user_bucket: { type: 'INT32' },
      source_file: { type: 'UTF8' },
    });
    let t = performance.now();
    const writer = await ParquetWriter.openFile(schema, file, { compression: 'SNAPPY', rowGroupSize: GROUP } as never);
    for (let i = 0; i < n; i++) {
      const row: Record<string, unknown> = {
        user_id: c.user_id[i],
        track_id: c.track_id[i],
        listen_time: new Date(c.listen_time[i]!),
        user_known: c.user_known[i],
        user_bucket: c.user_bucket[i],
        source_file: c.source_file[i],
      };
      if (c.track_name[i] !== null) {
        row.track_name = c.track_name[i];
        row.artists = c.artists[i];
        row.genres = c.genres[i];
        row.popularity = c.popularity[i];
        row.duration_ms = c.duration_ms[i];
      }
      await writer.appendRow(row);
    }
    await writer.close();
    writeMs = performance.now() - t;

    t = performance.now();
    const reader = await ParquetReader.openFile(file);
    const cursor = reader.getCursor();
    for (let r = (await cursor.next()) as Record<string, unknown> | null; r; r = (await cursor.next()) as Record<string, unknown> | null) {
      check.add(
        r.user_id as number,
        String(r.track_id),
        (r.listen_time as Date).getTime(),
        (r.track_name ?? null) as string | null,
        (r.artists ?? null) as string | null,
        (r.genres ?? null) as string | null,
        (r.popularity ?? null) as number | null,
        (r.duration_ms ?? null) as number | null,
      );
    }
    await reader.close();
    readMs = performance.now() - t;
  }
  return { writeMs, readMs, check };
}

async function child(lib: Lib, rows: number, dir: string): Promise<void> {
  const c = makeRows(rows);
  const file = path.join(dir, `${lib}.parquet`);
  const before = process.memoryUsage().rss;
  const { writeMs, readMs, check } = await writeRead(lib, c, file);
  const hwm = Number(/VmHWM:\s+(\d+)/.exec(await fs.readFile('/proc/self/status', 'utf8'))?.[1] ?? 0) * 1024;
  const size = (await fs.stat(file)).size;
  // Interop: DuckDB must read what was written, with the same values.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  const r = (
    await conn.runAndReadAll(
      `SELECT count(*)::DOUBLE n, sum(user_id)::DOUBLE users, count(track_name)::DOUBLE named, sum(user_bucket)::DOUBLE buckets,
              count(*) FILTER (WHERE source_file = '${SOURCE_FILE}')::DOUBLE sourced, typeof(any_value(listen_time)) lt FROM read_parquet('${file}')`,
    )
  ).getRowObjectsJS()[0]!;
  const expectedUsers = c.user_id.reduce((a, b) => a + b, 0);
  const expectedBuckets = c.user_bucket.reduce((a, b) => a + b, 0);
  const duckOk =
    r.n === rows && r.users === expectedUsers && r.buckets === expectedBuckets && r.sourced === rows && check.n === rows && check.users === expectedUsers;
  const sha256 = createHash('sha256')
    .update(await fs.readFile(file))
    .digest('hex');
  console.log(JSON.stringify({ lib, rows, writeMs, readMs, size, rssBaseMb: before / 2 ** 20, peakMb: hwm / 2 ** 20, duckOk, listenTimeType: r.lt, sha256 }));
}

async function main() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: { rows: { type: 'string', default: '1000000' }, lib: { type: 'string' }, dir: { type: 'string' }, libs: { type: 'string' } },
  });
  const rows = Number(values.rows);
  if (values.lib) return child(values.lib as Lib, rows, values.dir!);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musicflow-parquet-'));
  const libs = (values.libs?.split(',') ?? LIBS) as Lib[];
  const results: Record<string, unknown>[] = [];
  for (const lib of libs) {
    const out = spawnSync(
      process.execPath,
      ['--conditions=@musicflow/source', '--import', 'tsx', fileURLToPath(import.meta.url), '--lib', lib, '--rows', String(rows), '--dir', dir],
      {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    const line = out.stdout.trim().split('\n').pop() ?? '';
    try {
      results.push(JSON.parse(line));
    } catch {
      results.push({ lib, error: (out.stderr || out.stdout).trim().split('\n').slice(-3).join(' | ') });
    }
  }
  await fs.rm(dir, { recursive: true, force: true });
  console.log(`Parquet write + read of ${rows.toLocaleString('en-US')} lake rows (11 columns, ${GROUP / 1000}k-row groups, SNAPPY), one process per library:`);
  console.log('| library | write s | read s | write+read s | file MB | peak RSS MB | DuckDB reads it back | bytes as hyparquet |');
  console.log('|---|---:|---:|---:|---:|---:|---|---|');
  const reference = results.find((r) => r.lib === 'hyparquet' || r.lib === 'hyparquet-columnar')?.sha256;
  for (const r of results) {
    if (r.error) {
      console.log(`| ${r.lib} | error: ${r.error} |||||`);
      continue;
    }
    const w = (r.writeMs as number) / 1000;
    const rd = (r.readMs as number) / 1000;
    console.log(
      `| ${r.lib} | ${w.toFixed(2)} | ${rd.toFixed(2)} | ${(w + rd).toFixed(2)} | ${((r.size as number) / 2 ** 20).toFixed(1)} | ${(r.peakMb as number).toFixed(0)} | ${r.duckOk ? 'yes' : 'NO'} (${r.listenTimeType}) | ${reference === undefined ? '-' : r.sha256 === reference ? 'same' : 'differ'} |`,
    );
  }
}

await main();
