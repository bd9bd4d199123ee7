/**
 * The load's data checks against a real warehouse, in the load's transaction:
 * rows as a load writes them pass; a negative measure, a diversity index out
 * of (0, 1], hourly plays that do not add up to the lake's events, a date
 * without hourly rows, a broken row the load leaves in place each fail the
 * check of that name. Every check of every date is kept in
 * analytics.etl_checks, run after run; with CHECKS_BLOCK_ON_ERROR a date
 * failing an error-level check is left out while the others load; a day far
 * from the median of the days before it fails the anomaly checks.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CHECK_SEVERITY, type RunReport } from '@musicflow/contracts';
import type { GenreKpiRow, HourlyKpiRow } from '@musicflow/kpi';
import { evaluateChecks, kpiRowsToCsv, Warehouse, type CheckSettings, type DateMeasures } from '@musicflow/warehouse';
import { createTestDatabase, dropTestDatabase } from '../helpers/env.ts';

const hour = (listenDate: string, listenHour: number, totalPlays: number, listeners = 2): HourlyKpiRow => ({
  listenDate,
  listenHour,
  uniqueListeners: listeners,
  totalPlays,
  uniqueTracks: 2,
  trackDiversityIndex: 2 / totalPlays,
  topArtist: null,
  topArtistPlays: null,
});

const genre = (listenDate: string, name: string, listenCount: number): GenreKpiRow => ({
  listenDate,
  genre: name,
  listenCount,
  avgTrackDurationMs: 1000,
  avgPopularity: 10,
  popularityIndex: listenCount / 10,
  mostPopularTrackId: 't',
  mostPopularTrackName: 'T',
  mostPopularTrackPlays: 1,
});

const report = (runId: string, dates: string[]): RunReport => ({
  runId,
  trigger: 'test',
  status: 'succeeded',
  startedAt: '2024-06-26T02:00:00.000Z',
  finishedAt: '2024-06-26T02:01:00.000Z',
  sources: { streams: 's', users: 'u', songs: 's' },
  files: { total: 1, loaded: 1, rejected: 0, firstRejected: [] },
  rows: { read: 0, valid: 0, rejected: 0, rejectedByReason: {}, duplicate: 0, orphanTracks: 0, orphanUsers: 0 },
  catalogue: { users: 0, songs: 0, rejected: 0 },
  dates,
  kpiRows: { genre: 0, hourly: 0 },
  stageMs: {},
});

const settings = (change: Partial<CheckSettings> = {}): CheckSettings => ({
  severity: DEFAULT_CHECK_SEVERITY,
  blockOnError: false,
  anomaly: { trailingDates: 7, minDates: 3, ratio: 3 },
  ...change,
});

describe('data checks in the load', () => {
  let url: string;
  let warehouse: Warehouse;
  let seq = 0;

  /** Loads the rows as run `runId`, checking `events` (date → the lake's distinct events; null: not counted). */
  const load = (runId: string, rows: { hourly: HourlyKpiRow[]; genre?: GenreKpiRow[] }, events: Record<string, number | null>, how = settings()) => {
    const csv = kpiRowsToCsv({ genre: rows.genre ?? [], hourly: rows.hourly });
    const dates = Object.keys(events);
    return warehouse.loadRun(
      {
        runId,
        snapshotSeq: ++seq,
        updatedAt: new Date(),
        hourly: () => Readable.from([csv.hourly]),
        genre: rows.genre ? () => Readable.from([csv.genre]) : undefined,
        checks: { dates: dates.map((listenDate) => ({ listenDate, events: events[listenDate] ?? undefined })), settings: how },
      },
      report(runId, dates),
    );
  };
  const failed = (r: RunReport, anomalies = true) =>
    Object.fromEntries((r.checks ?? []).filter((c) => !c.passed && (anomalies || !c.name.endsWith('_anomaly'))).map((c) => [c.name, c.detail]));
  const history = (runId: string) =>
    warehouse.query<{ listen_date: string; check_name: string; severity: string; passed: boolean; blocked: boolean; value: number; expected: string | null }>(
      'SELECT listen_date, check_name, severity, passed, blocked, value, expected FROM analytics.etl_checks WHERE run_id = $1 ORDER BY listen_date, check_name',
      [runId],
    );

  beforeAll(async () => {
    url = await createTestDatabase();
    warehouse = await Warehouse.connect(url);
  });

  afterAll(async () => {
    await warehouse?.close();
    if (url) await dropTestDatabase(url);
  });

  it('rows as a load writes them pass every check, each kept per date in analytics.etl_checks with its severity', async () => {
    const { report: r } = await load(
      'r1',
      { hourly: [hour('2024-06-10', 0, 4), hour('2024-06-10', 1, 6), hour('2024-06-11', 5, 3)] },
      { '2024-06-10': 10, '2024-06-11': 3 },
    );
    expect(r.status).toBe('succeeded');
    expect(r.checks).toEqual([
      { name: 'hourly_rows_present', passed: true, severity: 'error' },
      { name: 'hourly_plays_match_lake', passed: true, severity: 'error' },
      { name: 'measures_not_negative_or_null', passed: true, severity: 'error' },
      { name: 'track_diversity_in_range', passed: true, severity: 'error' },
      { name: 'daily_plays_anomaly', passed: true, severity: 'warn' },
      { name: 'daily_listeners_anomaly', passed: true, severity: 'warn' },
    ]);
    const rows = await history('r1');
    expect(rows).toHaveLength(12);
    expect(rows.find((c) => c.listen_date === '2024-06-10' && c.check_name === 'hourly_plays_match_lake')).toMatchObject({
      severity: 'error',
      passed: true,
      blocked: false,
      value: 10,
      expected: '10',
    });
    // The recorded run carries the checks too.
    expect((await warehouse.getRun('r1'))?.checks).toHaveLength(6);
  });

  it("plays that do not add up to the lake's events, and a date without hourly rows, fail by name; the run is partial and both dates load", async () => {
    const { report: r, kpiRows } = await load('r2', { hourly: [hour('2024-06-12', 0, 4)] }, { '2024-06-12': 5, '2024-06-13': null });
    // (The date without rows is an anomaly too: tested below.)
    expect(failed(r, false)).toEqual({
      hourly_rows_present: '2024-06-13: no hourly rows',
      hourly_plays_match_lake: '2024-06-12: hourly plays add up to 4, the lake has 5 distinct events',
    });
    expect(r.status).toBe('partial');
    expect(r.error).toContain('hourly_plays_match_lake');
    expect(r.blockedDates).toBeUndefined();
    expect(kpiRows.hourly).toBe(1);
  });

  it('a negative measure, a diversity index outside (0, 1] and a broken row the load leaves in place fail by name', async () => {
    const bad = { ...hour('2024-06-14', 0, 4), uniqueListeners: -1 };
    const wide = { ...hour('2024-06-15', 0, 4), trackDiversityIndex: 1.5 };
    // A row of 2024-06-16 no load of today writes, with a negative count: the MERGE leaves it, the check sees it.
    await warehouse.query(`INSERT INTO analytics.genre_kpis (listen_date, genre, listen_count, avg_track_duration_ms, avg_popularity,
      popularity_index, most_popular_track_id, most_popular_track_name, most_popular_track_plays, snapshot_seq, run_id, updated_at)
      VALUES ('2024-06-16', 'zz-broken', -5, 1000, 10, -0.5, 't', 'T', 1, 0, 'old-writer', '2024-06-16 00:00:00')`);
    const { report: r } = await load(
      'r3',
      { hourly: [bad, wide, hour('2024-06-16', 0, 4)], genre: [genre('2024-06-16', 'pop', 4)] },
      { '2024-06-14': 4, '2024-06-15': 4, '2024-06-16': 4 },
    );
    expect(failed(r, false)).toEqual({
      measures_not_negative_or_null: '2024-06-14: 1 row(s) with a negative or null measure; 2024-06-16: 1 row(s) with a negative or null measure',
      track_diversity_in_range: '2024-06-15: 1 hour(s) with track_diversity_index outside (0, 1]',
    });
  });

  it('with CHECKS_BLOCK_ON_ERROR a date failing an error-level check stays out of the load, the others load, the run is partial naming it', async () => {
    await warehouse.query(`DELETE FROM analytics.genre_kpis WHERE genre = 'zz-broken'`);
    const bad = { ...hour('2024-06-20', 0, 4), trackDiversityIndex: 0 };
    const { report: r, kpiRows } = await load(
      'r4',
      { hourly: [bad, hour('2024-06-21', 0, 6)], genre: [genre('2024-06-20', 'pop', 4), genre('2024-06-21', 'pop', 6)] },
      { '2024-06-20': 4, '2024-06-21': 6 },
      settings({ blockOnError: true }),
    );
    expect(r.status).toBe('partial');
    expect(r.blockedDates).toEqual([{ listenDate: '2024-06-20', checks: ['track_diversity_in_range'] }]);
    expect(r.error).toContain('listen date(s) not loaded, an error-level check failed (CHECKS_BLOCK_ON_ERROR): 2024-06-20 (track_diversity_in_range)');
    expect(kpiRows).toEqual({ genre: 1, hourly: 1 });
    expect(await warehouse.kpis('hourly', '2024-06-20')).toEqual([]);
    expect(await warehouse.kpis('genre', '2024-06-20')).toEqual([]);
    expect((await warehouse.kpis('hourly', '2024-06-21')).map((h) => h.total_plays)).toEqual([6]);
    expect((await history('r4')).filter((c) => c.blocked)).toEqual([
      expect.objectContaining({ listen_date: '2024-06-20', check_name: 'track_diversity_in_range', passed: false, severity: 'error' }),
    ]);
    // A warn-level failure never blocks: the same date loads when the check is a warning.
    const warned = await load(
      'r5',
      { hourly: [bad] },
      { '2024-06-20': 4 },
      settings({ blockOnError: true, severity: { ...DEFAULT_CHECK_SEVERITY, track_diversity_in_range: 'warn' } }),
    );
    expect(warned.report.status).toBe('succeeded');
    expect(warned.report.checks?.find((c) => c.name === 'track_diversity_in_range')).toMatchObject({ passed: false, severity: 'warn' });
    expect(warned.report.error).toBeUndefined();
    expect(await warehouse.kpis('hourly', '2024-06-20')).toHaveLength(1);
  });

  it("a day far from the median of the loaded days before it fails the anomaly checks; history keeps every run's checks", async () => {
    // 2024-07-01..04 at 100 plays, 20 listeners in the busiest hour; then a day of 1,000 plays and one of 90.
    const day = (date: string, plays: number, listeners: number) => [hour(date, 0, plays / 2, listeners / 2), hour(date, 1, plays / 2, listeners / 2)];
    await load(
      'r6',
      { hourly: ['01', '02', '03', '04'].flatMap((d) => day(`2024-07-${d}`, 100, 40)) },
      { '2024-07-01': 100, '2024-07-02': 100, '2024-07-03': 100, '2024-07-04': 100 },
    );
    const { report: r } = await load(
      'r7',
      { hourly: [...day('2024-07-05', 1000, 400), ...day('2024-07-06', 90, 40)] },
      { '2024-07-05': 1000, '2024-07-06': 90 },
      settings({ anomaly: { trailingDates: 4, minDates: 3, ratio: 3 } }),
    );
    expect(r.status).toBe('succeeded');
    expect(failed(r)).toEqual({
      daily_plays_anomaly: '2024-07-05: 1000 plays, 10.00x the median 100 of the 4 loaded dates before it (ANOMALY_RATIO 3)',
      daily_listeners_anomaly: '2024-07-05: 200 listeners in its busiest hour, 10.00x the median 20 of the 4 loaded dates before it (ANOMALY_RATIO 3)',
    });
    const anomalies = (await history('r7')).filter((c) => c.check_name === 'daily_plays_anomaly');
    expect(anomalies).toEqual([
      expect.objectContaining({ listen_date: '2024-07-05', passed: false, severity: 'warn', value: 1000, expected: '33.3..300' }),
      // 2024-07-05 joined the history: the median of the last four, 100, 100, 100, 1000, is still 100.
      expect.objectContaining({ listen_date: '2024-07-06', passed: true, value: 90, expected: '33.3..300' }),
    ]);
    const runs = await warehouse.query<{ run_id: string; n: number }>('SELECT run_id, COUNT(*) AS n FROM analytics.etl_checks GROUP BY run_id ORDER BY run_id');
    expect(runs.map((x) => x.run_id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7']);
  });
});

describe('evaluateChecks', () => {
  const measures = (plays: number): DateMeasures => ({ hours: 1, plays, listeners: plays, badMeasures: 0, badDiversity: 0, replaced: false });
  const totals = (entries: [string, number][]) => new Map(entries.map(([d, n]) => [d, { plays: n, listeners: n }]));

  it('compares with the median of the last ANOMALY_TRAILING_DATES loaded dates, once ANOMALY_MIN_DATES are there', () => {
    const loaded = totals([
      ['2024-01-01', 1],
      ['2024-01-02', 1000],
      ['2024-01-03', 10],
      ['2024-01-04', 12],
    ]);
    const plays = (trailingDates: number, minDates: number) =>
      evaluateChecks(
        [{ listenDate: '2024-01-05' }],
        new Map([['2024-01-05', measures(30)]]),
        loaded,
        settings({ anomaly: { trailingDates, minDates, ratio: 2 } }),
      ).results.find((c) => c.name === 'daily_plays_anomaly');
    // Last 2: median 11, 30 is over 22. Last 3: median 12, 30 is over 24. Last 4: median 11 again.
    expect(plays(2, 2)).toMatchObject({ passed: false, expected: '5.5..22' });
    expect(plays(3, 3)).toMatchObject({ passed: false, expected: '6..24' });
    expect(plays(5, 5)).toMatchObject({ passed: true, expected: null, detail: expect.stringContaining('fewer than ANOMALY_MIN_DATES (5)') });
  });

  it('a date kept out does not join the history the next dates are compared with', () => {
    const loaded = totals([
      ['2024-01-01', 10],
      ['2024-01-02', 10],
      ['2024-01-03', 10],
    ]);
    const severity = { ...DEFAULT_CHECK_SEVERITY, daily_plays_anomaly: 'error' as const };
    const dates = ['2024-01-04', '2024-01-05', '2024-01-06'].map((listenDate) => ({ listenDate }));
    const m = new Map([
      ['2024-01-04', measures(100)],
      ['2024-01-05', measures(100)],
      ['2024-01-06', measures(10)],
    ]);
    const { blocked } = evaluateChecks(dates, m, loaded, settings({ severity, blockOnError: true }));
    // Had 2024-01-04 joined, 2024-01-05 would compare with 10, 10, 10, 100 (median 10: still blocked), 2024-01-06 with more 100s.
    expect(blocked.map((b) => b.listenDate)).toEqual(['2024-01-04', '2024-01-05']);
  });
});
