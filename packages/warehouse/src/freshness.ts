import { FRESHNESS_SQL } from './sql.ts';
import type { Warehouse } from './warehouse.ts';

export interface Freshness {
  /** The newest listen_date with KPI rows, `YYYY-MM-DD`. */
  newestListenDate: string | null;
  /** Seconds since the end of that date (UTC): how long its day has been over. */
  newestListenDateAgeSeconds: number | null;
  /** End of the last run that loaded anything (succeeded or partial). */
  lastSuccessfulRunAt: string | null;
  lastSuccessfulRunAgeSeconds: number | null;
}

const DAY_MS = 86_400_000;

/** How fresh the warehouse is, as of `now`. */
export async function readFreshness(warehouse: Warehouse, now = new Date()): Promise<Freshness> {
  const [[newest], last] = await Promise.all([
    warehouse.query<{ listen_date: string | null }>(FRESHNESS_SQL.newestListenDate),
    warehouse.lastSuccessfulRunAt(),
  ]);
  const date = newest?.listen_date ?? null;
  const age = (ms: number) => Math.max(0, Math.round((now.getTime() - ms) / 1000));
  return {
    newestListenDate: date,
    newestListenDateAgeSeconds: date ? age(Date.parse(`${date}T00:00:00Z`) + DAY_MS) : null,
    lastSuccessfulRunAt: last ? last.toISOString() : null,
    lastSuccessfulRunAgeSeconds: last ? age(last.getTime()) : null,
  };
}

/** The listen dates from `from` to `to` with KPI rows, and when each was last loaded. */
export async function loadedDatesIn(warehouse: Warehouse, from: string, to: string): Promise<Map<string, Date>> {
  const rows = await warehouse.query<{ listen_date: string; loaded_at: Date }>(FRESHNESS_SQL.loadedDates, [from, to]);
  return new Map(rows.map((r) => [r.listen_date, r.loaded_at]));
}

/** The newest `limit` listen dates with KPI rows, newest first. */
export async function listListenDates(warehouse: Warehouse, limit = 366): Promise<string[]> {
  return (await warehouse.query<{ listen_date: string }>(FRESHNESS_SQL.listenDates, [limit])).map((r) => r.listen_date);
}
