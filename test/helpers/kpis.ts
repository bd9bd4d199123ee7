import pg from 'pg';
import { expect } from 'vitest';
import type { GenreKpiRow, HourlyKpiRow, KpiTables } from '@musicflow/kpi';

/** Every KPI row in the warehouse, in the KPI core's shape, ordered by key. */
export async function readWarehouseKpis(warehouseUrl: string): Promise<KpiTables> {
  const client = new pg.Client({ connectionString: warehouseUrl });
  await client.connect();
  try {
    const genre = await client.query(`SELECT to_char(listen_date, 'YYYY-MM-DD') AS d, * FROM analytics.genre_kpis ORDER BY listen_date, genre`);
    const hourly = await client.query(`SELECT to_char(listen_date, 'YYYY-MM-DD') AS d, * FROM analytics.hourly_kpis ORDER BY listen_date, listen_hour`);
    return {
      genre: genre.rows.map((r): GenreKpiRow => ({
        listenDate: r.d,
        genre: r.genre,
        listenCount: Number(r.listen_count),
        avgTrackDurationMs: r.avg_track_duration_ms,
        avgPopularity: r.avg_popularity,
        popularityIndex: r.popularity_index,
        mostPopularTrackId: r.most_popular_track_id,
        mostPopularTrackName: r.most_popular_track_name,
        mostPopularTrackPlays: Number(r.most_popular_track_plays),
      })),
      hourly: hourly.rows.map((r): HourlyKpiRow => ({
        listenDate: r.d,
        listenHour: Number(r.listen_hour),
        uniqueListeners: Number(r.unique_listeners),
        totalPlays: Number(r.total_plays),
        uniqueTracks: Number(r.unique_tracks),
        trackDiversityIndex: r.track_diversity_index,
        topArtist: r.top_artist,
        topArtistPlays: r.top_artist_plays === null ? null : Number(r.top_artist_plays),
      })),
    };
  } finally {
    await client.end();
  }
}

const sortGenre = (rows: GenreKpiRow[]) => [...rows].sort((a, b) => (a.listenDate + a.genre < b.listenDate + b.genre ? -1 : 1));
const sortHourly = (rows: HourlyKpiRow[]) => [...rows].sort((a, b) => a.listenDate.localeCompare(b.listenDate) || a.listenHour - b.listenHour);

/** Doubles may differ in the last bits between implementations; everything else must be equal. */
function close(actual: number, expected: number): boolean {
  return Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected));
}

export function expectSameKpis(actual: KpiTables, expected: KpiTables): void {
  const a = { genre: sortGenre(actual.genre), hourly: sortHourly(actual.hourly) };
  const e = { genre: sortGenre(expected.genre), hourly: sortHourly(expected.hourly) };
  expect(a.genre.map((r) => `${r.listenDate}/${r.genre}`)).toEqual(e.genre.map((r) => `${r.listenDate}/${r.genre}`));
  expect(a.hourly.map((r) => `${r.listenDate}/${r.listenHour}`)).toEqual(e.hourly.map((r) => `${r.listenDate}/${r.listenHour}`));
  const compare = (x: Record<string, unknown>, y: Record<string, unknown>) => {
    for (const key of Object.keys(y)) {
      const xv = x[key];
      const yv = y[key];
      if (typeof yv === 'number' && typeof xv === 'number' && close(xv, yv)) continue;
      expect({ row: `${y.listenDate}/${y.genre ?? y.listenHour}`, [key]: xv }).toEqual({ row: `${y.listenDate}/${y.genre ?? y.listenHour}`, [key]: yv });
    }
  };
  a.genre.forEach((row, i) => compare(row as never, e.genre[i] as never));
  a.hourly.forEach((row, i) => compare(row as never, e.hourly[i] as never));
}
