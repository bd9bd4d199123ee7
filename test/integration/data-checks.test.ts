/**
 * The loader's data checks against a real warehouse: rows a load wrote pass;
 * a row with a negative measure, a diversity index out of (0, 1], hourly plays
 * that do not add up to the lake's events, or a date without hourly rows each
 * fail the check of that name.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '@musicflow/contracts';
import type { HourlyKpiRow } from '@musicflow/kpi';
import { kpiRowsToCsv, runDataChecks, Warehouse } from '@musicflow/warehouse';
import { createTestDatabase, dropTestDatabase } from '../helpers/env.ts';

const hour = (listenDate: string, listenHour: number, totalPlays: number): HourlyKpiRow => ({
  listenDate,
  listenHour,
  uniqueListeners: 2,
  totalPlays,
  uniqueTracks: 2,
  trackDiversityIndex: 2 / totalPlays,
  topArtist: null,
  topArtistPlays: null,
});

const report = (runId: string): RunReport => ({
  runId,
  trigger: 'test',
  status: 'succeeded',
  startedAt: '2024-06-26T02:00:00.000Z',
  finishedAt: '2024-06-26T02:01:00.000Z',
  sources: { streams: 's', users: 'u', songs: 's' },
  files: { total: 1, loaded: 0, rejected: 0, firstRejected: [] },
  rows: { read: 0, valid: 0, rejected: 0, rejectedByReason: {}, duplicate: 0, orphanTracks: 0, orphanUsers: 0 },
  catalogue: { users: 0, songs: 0, rejected: 0 },
  dates: [],
  kpiRows: { genre: 0, hourly: 0 },
  stageMs: {},
});

describe('data checks over loaded KPIs', () => {
  let url: string;
  let warehouse: Warehouse;
  const failed = async (dates: { listenDate: string; events?: number }[], seq = 1) =>
    Object.fromEntries((await runDataChecks(warehouse, dates, seq)).filter((c) => !c.passed).map((c) => [c.name, c.detail]));

  beforeAll(async () => {
    url = await createTestDatabase();
    warehouse = await Warehouse.connect(url);
    const csv = kpiRowsToCsv({ genre: [], hourly: [hour('2024-06-25', 0, 4), hour('2024-06-25', 1, 6), hour('2024-06-26', 5, 3)] });
    await warehouse.loadRun({ runId: 'r1', snapshotSeq: 1, updatedAt: new Date(), hourly: () => Readable.from([csv.hourly]) }, report('r1'));
  });

  afterAll(async () => {
    await warehouse?.close();
    if (url) await dropTestDatabase(url);
  });

  it('rows as a load wrote them pass every check', async () => {
    const checks = await runDataChecks(
      warehouse,
      [
        { listenDate: '2024-06-25', events: 10 },
        { listenDate: '2024-06-26', events: 3 },
      ],
      1,
    );
    expect(checks.map((c) => [c.name, c.passed])).toEqual([
      ['hourly_rows_present', true],
      ['hourly_plays_match_lake', true],
      ['measures_not_negative_or_null', true],
      ['track_diversity_in_range', true],
    ]);
  });

  it("plays that do not add up to the lake's events, and a date without hourly rows, fail by name", async () => {
    expect(
      await failed([
        { listenDate: '2024-06-25', events: 11 },
        { listenDate: '2024-06-27', events: 0 },
      ]),
    ).toEqual({
      hourly_rows_present: '2024-06-27: no hourly rows',
      hourly_plays_match_lake: '2024-06-25: hourly plays add up to 10, the lake has 11 distinct events',
    });
    // Rows a newer snapshot wrote since are not held to this load's count.
    expect(await failed([{ listenDate: '2024-06-25', events: 11 }], 0)).toEqual({});
  });

  it('a negative measure and a diversity index outside (0, 1] fail by name', async () => {
    await warehouse.query(`UPDATE analytics.hourly_kpis SET unique_listeners = -1 WHERE listen_date = '2024-06-25' AND listen_hour = 0`);
    await warehouse.query(`UPDATE analytics.hourly_kpis SET track_diversity_index = 1.5 WHERE listen_date = '2024-06-26'`);
    expect(
      await failed([
        { listenDate: '2024-06-25', events: 10 },
        { listenDate: '2024-06-26', events: 3 },
      ]),
    ).toEqual({
      measures_not_negative_or_null: '2024-06-25: 1 row(s) with a negative or null measure',
      track_diversity_in_range: '2024-06-26: 1 hour(s) with track_diversity_index outside (0, 1]',
    });
  });
});
