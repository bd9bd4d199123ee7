import {
  childResults,
  REPORT_REJECTED_FILES,
  type KpiDateResult,
  type KpiJob,
  type KpiResult,
  type PlanResult,
  type RejectedFile,
  type RunContext,
  type RunFile,
  type RunReport,
  type TransformResult,
} from '@musicflow/contracts';
import type { FileOutcome } from '@musicflow/ingest';
import { fitText } from '@musicflow/warehouse/text-contract';

/** A file's name in the report, at most (cut with a digest, as etl_run_files keeps it). */
const REPORT_FILE_NAME_BYTES = 1024;

const rowsOf = (file: FileOutcome) => ({
  read: file.segments.reduce((n, s) => n + s.validation.rowsRead, 0),
  valid: file.segments.reduce((n, s) => n + s.validation.rowsValid, 0),
});

const span = (items: { startedAt: number; finishedAt: number }[]) =>
  items.length ? Math.max(...items.map((i) => i.finishedAt)) - Math.min(...items.map((i) => i.startedAt)) : 0;

/** Every file rejected, planned-out ones (no row read) and decided ones, by name. */
function rejectedFiles(plan: PlanResult, files: FileOutcome[]): RejectedFile[] {
  return [...plan.rejectedFiles, ...files.filter((f) => f.rejectedReasons.length).map((f) => ({ file: f.url, reasons: f.rejectedReasons }))].sort((a, b) =>
    a.file.localeCompare(b.file),
  );
}

/**
 * The run report as far as the KPI job knows it; the loader adds status,
 * load time and KPI rows merged. Long lists are summarized: counts, and the
 * first rejected files (every file's outcome goes to analytics.etl_run_files).
 */
export function buildReport(
  run: RunContext,
  plan: PlanResult,
  files: FileOutcome[],
  counts: { duplicate: number; dates: string[]; kpiStartedAt: number },
  transforms: TransformResult[] = [],
): RunReport {
  const accepted = files.filter((f) => f.rejectedReasons.length === 0);
  const rejected = rejectedFiles(plan, files);
  const segments = files.flatMap((f) => f.segments);
  const acceptedSegments = accepted.flatMap((f) => f.segments);
  const rejectedByReason: Record<string, number> = {};
  for (const s of segments) {
    for (const [reason, n] of Object.entries(s.validation.rejected)) rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + n;
  }
  return {
    runId: run.runId,
    trigger: run.trigger,
    status: 'running',
    startedAt: run.startedAt,
    sources: run.sources,
    files: {
      total: plan.filesTotal,
      loaded: accepted.length,
      rejected: rejected.length,
      // A rejected name may be as long as a path can be (name_too_long): the report keeps a bounded one.
      firstRejected: rejected.slice(0, REPORT_REJECTED_FILES).map((f) => ({ ...f, file: fitText(f.file, REPORT_FILE_NAME_BYTES, 'key').text })),
    },
    rows: {
      read: segments.reduce((n, s) => n + s.validation.rowsRead, 0),
      valid: acceptedSegments.reduce((n, s) => n + s.validation.rowsValid, 0),
      rejected: Object.values(rejectedByReason).reduce((a, b) => a + b, 0),
      rejectedByReason,
      duplicate: counts.duplicate,
      orphanTracks: acceptedSegments.reduce((n, s) => n + s.orphanTracks, 0),
      orphanUsers: acceptedSegments.reduce((n, s) => n + s.orphanUsers, 0),
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

/** Every file's outcome (the run's file list): the planned-out files, then every decided one. */
export function* runFiles(plan: PlanResult, files: FileOutcome[], duplicateByFile: Record<string, number>): Generator<RunFile> {
  for (const f of plan.rejectedFiles) {
    yield { file: f.file, status: 'rejected', rowsRead: 0, rowsValid: 0, rowsRejected: 0, duplicate: 0, reason: f.reasons.join('; ') };
  }
  for (const f of files) {
    const { read, valid } = rowsOf(f);
    const loaded = f.rejectedReasons.length === 0;
    const line: RunFile = {
      file: f.url,
      status: loaded ? 'loaded' : 'rejected',
      rowsRead: read,
      rowsValid: valid,
      rowsRejected: read - valid,
      duplicate: loaded ? (duplicateByFile[f.fileId] ?? 0) : 0,
      reason: loaded ? undefined : f.rejectedReasons.join('; '),
    };
    yield line;
  }
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
    genreUrls: results.map((r) => r.genreUrl),
    hourlyUrls: results.map((r) => r.hourlyUrl),
    snapshotSeq: dates.snapshotSeq,
    dateEvents: Object.fromEntries(results.map((r) => [r.listenDate, r.events ?? 0])),
  };
}
