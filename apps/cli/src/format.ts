import type { RunReport } from '@musicflow/contracts';

const fmt = (v: unknown): string => {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2);
  if (v instanceof Date) return v.toISOString();
  return String(v);
};

/** Rows as an aligned text table; numbers right-aligned. */
export function formatTable(rows: Record<string, unknown>[], columns: string[]): string {
  const cells = rows.map((r) => columns.map((c) => fmt(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const numeric = columns.map((c) => rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === 'number'));
  const line = (values: string[]) =>
    values
      .map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)].join('\n');
}

const n = (v: number) => v.toLocaleString('en-US');

/** The run report as a person reads it. */
export function formatReport(r: RunReport): string {
  const out = [
    `run ${r.runId} (${r.trigger}): ${r.status.toUpperCase()}`,
    `  started ${r.startedAt}${r.finishedAt ? `, finished ${r.finishedAt}` : ''}`,
    `  files      ${n(r.files.total)} found, ${n(r.files.loaded)} loaded, ${n(r.files.rejected)} rejected`,
    `  rows       ${n(r.rows.read)} read, ${n(r.rows.valid)} valid, ${n(r.rows.rejected)} rejected, ${n(r.rows.duplicate)} duplicate`,
  ];
  for (const [reason, count] of Object.entries(r.rows.rejectedByReason)) out.push(`               ${reason}: ${n(count)}`);
  out.push(
    `  orphans    ${n(r.rows.orphanTracks)} events with a track not in the catalogue, ${n(r.rows.orphanUsers)} with an unknown user`,
    `  catalogue  ${n(r.catalogue.songs)} tracks, ${n(r.catalogue.users)} users, ${n(r.catalogue.rejected)} rows rejected`,
    `  KPI rows   ${n(r.kpiRows.genre)} genre, ${n(r.kpiRows.hourly)} hourly written for ${r.dates.join(', ') || 'no date'}`,
    `  time       ${Object.entries(r.stageMs)
      .map(([s, ms]) => `${s} ${(ms / 1000).toFixed(2)}s`)
      .join(', ')}`,
  );
  if (r.build) {
    const commit = r.build.commit ? ` commit ${r.build.commit.slice(0, 12)}${r.build.commit.endsWith('-dirty') ? '-dirty' : ''}` : '';
    out.push(`  version    musicflow ${r.build.version}${commit}, KPI settings ${r.build.settingsHash}`);
  }
  if (r.traceId) out.push(`  trace      ${r.traceId}`);
  if (r.files.rejected) {
    const more = r.files.rejected - r.files.firstRejected.length;
    out.push(
      more > 0 ? `  rejected files (the first ${r.files.firstRejected.length}; GET /runs/${r.runId}/files?status=rejected lists all):` : '  rejected files:',
    );
    for (const f of r.files.firstRejected) out.push(`    ${f.file}`, ...f.reasons.map((reason) => `      - ${reason}`));
  }
  if (r.error) out.push(`  error: ${r.error}`);
  return out.join('\n');
}
