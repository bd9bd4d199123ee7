import {
  childResults,
  type KpiDateResult,
  type KpiJob,
  type KpiResult,
  type PlanResult,
  type RunContext,
  type RunFilesTally,
  type RunReport,
  type TransformResult,
} from '@musicflow/contracts';
import { fitText } from '@musicflow/warehouse/text-contract';

/** A file's name in the report, at most (cut with a digest, as etl_run_files keeps it). */
const REPORT_FILE_NAME_BYTES = 1024;

const span = (items: { startedAt: number; finishedAt: number }[]) =>
  items.length ? Math.max(...items.map((i) => i.finishedAt)) - Math.min(...items.map((i) => i.startedAt)) : 0;

/**
 * The run report as far as the KPI job knows it; the loader adds status,
 * load time and KPI rows merged. Long lists are summarized: counts, and the
 * first rejected files (every file's outcome goes to analytics.etl_run_files).
 */
export function buildReport(
  run: RunContext,
  plan: PlanResult,
  tally: RunFilesTally,
  counts: { duplicate: number; dates: string[]; kpiStartedAt: number },
  transforms: TransformResult[] = [],
): RunReport {
  return {
    runId: run.runId,
    trigger: run.trigger,
    status: 'running',
    startedAt: run.startedAt,
    sources: run.sources,
    files: {
      total: plan.filesTotal,
      loaded: tally.filesLoaded,
      rejected: tally.filesRejected,
      // A rejected name may be as long as a path can be (name_too_long): the report keeps a bounded one.
      firstRejected: tally.firstRejected.map((f) => ({ ...f, file: fitText(f.file, REPORT_FILE_NAME_BYTES, 'key').text })),
    },
    rows: {
      read: tally.rowsRead,
      valid: tally.rowsValid,
      rejected: Object.values(tally.rejectedByReason).reduce((a, b) => a + b, 0),
      rejectedByReason: tally.rejectedByReason,
      duplicate: counts.duplicate,
      orphanTracks: tally.orphanTracks,
      orphanUsers: tally.orphanUsers,
    },
    catalogue: plan.catalogue,
    dates: counts.dates,
    kpiRows: { genre: 0, hourly: 0 },
    stageMs: {
      extract: plan.finishedAt - plan.startedAt,
      validate: span(transforms.map((t) => t.validation)),
      transform: span(transforms),
      kpi: Date.now() - counts.kpiStartedAt,
    },
  };
}

/**
 * Listen dates, those with most of the run's events first (ties by date), so
 * the longest date job does not start last while other workers wait for it.
 */
export function biggestDatesFirst(parts: { listenDate: string; rows: number }[]): string[] {
  const events = new Map<string, number>();
  for (const p of parts) events.set(p.listenDate, (events.get(p.listenDate) ?? 0) + p.rows);
  return [...events].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).map(([date]) => date);
}

type DatesStep = NonNullable<KpiJob['dates']>;

/** The date jobs' results, by date; every date the step added must have one. */
export function dateResults(values: Record<string, unknown>, dates: DatesStep): KpiDateResult[] {
  const results = childResults(values, 'kpi-date').sort((a, b) => a.listenDate.localeCompare(b.listenDate));
  const missing = dates.listenDates.filter((d) => !results.some((r) => r.listenDate === d));
  if (missing.length) throw new Error(`KPIs of ${missing.join(', ')} are missing although every date job is done`);
  return results;
}

/** What a run's KPI job hands the loader: the report, the file list and every date's KPI rows. */
export function kpiResultOf(dates: DatesStep, report: RunReport, filesUrl: string, results: KpiDateResult[]): KpiResult {
  return {
    kind: 'kpi',
    startedAt: dates.startedAt,
    finishedAt: Date.now(),
    report,
    filesUrl,
    duplicateFiles: results.flatMap((r) => r.duplicateFiles),
    genreUrls: results.map((r) => r.genreUrl),
    hourlyUrls: results.map((r) => r.hourlyUrl),
    snapshotSeq: dates.snapshotSeq,
    dateEvents: Object.fromEntries(results.map((r) => [r.listenDate, r.events ?? 0])),
  };
}
