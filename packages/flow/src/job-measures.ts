import type { Attributes } from '@musicflow/telemetry';
import type { ChildResult, RunReport } from '@musicflow/contracts';

const sum = <T>(items: readonly T[], count: (item: T) => number) => items.reduce((total, item) => total + count(item), 0);

/**
 * What a job's span says it did, from its return value: the rows it read or
 * wrote (`musicflow.rows`), and per kind what else counts. Only with tracing on.
 */
export function jobMeasures(result: unknown): Attributes {
  const r = result as ChildResult | RunReport | undefined;
  if (!r || typeof r !== 'object') return {};
  if ('status' in r) return { 'musicflow.rows': r.rows.read, 'musicflow.kpi_rows': r.kpiRows.genre + r.kpiRows.hourly, 'musicflow.run.status': r.status };
  switch (r.kind) {
    case 'plan':
      return { 'musicflow.files': r.filesTotal, 'musicflow.chunks': r.chunks };
    case 'catalogue':
      return { 'musicflow.rows': r.kept, 'musicflow.catalogue.table': r.table };
    case 'validate':
      return { 'musicflow.rows': sum(r.segments, (s) => s.rowsRead), 'musicflow.rows.valid': sum(r.segments, (s) => s.rowsValid) };
    case 'transform':
      return { 'musicflow.rows': sum(r.segments, (s) => sum(s.parts, (p) => p.rows)) };
    case 'kpi-pass':
      return { 'musicflow.rows': r.rows };
    case 'kpi-date':
      return { 'musicflow.rows': r.rows, 'musicflow.kpi_rows': r.genreRows + r.hourlyRows, 'musicflow.listen_date': r.listenDate };
    case 'publish':
      return { 'musicflow.rows': r.report.rows.read, 'musicflow.kpi_rows': r.report.kpiRows.genre + r.report.kpiRows.hourly };
  }
  return {};
}
