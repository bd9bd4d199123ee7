import { formatTable, wrap, type Column } from './format.ts';

/** Genres printed: the most played; the rest are a line pointing to where all of them are. */
export const TOP_GENRES = 15;

/** analytics.genre_kpis for the terminal: what goes first when the width is short is the track id, then the mean popularity. */
const GENRE_COLUMNS: Column[] = [
  { key: 'genre', shrinkTo: 10 },
  { key: 'listen_count', label: 'plays', kind: 'number' },
  { key: 'avg_track_duration_ms', label: 'avg duration', kind: 'duration' },
  { key: 'avg_popularity', label: 'avg popularity', kind: 'number', digits: 2, dropOrder: 1 },
  { key: 'popularity_index', label: 'pop. index', kind: 'number', digits: 2 },
  { key: 'most_popular_track_name', label: 'top track', shrinkTo: 12 },
  { key: 'most_popular_track_id', label: 'track id', dropOrder: 2 },
  { key: 'most_popular_track_plays', label: 'its plays', kind: 'number' },
];

const HOURLY_COLUMNS: Column[] = [
  { key: 'listen_hour', label: 'hour', kind: 'number' },
  { key: 'unique_listeners', label: 'listeners', kind: 'number' },
  { key: 'total_plays', label: 'plays', kind: 'number' },
  { key: 'unique_tracks', label: 'tracks', kind: 'number' },
  { key: 'track_diversity_index', label: 'diversity', kind: 'number', digits: 3 },
  { key: 'top_artist', label: 'top artist', shrinkTo: 12 },
  { key: 'top_artist_plays', label: 'its plays', kind: 'number' },
];

/** Where a reader finds every genre of a date: the warehouse table, and the dashboard at `dashboardUrl` (the API serves it). */
export interface GenrePointer {
  dashboardUrl: string;
}

/**
 * One listen date's genre KPIs within `width` columns: the TOP_GENRES most
 * played (plays, then name), then a line saying how many more there are and
 * where to see them all.
 */
export function formatGenreKpis(date: string, rows: Record<string, unknown>[], width: number, pointer: GenrePointer): string {
  const sorted = [...rows].sort((a, b) => Number(b.listen_count) - Number(a.listen_count) || String(a.genre).localeCompare(String(b.genre)));
  const top = sorted.slice(0, TOP_GENRES);
  const title = wrap(
    `analytics.genre_kpis, listen_date ${date} (${rows.length} rows)${rows.length > top.length ? `: the ${top.length} most played` : ''}`,
    width,
  );
  const lines = [title, '', formatTable(top, GENRE_COLUMNS, width)];
  if (rows.length > top.length) {
    lines.push(
      '',
      wrap(
        `… and ${rows.length - top.length} more genres: analytics.genre_kpis has all ${rows.length}; ` +
          `\`musicflow start api\` shows them at ${pointer.dashboardUrl}?date=${date}`,
        width,
      ),
    );
  }
  return lines.join('\n');
}

/** One listen date's hourly KPIs (24 rows at most) within `width` columns. */
export function formatHourlyKpis(date: string, rows: Record<string, unknown>[], width: number): string {
  return [wrap(`analytics.hourly_kpis, listen_date ${date}`, width), '', formatTable(rows, HOURLY_COLUMNS, width)].join('\n');
}
