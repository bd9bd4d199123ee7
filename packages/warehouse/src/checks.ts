import type { DataCheck } from '@musicflow/contracts';
import { CHECK_SQL } from './sql.ts';
import type { Warehouse } from './warehouse.ts';

export const DATA_CHECKS = ['hourly_rows_present', 'hourly_plays_match_lake', 'measures_not_negative_or_null', 'track_diversity_in_range'] as const;
export type DataCheckName = (typeof DATA_CHECKS)[number];

export interface LoadedDate {
  listenDate: string;
  /** Distinct events of the date in the lake, as the KPI date job counted them; undefined skips the plays check. */
  events?: number;
}

/**
 * The data checks after a load, over the dates it loaded: every date has
 * hourly rows; its hourly plays add up to its distinct events in the lake;
 * no negative or null measures; track_diversity_index within (0, 1]. A date
 * whose rows a newer snapshot (a later run) has replaced since is not held to
 * this load's event count.
 */
export async function runDataChecks(warehouse: Warehouse, dates: LoadedDate[], snapshotSeq: number): Promise<DataCheck[]> {
  const problems: Record<DataCheckName, string[]> = {
    hourly_rows_present: [],
    hourly_plays_match_lake: [],
    measures_not_negative_or_null: [],
    track_diversity_in_range: [],
  };
  const count = async (sql: string, date: string) => Number((await warehouse.query<{ n: number }>(sql, [date]))[0]?.n ?? 0);
  for (const { listenDate, events } of dates) {
    const [totals] = await warehouse.query<{ hours: number; plays: number; snapshot_seq: number | null }>(CHECK_SQL.hourlyTotals, [listenDate]);
    const hours = Number(totals?.hours ?? 0);
    const plays = Number(totals?.plays ?? 0);
    if (hours === 0) problems.hourly_rows_present.push(`${listenDate}: no hourly rows`);
    const replaced = totals?.snapshot_seq != null && Number(totals.snapshot_seq) > snapshotSeq;
    if (events !== undefined && !replaced && plays !== events) {
      problems.hourly_plays_match_lake.push(`${listenDate}: hourly plays add up to ${plays}, the lake has ${events} distinct events`);
    }
    const badMeasures = (await count(CHECK_SQL.badHourlyMeasures, listenDate)) + (await count(CHECK_SQL.badGenreMeasures, listenDate));
    if (badMeasures) problems.measures_not_negative_or_null.push(`${listenDate}: ${badMeasures} row(s) with a negative or null measure`);
    const badDiversity = await count(CHECK_SQL.diversityOutOfRange, listenDate);
    if (badDiversity) problems.track_diversity_in_range.push(`${listenDate}: ${badDiversity} hour(s) with track_diversity_index outside (0, 1]`);
  }
  return DATA_CHECKS.map((name) => (problems[name].length ? { name, passed: false, detail: problems[name].join('; ') } : { name, passed: true }));
}
