/**
 * Hostile files and folders (issue 24) against the whole pipeline on file://:
 * files that break a bound (a record of 2 GB of zeros, a line of 2 MiB, a
 * row of too many fields, a gzip bomb, a name too long) are rejected with
 * the bound in their reason, never retried; links, FIFOs and names that are
 * not UTF-8 are skipped and reported; a link never leads out of the folder;
 * long nested folder names load; the good files beside them all load, and a
 * later run over what is left is not failed by it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { createGzip } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';

const HEADER = 'user_id,track_id,listen_time\n';
const ROW = '26213,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 17:43:13\n';
/** Rows of dates no good file has: if any of them loads, the KPIs show it. */
const OUTSIDE_ROW = '26213,4dBa8T7oDV9WvGr7kVS4Ez,2024-07-01 10:00:00\n';
const NOT_UTF8_ROW = '26213,4dBa8T7oDV9WvGr7kVS4Ez,2024-07-02 10:00:00\n';

describe('hostile stream files and folders', () => {
  let work: string;
  let streams: string;
  let warehouseUrl: string;
  let pipeline_: TestPipeline;
  const sample = (file: string) => path.join(SAMPLE, 'streams', file);
  /** Folders of long names: two of 200 bytes (their file id alone would be 400+), three of 254 bytes of `é` (a URL over 2,048). */
  const longNested = path.join('n'.repeat(200), 'm'.repeat(200));
  const accented = path.join('é'.repeat(127), 'è'.repeat(127), 'ê'.repeat(127));
  const tooLong = path.join(...Array.from({ length: 5 }, (_, i) => String(i).repeat(240)));

  beforeAll(async () => {
    work = await tempDir();
    streams = path.join(work, 'streams');
    const outside = path.join(work, 'outside');
    await fs.mkdir(outside, { recursive: true });
    await fs.writeFile(path.join(outside, 'secret.csv'), HEADER + OUTSIDE_ROW);

    await fs.mkdir(path.join(streams, longNested), { recursive: true });
    await fs.mkdir(path.join(streams, accented), { recursive: true });
    await fs.mkdir(path.join(streams, tooLong), { recursive: true });
    // Good files, beside everything else.
    await fs.copyFile(sample('streams1.csv'), path.join(streams, 'good.csv'));
    // With a bad row: its quarantine's name derives from the file id too.
    await fs.writeFile(path.join(streams, longNested, 'day.csv'), `${await fs.readFile(sample('streams2.csv'), 'utf8')}0,bad,2024-06-25 00:00:00\n`);
    await fs.copyFile(sample('streams3.csv'), path.join(streams, accented, 'day.csv'));
    // A header, then 2 GiB of zeros (sparse: 4 KiB on disk), one record that never ends.
    await fs.writeFile(path.join(streams, 'zeros.csv'), HEADER);
    await fs.truncate(path.join(streams, 'zeros.csv'), 2 * 1024 ** 3);
    // A small file (one segment, read only by the validator) with a line of 2 MiB.
    await fs.writeFile(path.join(streams, 'long-line.csv'), HEADER + ROW + `1,${'x'.repeat(2 << 20)},2024-06-25 10:00:00\n`);
    // A row of 1,001 fields.
    await fs.writeFile(path.join(streams, 'wide.csv'), HEADER + ROW + `1,a,2024-06-25 10:00:00${',x'.repeat(998)}\n`);
    // 64 MiB of good rows in a few KiB of gzip: far over 100 times its size.
    await pipeline(
      Readable.from(
        (function* () {
          yield Buffer.from(HEADER);
          const block = Buffer.from(ROW.repeat(Math.floor((1 << 20) / ROW.length)));
          for (let i = 0; i < 64; i++) yield block;
        })(),
      ),
      createGzip({ level: 9 }),
      createWriteStream(path.join(streams, 'bomb.csv.gz')),
    );
    await fs.writeFile(path.join(streams, tooLong, 'day.csv'), HEADER + ROW);
    // Links: to a file outside, to a folder outside, two loops; a FIFO; a name that is not UTF-8.
    await fs.symlink(path.join(outside, 'secret.csv'), path.join(streams, 'outside.csv'));
    await fs.symlink(outside, path.join(streams, 'linked-folder'));
    await fs.symlink('.', path.join(streams, 'a'));
    await fs.symlink('.', path.join(streams, 'b'));
    execFileSync('mkfifo', [path.join(streams, 'pipe.csv')]);
    await fs.writeFile(Buffer.concat([Buffer.from(`${streams}/not-utf8-`), Buffer.from([0xff, 0xfe]), Buffer.from('.csv')]), HEADER + NOT_UTF8_ROW);
    const notUtf8Folder = Buffer.concat([Buffer.from(`${streams}/folder-`), Buffer.from([0xc3])]);
    await fs.mkdir(notUtf8Folder);
    await fs.writeFile(Buffer.concat([notUtf8Folder, Buffer.from('/day.csv')]), HEADER + NOT_UTF8_ROW);

    warehouseUrl = await createTestDatabase();
    pipeline_ = await startPipeline(
      testConfig({
        WAREHOUSE_URL: warehouseUrl,
        STREAMS_URL: dirUrl(streams),
        USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
        SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
      }),
    );
  });
  afterAll(async () => {
    await pipeline_?.close();
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  const runFiles = async (runId: string) => {
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ file: string; status: string; reason: string | null }>(
        'SELECT file, status, reason FROM analytics.etl_run_files WHERE run_id = $1 ORDER BY file',
        [runId],
      );
      return rows;
    } finally {
      await client.end();
    }
  };
  const reasonOf = (rows: { file: string; reason: string | null }[], end: string) => rows.filter((r) => r.file.endsWith(end)).map((r) => r.reason);

  it('rejects each file that breaks a bound, reports what it skipped, follows no link, and loads the rest', async () => {
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 50);
    const report = await pipeline_.run().finally(() => clearInterval(sampler));

    expect(report.status).toBe('partial');
    expect(report.files).toMatchObject({ total: 15, loaded: 3, rejected: 12 });
    // The report names each rejected file in at most 1,024 bytes: the name too long is cut with a digest.
    expect(report.files.firstRejected).toHaveLength(12);
    expect(report.files.firstRejected.every((f) => Buffer.byteLength(f.file) <= 1024)).toBe(true);
    expect(report.files.firstRejected.filter((f) => /~[0-9a-f]{8}$/.test(f.file))).toEqual([
      { file: expect.stringContaining('/0000'), reasons: [expect.stringMatching(/^name_too_long/)] },
    ]);
    // Finding a record of 2 GiB, or a gzip bomb, never holds it: the whole stack in this process stays under 512 MiB (about 250 measured).
    expect(peakRss).toBeLessThan(512 * 2 ** 20);

    const rows = await runFiles(report.runId);
    expect(rows).toHaveLength(15);
    expect(reasonOf(rows, '/zeros.csv')).toEqual([
      expect.stringMatching(/^record_too_long: the record at line 2 runs past MAX_RECORD_BYTES \(1048576 bytes\)/),
    ]);
    expect(reasonOf(rows, '/long-line.csv')).toEqual([expect.stringMatching(/^record_too_long: the record at line 3 .*MAX_RECORD_BYTES/)]);
    expect(reasonOf(rows, '/wide.csv')).toEqual([expect.stringMatching(/^too_many_columns: the record at line 3 has more than MAX_COLUMNS \(1000\)/)]);
    expect(reasonOf(rows, '/bomb.csv.gz')).toEqual([expect.stringMatching(/^gzip_ratio: .*MAX_GZIP_RATIO \(100\)/)]);
    expect(reasonOf(rows, '/day.csv').filter(Boolean)).toEqual([expect.stringMatching(/^name_too_long: .* over MAX_FILE_KEY_BYTES \(1024\)/)]);
    for (const link of ['/outside.csv', '/linked-folder', '/a', '/b'])
      expect(reasonOf(rows, link)).toEqual([expect.stringMatching(/^skipped_symlink: .*FILE_LINKS=skip/)]);
    expect(reasonOf(rows, '/pipe.csv')).toEqual([expect.stringMatching(/^skipped_special_file/)]);
    expect(reasonOf(rows, '/not-utf8-%FF%FE.csv')).toEqual([expect.stringMatching(/^name_not_utf8/)]);
    expect(reasonOf(rows, '/folder-%C3')).toEqual([expect.stringMatching(/^name_not_utf8/)]);
    // Every row fits its column: the accented file's URL is over 2,048 bytes, cut with a digest.
    const accentedRow = rows.find((r) => r.status === 'loaded' && r.file.includes('%C3%A9'));
    expect(accentedRow?.file).toMatch(/~[0-9a-f]{8}$/);
    expect(rows.filter((r) => r.status === 'loaded')).toHaveLength(3);

    // The good files' KPIs, exactly: nothing of the bomb, the outside file or the unnamed one.
    expectSameKpis(
      await readWarehouseKpis(warehouseUrl),
      await computeKpisWithDuckDB({ streamFiles: ['streams1.csv', 'streams2.csv', 'streams3.csv'].map(sample), songsCsv: path.join(SAMPLE, 'songs.csv') }),
    );
    // The linked file outside is where it was; only the loaded files went to the archive.
    expect(await fs.readFile(path.join(work, 'outside', 'secret.csv'), 'utf8')).toBe(HEADER + OUTSIDE_ROW);
    await expect(fs.access(path.join(streams, 'good.csv'))).rejects.toThrow();
    await expect(fs.access(path.join(streams, longNested, 'day.csv'))).rejects.toThrow();
    await fs.access(path.join(streams, 'zeros.csv'));
    await fs.access(path.join(streams, 'outside.csv'));
  });

  it('a catalogue CSV with a record past MAX_RECORD_BYTES fails its run at once, naming the bound', async () => {
    const own = path.join(work, 'catalogue-bound');
    await fs.mkdir(path.join(own, 'streams'), { recursive: true });
    await fs.copyFile(sample('streams1.csv'), path.join(own, 'streams', 'streams1.csv'));
    const songs = path.join(own, 'songs.csv');
    const [header, first] = (await fs.readFile(path.join(SAMPLE, 'songs.csv'), 'utf8')).split('\n');
    await fs.writeFile(songs, `${header}\n${first}\n${first!.replace(/,/, `,${'x'.repeat(2 << 20)}`)}\n`);

    const report = await pipeline_.run({ streams: dirUrl(path.join(own, 'streams')), songs: fileUrl(songs) });
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/catalogue: \S+songs\.csv: record_too_long: the record at line 3 runs past MAX_RECORD_BYTES/);
    const catalogueJob = (await pipeline_.ctx.queues.queues.extract.getJobs(['failed'])).find((j) => j.id!.includes(report.runId) && j.name === 'catalogue');
    expect(catalogueJob?.attemptsMade).toBe(1);
  });

  it('a later run over the files left behind is not failed by them', async () => {
    await fs.copyFile(sample('streams1.csv'), path.join(streams, 'next.csv'));
    const report = await pipeline_.run();
    expect(report.status).toBe('partial');
    expect(report.files).toMatchObject({ total: 13, loaded: 1, rejected: 12 });
    expect((await runFiles(report.runId)).filter((r) => r.status === 'rejected')).toHaveLength(12);
  });
});
