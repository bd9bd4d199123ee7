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

/**
 * The report's counts, added up one file at a time: what a run of any number
 * of files holds is these sums and the first REPORT_REJECTED_FILES rejected
 * files by name.
 */
export class RunTally {
  filesLoaded = 0;
  filesRejected = 0;
  rowsRead = 0;
  rowsValid = 0;
  orphanTracks = 0;
  orphanUsers = 0;
  readonly rejectedByReason: Record<string, number> = {};
  /** The first rejected files by name, sorted, at most REPORT_REJECTED_FILES. */
  readonly firstRejected: RejectedFile[] = [];

  /** A file the plan rejected before reading a row. */
  plannedOut(file: RejectedFile): void {
    this.rejected(file);
  }

  /** A file whose segments were read, decided. */
  decided(file: FileOutcome): void {
    for (const s of file.segments) {
      this.rowsRead += s.validation.rowsRead;
      for (const [reason, n] of Object.entries(s.validation.rejected)) this.rejectedByReason[reason] = (this.rejectedByReason[reason] ?? 0) + n;
    }
    if (file.rejectedReasons.length) return this.rejected({ file: file.url, reasons: file.rejectedReasons });
    this.filesLoaded++;
    for (const s of file.segments) {
      this.rowsValid += s.validation.rowsValid;
      this.orphanTracks += s.orphanTracks;
      this.orphanUsers += s.orphanUsers;
    }
  }

  private rejected(file: RejectedFile): void {
    this.filesRejected++;
    const first = this.firstRejected;
    if (first.length === REPORT_REJECTED_FILES && first.at(-1)!.file.localeCompare(file.file) <= 0) return;
    const at = first.findIndex((f) => file.file.localeCompare(f.file) < 0);
    first.splice(at === -1 ? first.length : at, 0, file);
    if (first.length > REPORT_REJECTED_FILES) first.pop();
  }
}

/**
 * The run report as far as the KPI job knows it; the loader adds status,
 * load time and KPI rows merged. Long lists are summarized: counts, and the
 * first rejected files (every file's outcome goes to analytics.etl_run_files).
 */
export function buildReport(
  run: RunContext,
  plan: PlanResult,
  tally: RunTally,
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

/** A file the plan rejected, as the run's file list has it. */
export const plannedOutRunFile = (f: RejectedFile): RunFile => ({
  file: f.file,
  status: 'rejected',
  rowsRead: 0,
  rowsValid: 0,
  rowsRejected: 0,
  duplicate: 0,
  reason: f.reasons.join('; '),
});

/** A decided file, as the run's file list has it. */
export function decidedRunFile(f: FileOutcome, duplicateByFile: ReadonlyMap<string, number>): RunFile {
  const { read, valid } = rowsOf(f);
  const loaded = f.rejectedReasons.length === 0;
  return {
    file: f.url,
    status: loaded ? 'loaded' : 'rejected',
    rowsRead: read,
    rowsValid: valid,
    rowsRejected: read - valid,
    duplicate: loaded ? (duplicateByFile.get(f.fileId) ?? 0) : 0,
    reason: loaded ? undefined : f.rejectedReasons.join('; '),
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
    genreUrls: results.map((r) => r.genreUrl),
    hourlyUrls: results.map((r) => r.hourlyUrl),
    snapshotSeq: dates.snapshotSeq,
    dateEvents: Object.fromEntries(results.map((r) => [r.listenDate, r.events ?? 0])),
  };
}
