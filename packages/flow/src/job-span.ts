import type { Job } from 'bullmq';
import type { Attributes, JobSpan, TraceCarrier } from '@musicflow/telemetry';
import type { ChildResult, JobKind, RunReport, Stage } from '@musicflow/contracts';

/** A job's span: `<stage> <kind>`, in its run's trace (the context its data carries), with the ids to find it by. */
export function jobSpan(stage: Stage, kind: JobKind, job: Job, data: unknown): JobSpan {
  const run = (data as { run?: { runId: string; trace?: TraceCarrier } }).run;
  return {
    name: `${stage} ${kind}`,
    carrier: run?.trace,
    attributes: {
      'musicflow.job.kind': kind,
      'musicflow.job.id': job.id ?? '',
      'musicflow.job.attempt': job.attemptsMade + 1,
      ...(run ? { 'musicflow.run.id': run.runId } : {}),
    },
  };
}

const sum = <T>(items: readonly T[], count: (item: T) => number) => items.reduce((total, item) => total + count(item), 0);

/**
 * What a job's span says it did, from its return value: the rows it read or
 * wrote (`musicflow.rows`), and per kind what else counts. Only with tracing on.
 */
export const jobMeasures =
  (job: Job) =>
  (result: unknown): Attributes => {
    // Rows the job reported as it went (RowProgress): validate and transform keep their counts in the lake's artifacts.
    const progress = job.progress as { rows?: number } | number | undefined;
    const reported = typeof progress === 'object' && progress?.rows !== undefined ? { 'musicflow.rows': progress.rows } : {};
    return { ...reported, ...measuresOf(result) };
  };

function measuresOf(result: unknown): Attributes {
  const r = result as ChildResult | RunReport | undefined;
  if (!r || typeof r !== 'object') return {};
  if ('status' in r) return { 'musicflow.rows': r.rows.read, 'musicflow.kpi_rows': r.kpiRows.genre + r.kpiRows.hourly, 'musicflow.run.status': r.status };
  switch (r.kind) {
    case 'plan':
      return { 'musicflow.files': r.filesTotal, 'musicflow.chunks': r.chunks };
    case 'catalogue':
      return { 'musicflow.rows': r.kept, 'musicflow.catalogue.table': r.table, 'musicflow.catalogue.shard': `${r.shard.index + 1} of ${r.shard.count}` };
    case 'validate':
    case 'transform':
      return { 'musicflow.segments': r.segments };
    case 'kpi-pass':
      return { 'musicflow.rows': r.rows };
    case 'kpi-date':
      return { 'musicflow.rows': r.rows, 'musicflow.kpi_rows': r.genreRows + r.hourlyRows, 'musicflow.listen_date': r.listenDate };
    case 'commit':
      return { 'musicflow.rows': sum(r.parts, (p) => p.rows), 'musicflow.parts': r.parts.length };
    case 'archive':
      return { 'musicflow.files': r.moved + r.movedBefore };
    case 'kpi':
      return { 'musicflow.rows': r.report.rows.read, 'musicflow.kpi_rows': r.report.kpiRows.genre + r.report.kpiRows.hourly };
  }
  return {};
}
