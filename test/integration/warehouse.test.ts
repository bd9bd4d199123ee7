import { PassThrough, Readable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '@musicflow/contracts';
import { Warehouse, WarehouseDataError, kpiRowsToCsv } from '@musicflow/warehouse';
import { CHECK_SQL, MIGRATION_SQL, MIGRATIONS, RUN_CHECKS_SQL, SOURCE_HEADERS_SQL, upsertStatements } from '../../packages/warehouse/src/sql.ts';
import type { GenreKpiRow, HourlyKpiRow } from '@musicflow/kpi';
import { dropTestDatabase, PG_ADMIN, uniqueName } from '../helpers/env.ts';

const genreRow = (genre: string, listenCount: number): GenreKpiRow => ({
  listenDate: '2024-06-25',
  genre,
  listenCount,
  avgTrackDurationMs: 200000.5,
  avgPopularity: 40.25,
  popularityIndex: (listenCount * 40.25) / 100,
  mostPopularTrackId: 't1',
  mostPopularTrackName: 'Name, with "quotes"',
  mostPopularTrackPlays: 2,
});
const hourlyRow = (listenHour: number, topArtist: string | null): HourlyKpiRow => ({
  listenDate: '2024-06-25',
  listenHour,
  uniqueListeners: 3,
  totalPlays: 4,
  uniqueTracks: 2,
  trackDiversityIndex: 0.5,
  topArtist,
  topArtistPlays: topArtist ? 2 : null,
});

const report = (runId: string): RunReport => ({
  runId,
  trigger: 'test',
  status: 'succeeded',
  startedAt: '2024-06-26T02:00:00.000Z',
  finishedAt: '2024-06-26T02:01:00.000Z',
  sources: { streams: 'postgres://u:secret@h/db', users: 'u', songs: 's' },
  files: { total: 1, loaded: 1, rejected: 0, firstRejected: [] },
  rows: { read: 10, valid: 9, rejected: 1, rejectedByReason: { invalid_user_id: 1 }, duplicate: 0, orphanTracks: 0, orphanUsers: 0 },
  catalogue: { users: 1, songs: 1, rejected: 0 },
  dates: ['2024-06-25'],
  kpiRows: { genre: 0, hourly: 0 },
  stageMs: {},
});

function load(runId: string, snapshotSeq: number, genre: GenreKpiRow[], hourly: HourlyKpiRow[]) {
  const csv = kpiRowsToCsv({ genre, hourly });
  return {
    runId,
    snapshotSeq,
    updatedAt: new Date('2024-06-26T02:01:00Z'),
    genre: async () => Readable.from([csv.genre]),
    hourly: async () => Readable.from([csv.hourly]),
  };
}

for (const strategy of ['copy', 'insert'] as const) {
  describe(`warehouse load through a stage and MERGE (${strategy})`, () => {
    let url: string;
    let warehouse: Warehouse;

    beforeAll(async () => {
      const u = new URL(PG_ADMIN);
      u.pathname = `/${uniqueName('musicflow_wh')}`;
      url = u.toString();
      // The database does not exist yet: connect() creates it, then the tables.
      warehouse = await Warehouse.connect(url, strategy);
    });
    afterAll(async () => {
      await warehouse.close();
      await dropTestDatabase(url);
    });

    it('inserts new rows and records the run, without its connection password', async () => {
      const merged = await warehouse.loadRun(load('r1', 10, [genreRow('pop', 5), genreRow('rock', 3)], [hourlyRow(0, 'A'), hourlyRow(1, null)]), report('r1'));
      expect(merged.kpiRows).toEqual({ genre: 2, hourly: 2 });
      const rows = await warehouse.kpis('genre', '2024-06-25');
      expect(rows.map((r) => [r.genre, r.listen_count, r.most_popular_track_name, r.run_id])).toEqual([
        ['pop', 5, 'Name, with "quotes"', 'r1'],
        ['rock', 3, 'Name, with "quotes"', 'r1'],
      ]);
      const hourly = await warehouse.kpis('hourly', '2024-06-25');
      expect(hourly.map((r) => [r.listen_hour, r.top_artist, r.top_artist_plays])).toEqual([
        [0, 'A', 2],
        [1, null, null],
      ]);
      const [run] = await warehouse.query<{ status: string; streams_url: string; rows_rejected: number; kpi_rows: number }>(
        'SELECT status, streams_url, rows_rejected, kpi_rows FROM analytics.etl_runs WHERE run_id = $1',
        ['r1'],
      );
      expect(run).toEqual({ status: 'succeeded', streams_url: 'postgres://u:***@h/db', rows_rejected: 1, kpi_rows: 4 });
      expect((await warehouse.getRun('r1'))?.rows.read).toBe(10);
    });

    it('loading the same rows again changes nothing; a newer snapshot updates in place', async () => {
      await warehouse.loadRun(load('r1', 10, [genreRow('pop', 5), genreRow('rock', 3)], [hourlyRow(0, 'A'), hourlyRow(1, null)]), report('r1'));
      expect(await warehouse.kpis('genre', '2024-06-25')).toHaveLength(2);
      await warehouse.loadRun(load('r2', 20, [genreRow('pop', 7)], []), report('r2'));
      const rows = await warehouse.kpis('genre', '2024-06-25');
      expect(rows.map((r) => [r.genre, r.listen_count, r.run_id])).toEqual([
        ['pop', 7, 'r2'],
        ['rock', 3, 'r1'],
      ]);
    });

    it('an older snapshot never overwrites a newer one (two runs finishing out of order)', async () => {
      await warehouse.loadRun(load('r0', 15, [genreRow('pop', 1), genreRow('jazz', 1)], []), report('r0'));
      const rows = await warehouse.kpis('genre', '2024-06-25');
      expect(rows.map((r) => [r.genre, r.listen_count, r.run_id])).toEqual([
        ['jazz', 1, 'r0'],
        ['pop', 7, 'r2'],
        ['rock', 3, 'r1'],
      ]);
    });

    it('two loads at once: the newer snapshot wins when the older one commits while the newer one is still in its transaction', async () => {
      const listenDate = '2024-07-01';
      const genre = (listenCount: number) => [{ ...genreRow('blues', listenCount), listenDate }];
      const hourly = (totalPlays: number) => [{ ...hourlyRow(5, 'A'), listenDate, totalPlays }];
      await warehouse.loadRun(load('c1', 100, genre(1), hourly(1)), report('c1'));
      // The newer load stops inside its transaction (its snapshot taken, its genre rows staged) until its hourly rows arrive.
      const newer = load('c3', 300, genre(3), hourly(3));
      const held = new PassThrough();
      let reachedHourly!: () => void;
      const atHourly = new Promise<void>((resolve) => (reachedHourly = resolve));
      let attempts = 0;
      newer.hourly = async () => {
        if (attempts++ > 0) return Readable.from([kpiRowsToCsv({ genre: [], hourly: hourly(3) }).hourly]);
        reachedHourly();
        return held;
      };
      // The loader job retries a concurrent load: so does this test.
      let newerFailure: unknown;
      const newerLoad = warehouse.loadRun(newer, report('c3')).catch((err: unknown) => {
        newerFailure = err;
        return warehouse.loadRun(newer, report('c3'));
      });
      await atHourly;
      // The older load runs and commits meanwhile (the newer one merges nothing before its checks, so holds no row).
      await warehouse.loadRun(load('c2', 200, genre(2), hourly(2)), report('c2'));
      held.end(kpiRowsToCsv({ genre: [], hourly: hourly(3) }).hourly);
      await newerLoad;
      const rows = (name: 'genre' | 'hourly') => warehouse.kpis(name, listenDate);
      expect((await rows('genre')).map((r) => [r.listen_count, r.run_id])).toEqual([[3, 'c3']]);
      expect((await rows('hourly')).map((r) => [r.total_plays, r.run_id])).toEqual([[3, 'c3']]);
      // Its snapshot predates the older load's commit: it fails as a concurrent load (not a data error), and its retry wins.
      expect(newerFailure).not.toBeInstanceOf(WarehouseDataError);
      expect((newerFailure as Error).message).toContain('analytics.genre_kpis: a concurrent load changed the same rows first (40001)');
    });

    it("records every file's outcome in etl_run_files, odd names and no reason included", async () => {
      const files = [
        { file: 'file:///in/a, "quoted" name.csv', status: 'loaded' as const, rowsRead: 3, rowsValid: 3, rowsRejected: 0, duplicate: 1 },
        {
          file: 'file:///in/b.csv',
          status: 'rejected' as const,
          rowsRead: 2,
          rowsValid: 0,
          rowsRejected: 2,
          duplicate: 0,
          reason: 'too many bad rows, "2 of 2"',
        },
        ...Array.from({ length: 2500 }, (_, i) => ({
          file: `file:///in/many/${i}.csv`,
          status: 'loaded' as const,
          rowsRead: 1,
          rowsValid: 1,
          rowsRejected: 0,
          duplicate: 0,
        })),
      ];
      await warehouse.loadRun(load('rf', 30, [], []), report('rf'), [files.slice(0, 1), files.slice(1)]);
      const listed = await warehouse.listRunFiles('rf', undefined, 2, 0);
      expect(listed.total).toBe(files.length);
      expect(listed.files).toEqual([files[0], files[1]]);
      expect((await warehouse.listRunFiles('rf', 'rejected', 10, 0)).files).toEqual([files[1]]);
    });

    it('a failure mid-load leaves no half-written rows and no run record', async () => {
      const broken = load('r3', 30, [genreRow('pop', 99)], []);
      broken.hourly = async () => Readable.from(['2024-06-25,not-an-hour,1,1,1,1,,\n']);
      await expect(warehouse.loadRun(broken, report('r3'))).rejects.toThrow();
      const rows = await warehouse.kpis('genre', '2024-06-25');
      expect(rows.find((r) => r.genre === 'pop')?.listen_count).toBe(7);
      expect(await warehouse.getRun('r3')).toBeUndefined();
    });

    it('names the date, table, key and column of a row the warehouse refuses, and loads nothing of the run', async () => {
      const refused = async (genre: GenreKpiRow[], hourly: HourlyKpiRow[]) => {
        const err = await warehouse.loadRun(load('r4', 40, genre, hourly), report('r4')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(WarehouseDataError);
        return err as WarehouseDataError;
      };
      const many = Array.from({ length: 600 }, (_, i) => genreRow(`g${i}`, 1)); // more than one INSERT batch
      // A NUL in a key: refused while staging, the row found from COPY's line or the INSERT's parameter.
      const nul = await refused([...many, genreRow('bad\u0000genre', 1)], [hourlyRow(0, 'A')]);
      expect(nul).toMatchObject({
        sqlState: '22021',
        table: 'analytics.genre_kpis',
        listenDate: '2024-06-25',
        key: { listen_date: '2024-06-25', genre: 'bad\u0000genre' },
      });
      expect(nul.message).toContain('loading 2024-06-25 into analytics.genre_kpis, key (listen_date="2024-06-25", genre="bad\\u0000genre")');
      // Too long for the stage's VARCHAR(1024), in the second table: the first one's MERGE is rolled back too.
      const long = await refused([genreRow('pop', 1000)], [hourlyRow(0, 'A'), hourlyRow(5, 'x'.repeat(1025))]);
      expect(long).toMatchObject({
        sqlState: '22001',
        table: 'analytics.hourly_kpis',
        key: { listen_date: '2024-06-25', listen_hour: '5' },
        column: 'top_artist',
      });
      expect(long.message).toMatch(/key \(listen_date="2024-06-25", listen_hour="5"\), column top_artist = "x{80}…": value too long/);
      expect((await warehouse.kpis('genre', '2024-06-25')).find((r) => r.genre === 'pop')?.listen_count).toBe(7);
      expect(await warehouse.kpis('genre', '2024-06-25')).toHaveLength(3);
      expect(await warehouse.getRun('r4')).toBeUndefined();
    });

    it('a session cut mid-load (a failover) fails the load, without an uncaught error; the next load reconnects', async () => {
      const uncaught: unknown[] = [];
      const onUncaught = (err: unknown) => uncaught.push(err);
      process.on('uncaughtException', onUncaught);
      const admin = new pg.Client({ connectionString: PG_ADMIN });
      await admin.connect();
      try {
        const rows = kpiRowsToCsv({ genre: [genreRow('pop', 9)], hourly: [] });
        // The stage waits for these rows while the session, inside the load's transaction, is terminated.
        const stalled = new Readable({ read() {} });
        const cut = { ...load('r5', 50, [], []), genre: async () => stalled };
        const loading = warehouse.loadRun(cut, report('r5')).catch((e: unknown) => e);
        const database = new URL(url).pathname.slice(1);
        let session: { pid: number } | undefined;
        while (!session) {
          [session] = (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1 AND xact_start IS NOT NULL', [database])).rows;
        }
        await admin.query('SELECT pg_terminate_backend($1)', [session.pid]);
        await new Promise((resolve) => setTimeout(resolve, 200)); // the cut reaches the client
        stalled.push(rows.genre);
        stalled.push(null);
        expect(await loading).toBeInstanceOf(Error);
        expect(uncaught).toEqual([]);
        expect(await warehouse.getRun('r5')).toBeUndefined();

        await warehouse.loadRun(load('r5', 50, [genreRow('pop', 9)], []), report('r5'));
        expect((await warehouse.kpis('genre', '2024-06-25')).find((r) => r.genre === 'pop')?.listen_count).toBe(9);
        expect(await warehouse.query('SELECT COUNT(*)::int AS n FROM analytics.etl_runs WHERE run_id = $1', ['r5'])).toEqual([{ n: 1 }]);
      } finally {
        process.off('uncaughtException', onUncaught);
        await admin.end();
      }
    });
  });
}

describe('warehouse SQL stays portable to Redshift', () => {
  const statements = [
    ...MIGRATIONS.flatMap((m) => m.statements),
    ...Object.values(MIGRATION_SQL),
    ...(['genre', 'hourly'] as const).flatMap((name) => {
      const s = upsertStatements(name);
      return [s.createStage, s.dropStage, s.dropStale, s.merge, s.insertStage(3), CHECK_SQL.block(name)];
    }),
    ...Object.values(CHECK_SQL).filter((s) => typeof s === 'string'),
    ...[RUN_CHECKS_SQL, SOURCE_HEADERS_SQL].flatMap((sqls) => Object.values(sqls).map((s) => (typeof s === 'string' ? s : s(2)))),
  ].join('\n');

  it('uses no PostgreSQL-only syntax or types', () => {
    expect(statements).not.toMatch(/ON CONFLICT|\bSERIAL\b|\bTEXT\b|\bJSONB?\b|\bUUID\b|::|RETURNING/i);
    // Redshift MERGE takes no alias on the target table.
    expect(statements).toMatch(/MERGE INTO analytics\.genre_kpis USING stage_genre_kpis s ON/);
  });

  it('stages many rows per statement, never one INSERT per row', () => {
    const sql = upsertStatements('genre').insertStage(500);
    expect(sql.match(/INSERT/g)).toHaveLength(1);
    expect(sql.match(/\(\$\d+/g)).toHaveLength(500);
  });
});

describe('the warehouse reads values its own way, on its own clients', () => {
  it('DATE as text, BIGINT as number, TIMESTAMP in UTC whatever the time zone, and other pg clients keep pg defaults', async () => {
    const u = new URL(PG_ADMIN);
    u.pathname = `/${uniqueName('musicflow_types')}`;
    const url = u.toString();
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    const warehouse = await Warehouse.connect(url);
    try {
      await warehouse.loadRun(load('r-tz', 1, [genreRow('pop', 5)], []), report('r-tz'));
      expect(await warehouse.lastSuccessfulRunAt()).toEqual(new Date('2024-06-26T02:01:00.000Z'));
      const [row] = await warehouse.query('SELECT listen_date, listen_count, updated_at FROM analytics.genre_kpis');
      expect(row).toEqual({ listen_date: '2024-06-25', listen_count: 5, updated_at: new Date('2024-06-26T02:01:00Z') });

      const other = new pg.Client({ connectionString: url });
      await other.connect();
      const { rows } = await other.query('SELECT listen_date, listen_count FROM analytics.genre_kpis').finally(() => other.end());
      expect(rows[0].listen_count).toBe('5');
      expect(rows[0].listen_date).toBeInstanceOf(Date);
    } finally {
      process.env.TZ = zone;
      if (zone === undefined) delete process.env.TZ;
      await warehouse.close();
      await dropTestDatabase(url);
    }
  });
});
