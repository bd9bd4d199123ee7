/**
 * The text contract end to end (docs/data-contract.md): a catalogue holding
 * every odd row (NUL, control characters, bytes that are not UTF-8, names and
 * genres too long in characters and in bytes, a 64-character multi-byte track
 * id), stream files with the same track ids and a header naming user_id
 * twice. The run loads, rejects exactly the offending rows and file, and its
 * KPIs equal the DuckDB oracle's over the clean rows (written here by hand, as
 * the contract says they must look). And the loader: a row the warehouse
 * refuses fails the run at once, naming it, with nothing loaded.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds } from '@musicflow/contracts';
import { readRunProgress, startRun } from '@musicflow/flow';
import { KPI_TEXT_COLUMNS } from '@musicflow/warehouse/text-contract';
import { MIGRATIONS } from '../../packages/warehouse/src/sql.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';

type Field = string | Buffer;
const bytes = (f: Field) => (typeof f === 'string' ? Buffer.from(f, 'utf8') : f);
const quoted = (f: Field) => Buffer.concat([Buffer.from('"'), Buffer.from(bytes(f).toString('latin1').replace(/"/g, '""'), 'latin1'), Buffer.from('"')]);
const csvLine = (fields: Field[], eol = '\n') =>
  Buffer.concat([...fields.flatMap((f, i) => (i ? [Buffer.from(','), quoted(f)] : [quoted(f)])), Buffer.from(eol)]);
const digest = (text: string) => createHash('sha1').update(text).digest('hex').slice(0, 8);

const LONG_GENRE_A = `${'g'.repeat(300)}a`;
const LONG_GENRE_B = `${'g'.repeat(300)}b`;
const CYRILLIC_GENRE = 'ж'.repeat(200); // 200 characters fit PostgreSQL's VARCHAR(256), 400 bytes not Redshift's
const CYRILLIC_ARTIST = 'б'.repeat(600);
const NOT_UTF8_ID = Buffer.concat([Buffer.from('badUtf8'), Buffer.from([0xff, 0xfe]), Buffer.from('id')]);
const CYRILLIC_ID = 'д'.repeat(64); // SPEC's 64 characters, 128 bytes: not a catalogue key, a valid stream track id

interface OddSong {
  trackId: Field;
  artists: Field;
  name: Field;
  genre: string;
  /** How the contract says it reaches the KPIs; undefined: the row is quarantined. */
  clean?: { artists: string; name: string; genre: string };
  plays: number;
}

const ODD_SONGS: OddSong[] = [
  // The day's most played track of `iranian`, and the top artist of hour 3.
  {
    trackId: 'oddNulName0001',
    artists: 'Nul\u0000Artist;Other',
    name: 'Null\u0000Song',
    genre: 'iranian',
    clean: { artists: 'Nul Artist;Other', name: 'Null Song', genre: 'iranian' },
    plays: 60,
  },
  {
    trackId: 'oddCtlName0001',
    artists: 'Ctl\u007fArtist',
    name: 'Tab\tand\u0001ctl',
    genre: 'groove',
    clean: { artists: 'Ctl Artist', name: 'Tab and ctl', genre: 'groove' },
    plays: 8,
  },
  {
    trackId: 'oddLongAscii01',
    artists: 'Long A',
    name: 'L'.repeat(1100),
    genre: LONG_GENRE_A,
    clean: { artists: 'Long A', name: 'L'.repeat(1024), genre: `${'g'.repeat(247)}~${digest(LONG_GENRE_A)}` },
    plays: 7,
  },
  {
    trackId: 'oddLongAscii02',
    artists: 'Long B',
    name: 'M'.repeat(1030),
    genre: LONG_GENRE_B,
    clean: { artists: 'Long B', name: 'M'.repeat(1024), genre: `${'g'.repeat(247)}~${digest(LONG_GENRE_B)}` },
    plays: 6,
  },
  {
    trackId: 'oddCyrillic001',
    artists: CYRILLIC_ARTIST,
    name: 'я'.repeat(700),
    genre: CYRILLIC_GENRE,
    clean: { artists: `${'б'.repeat(507)}~${digest(CYRILLIC_ARTIST)}`, name: 'я'.repeat(512), genre: `${'ж'.repeat(123)}~${digest(CYRILLIC_GENRE)}` },
    plays: 5,
  },
  // U+FFFD stays in a name: it is valid UTF-8.
  {
    trackId: 'oddFffdName001',
    artists: 'Fffd',
    name: Buffer.from([0x43, 0x61, 0x66, 0xe9]),
    genre: 'groove',
    clean: { artists: 'Fffd', name: 'Caf\uFFFD', genre: 'groove' },
    plays: 4,
  },
  // Quarantined: their plays are stream rows with the same ids.
  { trackId: 'oddNul\u0000Id01', artists: 'X', name: 'Nul id', genre: 'pop', plays: 1 },
  { trackId: 'oddCtl\u0001Id01', artists: 'X', name: 'Ctl id', genre: 'pop', plays: 1 },
  { trackId: NOT_UTF8_ID, artists: 'X', name: 'Bad UTF-8 id', genre: 'pop', plays: 1 },
  { trackId: CYRILLIC_ID, artists: 'X', name: 'Long id in bytes', genre: 'pop', plays: 5 },
  { trackId: 'oddNulGenre001', artists: 'X', name: 'Nul genre', genre: '\u0000', plays: 3 },
];
/** Stream rows of these ids are rejected (the other quarantined songs' plays stay, as orphans). */
const REJECTED_STREAM_IDS = 3;

describe('a catalogue and streams with every odd text, end to end', () => {
  let work: string;
  let streams: string;
  let warehouseUrl: string;
  let pipeline: TestPipeline;
  const files = { songs: '', cleanSongs: '', odd: '', cleanOdd: '', twice: '' };

  beforeAll(async () => {
    work = await tempDir();
    streams = path.join(work, 'bucket', 'streams');
    await fs.mkdir(streams, { recursive: true });
    const sampleSongs = await fs.readFile(path.join(SAMPLE, 'songs.csv'));
    const header = sampleSongs.subarray(0, sampleSongs.indexOf('\n')).toString().trimEnd().split(',');
    const songLine = (s: { trackId: Field; artists: Field; name: Field; genre: Field }) =>
      csvLine(
        header.map(
          (c) =>
            ({
              id: '0',
              track_id: s.trackId,
              artists: s.artists,
              album_name: 'Odd',
              track_name: s.name,
              popularity: '77',
              duration_ms: '123456',
              track_genre: s.genre,
            })[c] ?? '',
        ),
        '\r\n',
      ); // the sample's line ends
    files.songs = path.join(work, 'songs.csv');
    files.cleanSongs = path.join(work, 'songs-clean.csv');
    await fs.writeFile(files.songs, Buffer.concat([sampleSongs, ...ODD_SONGS.map(songLine)]));
    await fs.writeFile(files.cleanSongs, Buffer.concat([sampleSongs, ...ODD_SONGS.filter((s) => s.clean).map((s) => songLine({ ...s, ...s.clean! }))]));

    const oddPlays: { line: Buffer; rejected: boolean }[] = [];
    let user = 1;
    ODD_SONGS.forEach((s, i) => {
      for (let p = 0; p < s.plays; p++, user++) {
        const hour = i === 0 ? 3 : 4;
        const time = `2024-06-25 ${String(hour).padStart(2, '0')}:${String(Math.floor(p / 60)).padStart(2, '0')}:${String(p % 60).padStart(2, '0')}`;
        const rejected = i >= 6 && i < 6 + REJECTED_STREAM_IDS;
        oddPlays.push({ line: csvLine([String(user), s.trackId, time]), rejected });
      }
    });
    expect(oddPlays.filter((p) => p.rejected)).toHaveLength(REJECTED_STREAM_IDS);
    files.odd = path.join(streams, 'odd.csv');
    files.cleanOdd = path.join(work, 'odd-clean.csv');
    files.twice = path.join(streams, 'twice.csv');
    const streamHeader = Buffer.from('user_id,track_id,listen_time\n');
    await fs.writeFile(files.odd, Buffer.concat([streamHeader, ...oddPlays.map((p) => p.line)]));
    await fs.writeFile(files.cleanOdd, Buffer.concat([streamHeader, ...oddPlays.filter((p) => !p.rejected).map((p) => p.line)]));
    await fs.writeFile(files.twice, 'user_id,track_id,listen_time,user_id\n1,t1,2024-06-25 10:00:00,2\n');
    await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(streams, 'streams1.csv'));

    warehouseUrl = await createTestDatabase();
    pipeline = await startPipeline(
      testConfig({
        WAREHOUSE_URL: warehouseUrl,
        STREAMS_URL: dirUrl(streams),
        USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
        SONGS_URL: fileUrl(files.songs),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
      }),
    );
  });

  afterAll(async () => {
    await pipeline?.close();
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('loads the day, rejects exactly the odd stream rows, the file and the unusable songs; KPIs equal the oracle over the clean rows', async () => {
    const report = await pipeline.run();
    expect(report.status).toBe('partial');
    expect(report.files).toMatchObject({ loaded: 2, rejected: 1 });
    expect(report.files.firstRejected).toEqual([{ file: fileUrl(files.twice), reasons: ['column(s) named more than once in the header: user_id'] }]);
    const oddRows = ODD_SONGS.reduce((n, s) => n + s.plays, 0);
    expect(report.rows).toMatchObject({
      read: 11346 + oddRows, // a file rejected at its header is not read
      valid: 11346 + oddRows - REJECTED_STREAM_IDS,
      rejected: REJECTED_STREAM_IDS,
      rejectedByReason: { invalid_track_id_characters: REJECTED_STREAM_IDS },
    });
    expect(report.catalogue.rejected).toBe(5);

    // The quarantined songs, by line of songs.csv (the sample's 31,218 rows come first) and field.
    const quarantine = parse<Record<string, string>>(await fs.readFile(path.join(work, 'lake', 'quarantine', `run=${report.runId}`, 'songs.csv')), {
      columns: true,
    });
    expect(quarantine.map((q) => [Number(q.line) - 31219, q.reason, q.field, q.value])).toEqual([
      [7, 'invalid_track_id_characters', 'track_id', 'oddNul\u0000Id01'],
      [8, 'invalid_track_id_characters', 'track_id', 'oddCtl\u0001Id01'],
      [9, 'invalid_track_id_characters', 'track_id', 'badUtf8\uFFFD\uFFFDid'],
      [10, 'track_id_too_long', 'track_id', CYRILLIC_ID],
      [11, 'invalid_track_genre', 'track_genre', '\u0000'],
    ]);
    expect(report.catalogue.cleaned).toEqual({
      'track_name.control_characters': 2,
      'artists.control_characters': 2,
      'track_name.too_long': 3,
      'track_genre.too_long': 3,
      'artists.too_long': 1,
    });

    const kpis = await readWarehouseKpis(warehouseUrl);
    expectSameKpis(
      kpis,
      await computeKpisWithDuckDB({ streamFiles: [path.join(SAMPLE, 'streams', 'streams1.csv'), files.cleanOdd], songsCsv: files.cleanSongs }),
    );
    expect(kpis.genre.find((g) => g.genre === 'iranian')).toMatchObject({
      mostPopularTrackId: 'oddNulName0001',
      mostPopularTrackName: 'Null Song',
      mostPopularTrackPlays: 60,
    });
    expect(kpis.hourly.find((h) => h.listenHour === 3)).toMatchObject({ topArtist: 'Nul Artist' });
    // Two genres with one 300-character prefix stay two rows.
    expect(kpis.genre.filter((g) => g.genre.startsWith('g'.repeat(247))).map((g) => g.listenCount)).toEqual(expect.arrayContaining([7, 6]));

    // Every text value in analytics.* fits Redshift's byte limits and holds no control character.
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      for (const { table, column, bytes: limit } of KPI_TEXT_COLUMNS) {
        const { rows } = await client.query(
          `SELECT max(octet_length(${column})) AS longest, count(*) FILTER (WHERE ${column} ~ '[\\x01-\\x1f\\x7f-\\x9f]') AS controls FROM ${table}`,
        );
        expect({ column, fits: Number(rows[0].longest) <= limit, controls: Number(rows[0].controls) }).toEqual({ column, fits: true, controls: 0 });
      }
      const longest = await client.query(`SELECT max(octet_length(most_popular_track_name)) AS n FROM analytics.genre_kpis`);
      expect(Number(longest.rows[0].n)).toBe(1024); // the cut names reached the warehouse
    } finally {
      await client.end();
    }

    // The KPI stage counts each event once (the run's job and its date job both reported them).
    const progress = await readRunProgress(pipeline.ctx.queues, report.runId);
    expect(progress.stages.kpi.rows).toBe(report.rows.valid);
  });
});

describe('a row the warehouse refuses', () => {
  let work: string;
  let streams: string;
  let warehouseUrl: string;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    work = await tempDir();
    streams = path.join(work, 'bucket', 'streams');
    await fs.mkdir(streams, { recursive: true });
    await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(streams, 'streams1.csv'));
    warehouseUrl = await createTestDatabase();
    // A table created by hand with a narrower column than sql.ts: the stage takes the rows, the MERGE refuses them.
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    for (const statement of MIGRATIONS.flatMap((m) => m.statements)) await client.query(statement.replace('top_artist VARCHAR(1024)', 'top_artist VARCHAR(5)'));
    await client.end();
    pipeline = await startPipeline(
      testConfig({
        WAREHOUSE_URL: warehouseUrl,
        STREAMS_URL: dirUrl(streams),
        USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
        SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
        // Retries would take minutes: the loader must not wait for them.
        JOB_ATTEMPTS: '5',
        JOB_BACKOFF_MS: '60000',
      }),
    );
  });

  afterAll(async () => {
    await pipeline?.close();
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('fails the run at its first attempt, naming date, table, key and column; nothing is loaded, the source stays', async () => {
    const { runId } = await startRun(pipeline.ctx.config, pipeline.ctx.queues, { trigger: 'test' });
    const failure = await waitForReport(pipeline.ctx, runId).catch((err: Error) => err.message);
    expect(failure).toMatch(
      /the warehouse refused a row loading 2024-06-25 into analytics\.hourly_kpis, key \(listen_date="2024-06-25", listen_hour="\d+"\), column top_artist = ".{6,}": value too long for type character varying\(5\) \(SQLSTATE 22001\)/,
    );
    const load = await pipeline.ctx.queues.queues.load.getJob(jobIds.load(runId));
    expect(load?.attemptsMade).toBe(1);

    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      // genre_kpis was merged before hourly_kpis failed, in the same transaction: rolled back.
      expect((await client.query('SELECT count(*)::int AS n FROM analytics.genre_kpis')).rows[0].n).toBe(0);
      expect((await client.query('SELECT count(*)::int AS n FROM analytics.hourly_kpis')).rows[0].n).toBe(0);
      const run = await client.query('SELECT status, error FROM analytics.etl_runs WHERE run_id = $1', [runId]);
      expect(run.rows[0]).toMatchObject({ status: 'failed', error: expect.stringContaining('column top_artist') });
    } finally {
      await client.end();
    }
    await fs.access(path.join(streams, 'streams1.csv'));
  });
});
