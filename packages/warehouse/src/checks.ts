/**
 * The data checks of a load (docs/data-team.md, "Data checks"). They run in
 * the load's transaction, after the stale rows left the stage and before the
 * MERGE, over each listen date as it will be once merged: its staged rows and
 * the rows of it the load does not replace. So every check can keep its date
 * out of the load (CHECKS_BLOCK_ON_ERROR), and its rows go into
 * analytics.etl_checks in the same transaction as the KPIs they judge.
 */
import type pg from 'pg';
import type { Config } from '@musicflow/config';
import { DATA_CHECK_NAMES, type BlockedDate, type CheckSeverity, type DataCheck, type DataCheckName, type RunReport } from '@musicflow/contracts';
import { CHECK_SQL, ETL_CHECK_COLUMNS, ETL_CHECK_TEXT_BYTES, RUN_CHECKS_SQL } from './sql.ts';
import { cutToBytes } from './text-contract.ts';
import { utcTimestamp } from './client-options.ts';

export interface CheckSettings {
  severity: Readonly<Record<DataCheckName, CheckSeverity>>;
  /** A failed error-level check keeps its date out of the load. */
  blockOnError: boolean;
  /** A date's plays (listeners) fail when more than `ratio` times above or below the median of the `trailingDates` loaded dates before it; fewer than `minDates` of them: not compared. */
  anomaly: { trailingDates: number; minDates: number; ratio: number };
}

export const checkSettings = (
  config: Pick<Config, 'CHECK_SEVERITY' | 'CHECKS_BLOCK_ON_ERROR' | 'ANOMALY_TRAILING_DATES' | 'ANOMALY_MIN_DATES' | 'ANOMALY_RATIO'>,
): CheckSettings => ({
  severity: config.CHECK_SEVERITY,
  blockOnError: config.CHECKS_BLOCK_ON_ERROR,
  anomaly: { trailingDates: config.ANOMALY_TRAILING_DATES, minDates: config.ANOMALY_MIN_DATES, ratio: config.ANOMALY_RATIO },
});

export interface LoadedDate {
  listenDate: string;
  /** Distinct events of the date in the lake, as the KPI date job counted them; undefined skips the plays check. */
  events?: number;
}

/** One listen date as it will be after the merge. */
export interface DateMeasures {
  hours: number;
  plays: number;
  /** The busiest hour's unique listeners, as the dashboard's trends give a day's listeners (hourly rows cannot give its distinct listeners). */
  listeners: number;
  /** Hourly and genre rows with a negative or null measure. */
  badMeasures: number;
  badDiversity: number;
  /** The warehouse holds a newer snapshot of the date (a later run): it is not held to this load's event count. */
  replaced: boolean;
}

export interface DailyTotals {
  plays: number;
  listeners: number;
}

/** One check of one date: a row of analytics.etl_checks. */
export interface CheckResult {
  listenDate: string;
  name: DataCheckName;
  severity: CheckSeverity;
  passed: boolean;
  value: number | null;
  expected: string | null;
  detail?: string;
}

export interface CheckOutcome {
  results: CheckResult[];
  blocked: BlockedDate[];
}

const NO_ROWS: DateMeasures = { hours: 0, plays: 0, listeners: 0, badMeasures: 0, badDiversity: 0, replaced: false };
const shown = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(1));

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * The checks of each date, oldest first, and the dates they keep out. Pure.
 * `history` holds the plays and listeners of loaded dates; each date
 * that is not kept out joins it (as it will be loaded) before the next date
 * is compared, so the dates of one load are compared with each other too.
 */
export function evaluateChecks(
  dates: readonly LoadedDate[],
  measures: ReadonlyMap<string, DateMeasures>,
  loaded: ReadonlyMap<string, DailyTotals>,
  settings: CheckSettings,
): CheckOutcome {
  const history = new Map(loaded);
  const results: CheckResult[] = [];
  const blocked: BlockedDate[] = [];
  const { trailingDates, minDates, ratio } = settings.anomaly;
  for (const { listenDate: date, events } of [...dates].sort((a, b) => a.listenDate.localeCompare(b.listenDate))) {
    const m = measures.get(date) ?? NO_ROWS;
    const ofDate: CheckResult[] = [];
    const check = (name: DataCheckName, passed: boolean, value: number | null, expected: string | null, detail: string) =>
      ofDate.push({ listenDate: date, name, severity: settings.severity[name], passed, value, expected, detail });
    check('hourly_rows_present', m.hours > 0, m.hours, '>= 1', `${date}: ${m.hours ? `${m.hours} hourly rows` : 'no hourly rows'}`);
    if (events !== undefined && !m.replaced) {
      check(
        'hourly_plays_match_lake',
        m.plays === events,
        m.plays,
        String(events),
        `${date}: hourly plays add up to ${m.plays}, the lake has ${events} distinct events`,
      );
    }
    check('measures_not_negative_or_null', m.badMeasures === 0, m.badMeasures, '0', `${date}: ${m.badMeasures} row(s) with a negative or null measure`);
    check(
      'track_diversity_in_range',
      m.badDiversity === 0,
      m.badDiversity,
      '0',
      `${date}: ${m.badDiversity} hour(s) with track_diversity_index outside (0, 1]`,
    );
    const trailing = [...history.keys()]
      .filter((d) => d < date)
      .sort()
      .slice(-trailingDates);
    for (const [name, measure, unit] of [
      ['daily_plays_anomaly', 'plays', 'plays'],
      ['daily_listeners_anomaly', 'listeners', 'listeners in its busiest hour'],
    ] as const) {
      const value = m[measure];
      if (trailing.length < minDates) {
        check(name, true, value, null, `${date}: ${trailing.length} loaded date(s) before it, fewer than ANOMALY_MIN_DATES (${minDates}): not compared`);
        continue;
      }
      const mid = median(trailing.map((d) => history.get(d)![measure]));
      const [low, high] = [mid / ratio, mid * ratio];
      const times = mid > 0 ? `${(value / mid).toFixed(2)}x` : 'any multiple of';
      check(
        name,
        value >= low && value <= high,
        value,
        `${shown(low)}..${shown(high)}`,
        `${date}: ${value} ${unit}, ${times} the median ${shown(mid)} of the ${trailing.length} loaded dates before it (ANOMALY_RATIO ${ratio})`,
      );
    }
    const stopping = ofDate.filter((c) => !c.passed && c.severity === 'error');
    if (settings.blockOnError && stopping.length) blocked.push({ listenDate: date, checks: stopping.map((c) => c.name) });
    else history.set(date, { plays: m.plays, listeners: m.listeners });
    results.push(...ofDate);
  }
  return { results, blocked };
}

/** The report's view of the checks: one entry per check over all dates, a failed one's detail naming each date it failed on. */
export function summarizeChecks(results: readonly CheckResult[], severity: CheckSettings['severity']): DataCheck[] {
  return DATA_CHECK_NAMES.map((name) => {
    const failed = results.filter((r) => r.name === name && !r.passed);
    return failed.length
      ? { name, passed: false, severity: severity[name], detail: failed.map((r) => r.detail).join('; ') }
      : { name, passed: true, severity: severity[name] };
  });
}

/**
 * The report once its checks ran: a failed error-level check makes a
 * succeeded run partial and is named in its error, as is each date kept out;
 * warn-level failures are in `checks` only.
 */
export function reportWithChecks(report: RunReport, outcome: CheckOutcome, settings: CheckSettings): RunReport {
  const checks = summarizeChecks(outcome.results, settings.severity);
  const errors = checks.filter((c) => !c.passed && c.severity === 'error');
  const problems = [
    report.error,
    errors.length ? `data check(s) failed: ${errors.map((c) => `${c.name} (${c.detail})`).join('; ')}` : undefined,
    outcome.blocked.length
      ? `listen date(s) not loaded, an error-level check failed (CHECKS_BLOCK_ON_ERROR): ${outcome.blocked.map((b) => `${b.listenDate} (${b.checks.join(', ')})`).join('; ')}`
      : undefined,
  ].filter(Boolean);
  return {
    ...report,
    status: errors.length && report.status === 'succeeded' ? 'partial' : report.status,
    error: problems.length ? problems.join('; ') : undefined,
    checks,
    ...(outcome.blocked.length ? { blockedDates: outcome.blocked } : {}),
  };
}

type Row = Record<string, string | number | null>;
const num = (v: unknown) => Number(v ?? 0);

/**
 * Measures the load's dates as they will be after the merge, judges them and
 * deletes the dates a failed error-level check keeps out from both stages.
 * Runs in the load's transaction, once the stale rows left the stages.
 */
export async function checkStagedDates(
  client: pg.PoolClient,
  dates: readonly LoadedDate[],
  snapshotSeq: number,
  settings: CheckSettings,
): Promise<CheckOutcome> {
  if (!dates.length) return { results: [], blocked: [] };
  const sorted = dates.map((d) => d.listenDate).sort();
  const range = [sorted[0]!, sorted.at(-1)!];
  const query = async (sql: string, values: unknown[]) => (await client.query<Row>(sql, values)).rows;
  const measures = new Map<string, DateMeasures>();
  for (const r of await query(CHECK_SQL.hourly, range)) {
    measures.set(String(r.listen_date), {
      ...NO_ROWS,
      hours: num(r.hours),
      plays: num(r.plays),
      listeners: num(r.listeners),
      badMeasures: num(r.bad_measures),
      badDiversity: num(r.bad_diversity),
    });
  }
  for (const r of await query(CHECK_SQL.genre, range)) {
    const date = String(r.listen_date);
    const m = measures.get(date) ?? { ...NO_ROWS };
    measures.set(date, { ...m, badMeasures: m.badMeasures + num(r.bad_measures) });
  }
  for (const r of await query(CHECK_SQL.newestSnapshot, range)) {
    const m = measures.get(String(r.listen_date));
    if (m && num(r.snapshot_seq) > snapshotSeq) m.replaced = true;
  }
  const loaded = new Map<string, DailyTotals>();
  for (const r of [...(await query(CHECK_SQL.historyBefore, [range[0], settings.anomaly.trailingDates])), ...(await query(CHECK_SQL.historyBetween, range))]) {
    loaded.set(String(r.listen_date), { plays: num(r.plays), listeners: num(r.listeners) });
  }
  const outcome = evaluateChecks(dates, measures, loaded, settings);
  for (const { listenDate } of outcome.blocked) {
    for (const table of ['genre', 'hourly'] as const) await client.query(CHECK_SQL.block(table), [listenDate]);
  }
  return outcome;
}

/** Ten values a row: well under PostgreSQL's 65535 parameters and Redshift's 16 MB statements. */
const CHECK_BATCH_ROWS = 1000;

/** The load's check rows, replacing any an earlier attempt of the run wrote. */
export async function writeChecks(client: pg.PoolClient, runId: string, outcome: CheckOutcome, checkedAt: Date): Promise<void> {
  await client.query(RUN_CHECKS_SQL.delete, [runId]);
  const blocking = new Map(outcome.blocked.map((b) => [b.listenDate, new Set(b.checks)]));
  const isBlocking = (r: CheckResult) => blocking.get(r.listenDate)?.has(r.name) ?? false;
  for (let from = 0; from < outcome.results.length; from += CHECK_BATCH_ROWS) {
    const batch = outcome.results.slice(from, from + CHECK_BATCH_ROWS);
    const values = batch.flatMap((r) => {
      const row: Record<(typeof ETL_CHECK_COLUMNS)[number], unknown> = {
        run_id: runId,
        listen_date: r.listenDate,
        check_name: r.name,
        severity: r.severity,
        passed: r.passed,
        blocked: isBlocking(r),
        value: r.value,
        expected: r.expected === null ? null : cutToBytes(r.expected, ETL_CHECK_TEXT_BYTES.expected),
        detail: r.detail === undefined ? null : cutToBytes(r.detail, ETL_CHECK_TEXT_BYTES.detail),
        checked_at: utcTimestamp(checkedAt),
      };
      return ETL_CHECK_COLUMNS.map((c) => row[c]);
    });
    await client.query(RUN_CHECKS_SQL.insert(batch.length), values);
  }
}
