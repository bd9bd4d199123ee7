import type { ExtractResult, RejectedFile, RunContext, RunReport, TransformResult } from '@musicflow/contracts';

export interface FileOutcome {
  fileId: string;
  url: string;
  chunks: TransformResult[];
  rejectedReasons: string[];
}

/**
 * Decides each file's fate from its chunks (SPEC 3): a chunk that cannot be
 * parsed, or more bad rows than `threshold` of the file's rows, rejects the
 * whole file.
 */
export function decideFiles(transforms: TransformResult[], threshold: number): FileOutcome[] {
  const byFile = new Map<string, FileOutcome>();
  for (const t of transforms) {
    const v = t.validation;
    let file = byFile.get(v.fileUrl);
    if (!file) byFile.set(v.fileUrl, (file = { fileId: v.fileId, url: v.fileUrl, chunks: [], rejectedReasons: [] }));
    file.chunks.push(t);
  }
  for (const file of byFile.values()) {
    for (const c of file.chunks) if (c.validation.parseError) file.rejectedReasons.push(`cannot be parsed as CSV: ${c.validation.parseError}`);
    const read = file.chunks.reduce((n, c) => n + c.validation.rowsRead, 0);
    const bad = file.chunks.reduce((n, c) => n + (c.validation.rowsRead - c.validation.rowsValid), 0);
    if (bad > threshold * read) {
      file.rejectedReasons.push(
        `${bad} of ${read} rows are bad (${((100 * bad) / read).toFixed(1)}%), more than the ${(threshold * 100).toFixed(1)}% allowed`,
      );
    }
  }
  return [...byFile.values()].sort((a, b) => a.url.localeCompare(b.url));
}

const span = (items: { startedAt: number; finishedAt: number }[]) =>
  items.length ? Math.max(...items.map((i) => i.finishedAt)) - Math.min(...items.map((i) => i.startedAt)) : 0;

/** The run report as far as the KPI step knows it; the loader adds status, load time and KPI rows merged. */
export function buildReport(
  run: RunContext,
  extract: ExtractResult,
  files: FileOutcome[],
  counts: { duplicate: number; dates: string[]; kpiStartedAt: number },
): RunReport {
  const accepted = files.filter((f) => f.rejectedReasons.length === 0);
  const rejected: RejectedFile[] = [
    ...extract.rejectedFiles,
    ...files.filter((f) => f.rejectedReasons.length).map((f) => ({ file: f.url, reasons: f.rejectedReasons })),
  ].sort((a, b) => a.file.localeCompare(b.file));
  const chunks = files.flatMap((f) => f.chunks);
  const acceptedChunks = accepted.flatMap((f) => f.chunks);
  const rejectedByReason: Record<string, number> = {};
  for (const c of chunks) {
    for (const [reason, n] of Object.entries(c.validation.rejected)) rejectedByReason[reason] = (rejectedByReason[reason] ?? 0) + n;
  }
  return {
    runId: run.runId,
    trigger: run.trigger,
    status: 'running',
    startedAt: run.startedAt,
    sources: run.sources,
    files: { total: extract.files.length, loaded: accepted.map((f) => f.url), rejected },
    rows: {
      read: chunks.reduce((n, c) => n + c.validation.rowsRead, 0),
      valid: acceptedChunks.reduce((n, c) => n + c.validation.rowsValid, 0),
      rejected: Object.values(rejectedByReason).reduce((a, b) => a + b, 0),
      rejectedByReason,
      duplicate: counts.duplicate,
      orphanTracks: acceptedChunks.reduce((n, c) => n + c.orphanTracks, 0),
      orphanUsers: acceptedChunks.reduce((n, c) => n + c.orphanUsers, 0),
    },
    catalogue: { users: extract.users, songs: extract.songs, rejected: extract.catalogueRejected, cleaned: extract.catalogueCleaned },
    dates: counts.dates,
    kpiRows: { genre: 0, hourly: 0 },
    stageMs: {
      extract: extract.finishedAt - extract.startedAt,
      validate: span(chunks.map((c) => c.validation)),
      transform: span(chunks),
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
