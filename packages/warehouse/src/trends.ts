import { TRENDS_SQL } from './sql.ts';
import type { Warehouse } from './warehouse.ts';

/** The longest range the trends read: a year of dates, a few thousand rows at most. */
export const MAX_TREND_DAYS = 366;
/** Genres drawn one by one; the others are summed as the rest. */
export const TREND_GENRES = 8;
/** Runs listed; a range with more says how many it left out. */
export const TREND_RUNS = 500;

const DAY_MS = 86_400_000;

export interface TrendDay {
  listenDate: string;
  plays: number;
  /** Distinct listeners of the date's busiest hour (the warehouse keeps listeners per hour). */
  peakListeners: number;
  /** Hours with plays: fewer than 24 marks a partial day. */
  hours: number;
  /** Plays of the genres outside `genres`. */
  otherGenrePlays: number;
  /** The date's most played genre (the first by name on a tie); null without genre rows. */
  topGenre: string | null;
}

export interface TrendRun {
  runId: string;
  trigger: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  rowsRead: number | null;
  kpiRows: number | null;
}

export interface Trends {
  from: string;
  to: string;
  days: TrendDay[];
  /** The range's most played genres, most played first, each with its plays per date (0 when it has no row that date). */
  genres: { genre: string; plays: number[] }[];
  /** Runs started in the range (UTC), newest first, at most TREND_RUNS of `runsInRange`. */
  runs: TrendRun[];
  runsInRange: number;
}

/** `YYYY-MM-DD` plus `days`. */
export const addDays = (date: string, days: number): string => new Date(Date.parse(`${date}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);

/** Dates from `from` to `to` inclusive. */
const datesOf = (from: string, to: string) => Array.from({ length: Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS) + 1 }, (_, i) => addDays(from, i));

/**
 * Daily plays and listeners, the most played genres per date, and the runs of
 * a range of listen dates (`from` <= `to`, at most MAX_TREND_DAYS): what the
 * dashboard's trends view draws. Dates without KPI rows are in `days` with zeros,
 * so a gap shows as one.
 */
export async function readTrends(warehouse: Warehouse, from: string, to: string): Promise<Trends> {
  const span = Math.round((Date.parse(to) - Date.parse(from)) / DAY_MS) + 1;
  if (!(span >= 1 && span <= MAX_TREND_DAYS)) throw new RangeError(`trends: ${from} to ${to} is not a range of 1 to ${MAX_TREND_DAYS} days`);
  const runWindow = [`${from}T00:00:00Z`, `${addDays(to, 1)}T00:00:00Z`];
  const [daily, totals, top, dayTop, runs, [count]] = await Promise.all([
    warehouse.query<{ listen_date: string; plays: number | string; peak_listeners: number | string; hours: number | string }>(TRENDS_SQL.daily, [from, to]),
    warehouse.query<{ listen_date: string; plays: number | string }>(TRENDS_SQL.genreTotals, [from, to]),
    warehouse.query<{ listen_date: string; genre: string; listen_count: number }>(TRENDS_SQL.topGenres, [from, to, TREND_GENRES]),
    warehouse.query<{ listen_date: string; genre: string }>(TRENDS_SQL.dayTopGenres, [from, to]),
    warehouse.query<{
      run_id: string;
      trigger: string;
      status: string;
      started_at: Date;
      finished_at: Date | null;
      rows_read: number | null;
      kpi_rows: number | null;
    }>(TRENDS_SQL.runs, [...runWindow, TREND_RUNS]),
    warehouse.query<{ n: number | string }>(TRENDS_SQL.runCount, runWindow),
  ]);
  const dates = datesOf(from, to);
  const index = new Map(dates.map((d, i) => [d, i]));
  const genres = new Map<string, number[]>();
  for (const row of top) {
    const plays =
      genres.get(row.genre) ??
      genres
        .set(
          row.genre,
          dates.map(() => 0),
        )
        .get(row.genre)!;
    plays[index.get(row.listen_date)!] = Number(row.listen_count);
  }
  const byDate = new Map(daily.map((d) => [d.listen_date, d]));
  const topGenreOf = new Map<string, string>();
  for (const row of dayTop) if (!topGenreOf.has(row.listen_date)) topGenreOf.set(row.listen_date, row.genre);
  const genrePlays = new Map(totals.map((t) => [t.listen_date, Number(t.plays)]));
  const topPlays = (i: number) => [...genres.values()].reduce((sum, plays) => sum + plays[i]!, 0);
  return {
    from,
    to,
    days: dates.map((listenDate, i) => {
      const d = byDate.get(listenDate);
      return {
        listenDate,
        plays: Number(d?.plays ?? 0),
        peakListeners: Number(d?.peak_listeners ?? 0),
        hours: Number(d?.hours ?? 0),
        otherGenrePlays: (genrePlays.get(listenDate) ?? 0) - topPlays(i),
        topGenre: topGenreOf.get(listenDate) ?? null,
      };
    }),
    genres: [...genres].map(([genre, plays]) => ({ genre, plays })),
    runs: runs.map((r) => ({
      runId: r.run_id,
      trigger: r.trigger,
      status: r.status,
      startedAt: r.started_at.toISOString(),
      finishedAt: r.finished_at?.toISOString() ?? null,
      durationMs: r.finished_at ? r.finished_at.getTime() - r.started_at.getTime() : null,
      rowsRead: r.rows_read,
      kpiRows: r.kpi_rows,
    })),
    runsInRange: Number(count?.n ?? 0),
  };
}
