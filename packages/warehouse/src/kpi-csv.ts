import { stringify } from 'csv-stringify/sync';
import { parse } from 'csv-parse';
import type { Readable } from 'node:stream';
import type { GenreKpiRow, HourlyKpiRow, KpiTables } from '@musicflow/kpi';

const genreValues = (r: GenreKpiRow) => [
  r.listenDate,
  r.genre,
  r.listenCount,
  r.avgTrackDurationMs,
  r.avgPopularity,
  r.popularityIndex,
  r.mostPopularTrackId,
  r.mostPopularTrackName,
  r.mostPopularTrackPlays,
];
const hourlyValues = (r: HourlyKpiRow) => [
  r.listenDate,
  r.listenHour,
  r.uniqueListeners,
  r.totalPlays,
  r.uniqueTracks,
  r.trackDiversityIndex,
  r.topArtist,
  r.topArtistPlays,
];

/**
 * KPI rows as CSV in warehouse column order, the hand-over from the KPI stage
 * to the loader. An empty unquoted field is NULL for COPY; doubles keep full precision.
 */
export function kpiRowsToCsv(tables: KpiTables): { genre: string; hourly: string } {
  const opts = { cast: { number: (n: number) => String(n) } };
  return {
    genre: stringify(tables.genre.map(genreValues), opts),
    hourly: stringify(tables.hourly.map(hourlyValues), opts),
  };
}

/** Records of a KPI CSV for the multi-row INSERT strategy; empty fields become NULL. */
export async function* kpiCsvRecords(bytes: Readable): AsyncGenerator<(string | null)[]> {
  for await (const record of bytes.pipe(parse({ relax_column_count: false })) as AsyncIterable<string[]>) {
    yield record.map((v) => (v === '' ? null : v));
  }
}
