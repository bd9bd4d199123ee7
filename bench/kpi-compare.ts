import pg from 'pg';
import type { GenreKpiRow, HourlyKpiRow } from '@musicflow/kpi';

export interface Tables {
  genre: GenreKpiRow[];
  hourly: HourlyKpiRow[];
}

/** Every KPI row of the warehouse in the KPI core's shape, ordered by key. */
export async function readWarehouseKpis(url: string): Promise<Tables> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const genre = await client.query(`SELECT to_char(listen_date, 'YYYY-MM-DD') AS d, * FROM analytics.genre_kpis ORDER BY listen_date, genre COLLATE "C"`);
    const hourly = await client.query(`SELECT to_char(listen_date, 'YYYY-MM-DD') AS d, * FROM analytics.hourly_kpis ORDER BY listen_date, listen_hour`);
    return {
      genre: genre.rows.map((r) => ({
        listenDate: r.d,
        genre: r.genre,
        listenCount: Number(r.listen_count),
        avgTrackDurationMs: Number(r.avg_track_duration_ms),
        avgPopularity: Number(r.avg_popularity),
        popularityIndex: Number(r.popularity_index),
        mostPopularTrackId: r.most_popular_track_id,
        mostPopularTrackName: r.most_popular_track_name,
        mostPopularTrackPlays: Number(r.most_popular_track_plays),
      })),
      hourly: hourly.rows.map((r) => ({
        listenDate: r.d,
        listenHour: Number(r.listen_hour),
        uniqueListeners: Number(r.unique_listeners),
        totalPlays: Number(r.total_plays),
        uniqueTracks: Number(r.unique_tracks),
        trackDiversityIndex: Number(r.track_diversity_index),
        topArtist: r.top_artist ?? null,
        topArtistPlays: r.top_artist_plays === null ? null : Number(r.top_artist_plays),
      })),
    };
  } finally {
    await client.end();
  }
}

const close = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));

/** Differences between two KPI tables (empty when equal): numbers within 1e-9 relative, the rest exactly. */
export function diffKpis(actual: Tables, expected: Tables, limit = 20): string[] {
  const out: string[] = [];
  const keyed = <T extends object>(rows: T[], key: (r: T) => string) => new Map(rows.map((r) => [key(r), r]));
  const check = <T extends object>(name: string, a: T[], e: T[], key: (r: T) => string) => {
    const am = keyed(a, key);
    const em = keyed(e, key);
    if (a.length !== e.length) out.push(`${name}: ${a.length} rows in the warehouse, ${e.length} from DuckDB`);
    for (const [k, er] of em) {
      const ar = am.get(k);
      if (!ar) {
        out.push(`${name} ${k}: missing in the warehouse`);
        continue;
      }
      for (const [field, ev] of Object.entries(er)) {
        const av = (ar as Record<string, unknown>)[field];
        const same = typeof ev === 'number' && typeof av === 'number' ? close(av, ev) : av === ev;
        if (!same) out.push(`${name} ${k}.${field}: warehouse ${JSON.stringify(av)}, DuckDB ${JSON.stringify(ev)}`);
      }
    }
    for (const k of am.keys()) if (!em.has(k)) out.push(`${name} ${k}: not produced by DuckDB`);
  };
  check('genre_kpis', actual.genre, expected.genre, (r) => `${r.listenDate}/${r.genre}`);
  check('hourly_kpis', actual.hourly, expected.hourly, (r) => `${r.listenDate}/${r.listenHour}`);
  return out.length > limit ? [...out.slice(0, limit), `... and ${out.length - limit} more`] : out;
}
