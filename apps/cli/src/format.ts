import stringWidth from 'string-width';
import { z } from 'zod';
import type { RunReport } from '@musicflow/contracts';

/** Width when the output is no terminal (a pipe, a file, CI) and COLUMNS does not say. */
export const DEFAULT_WIDTH = 100;
/** Narrower than this, tables would be little but ellipses: lines are cut to the width instead. */
const MIN_WIDTH = 40;
const GAP = '  ';
const ELLIPSIS = '…';
/** Columns a name (track, artist, genre) keeps before a less useful column is left out to make room. */
const COMFORTABLE_NAME = 24;

const columnsEnv = z.coerce.number().int().min(MIN_WIDTH).max(1000);

/** Columns to fit output to: the terminal's, else COLUMNS (ignored unless a number from 40 to 1000), else DEFAULT_WIDTH. */
export function terminalWidth(out: { isTTY?: boolean; columns?: number } = process.stdout, env: NodeJS.ProcessEnv = process.env): number {
  if (out.isTTY && out.columns) return Math.max(MIN_WIDTH, out.columns);
  const fromEnv = columnsEnv.safeParse(env.COLUMNS);
  return fromEnv.success ? fromEnv.data : DEFAULT_WIDTH;
}

/**
 * Text from the data (track, artist and genre names are whatever the source
 * files held) made safe for a terminal: control characters (escape sequences,
 * carriage returns, tabs) and bidirectional overrides each become U+FFFD.
 */
export const printable = (text: string): string => text.replace(/[\p{Cc}\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]/gu, '\ufffd');

/** Columns the text takes on a terminal (wide CJK and emoji count two, combining marks none). */
export const displayWidth = (text: string): number => stringWidth(text);

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' });

/** The text cut to at most `width` columns, ending in an ellipsis when cut. */
export function cut(text: string, width: number): string {
  return displayWidth(text) <= width ? text : splitAt(text, width - 1)[0] + ELLIPSIS;
}

const pad = (text: string, width: number, right: boolean) => {
  const fill = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return right ? fill + text : text + fill;
};

/** m:ss, or h:mm:ss from an hour on (what the dashboard shows). */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export interface Column {
  key: string;
  /** Header; the key when absent. */
  label?: string;
  /** How values show: numbers right-aligned (`digits` decimals, default 2 for fractions), durations in ms as m:ss. */
  kind?: 'text' | 'number' | 'duration';
  digits?: number;
  /** A text column that may be cut with an ellipsis to fit, down to this many columns (or its header's width). */
  shrinkTo?: number;
  /** Columns that may be left out when the table is too wide: the highest first. */
  dropOrder?: number;
}

function show(v: unknown, column: Column): string {
  if (v === null || v === undefined) return '';
  if (column.kind === 'duration' && typeof v === 'number') return formatDuration(v);
  if (typeof v === 'number') {
    return Number.isInteger(v) && column.digits === undefined
      ? v.toLocaleString('en-US')
      : v.toLocaleString('en-US', { minimumFractionDigits: column.digits ?? 2, maximumFractionDigits: column.digits ?? 2 });
  }
  if (v instanceof Date) return v.toISOString();
  return printable(String(v));
}

/**
 * Rows as an aligned text table no line of which is wider than `width`
 * columns: too wide, it leaves out droppable columns (highest `dropOrder`
 * first) while its names would otherwise be cut below COMFORTABLE_NAME
 * columns, then cuts the widest shrinkable text columns (an ellipsis shows
 * where), and cuts whole lines only when nothing else is left to give. Numbers and
 * durations are right-aligned. A column given by key alone is numeric when
 * every value is a number.
 */
export function formatTable(rows: Record<string, unknown>[], columns: (string | Column)[], width = Infinity): string {
  const specs: Column[] = columns.map((c) =>
    typeof c === 'string' ? { key: c, kind: rows.length > 0 && rows.every((r) => r[c] === null || typeof r[c] === 'number') ? 'number' : 'text' } : c,
  );
  const label = (c: Column) => c.label ?? c.key;
  const cells = rows.map((r) => specs.map((c) => show(r[c.key], c)));
  const natural = specs.map((c, i) => Math.max(displayWidth(label(c)), ...cells.map((row) => displayWidth(row[i]!))));
  const least = specs.map((c, i) => (c.shrinkTo === undefined ? natural[i]! : Math.min(natural[i]!, Math.max(c.shrinkTo, displayWidth(label(c))))));
  // A name keeps this much before a droppable column is left out for it.
  const comfortable = specs.map((c, i) => (c.shrinkTo === undefined ? natural[i]! : Math.max(least[i]!, Math.min(natural[i]!, COMFORTABLE_NAME))));
  const shown = specs.map((_, i) => i);
  const total = (widths: number[]) => shown.reduce((sum, i) => sum + widths[i]!, 0) + GAP.length * (shown.length - 1);
  // Leave out droppable columns while the names would have to be cut shorter than that.
  for (;;) {
    if (total(comfortable) <= width) break;
    const droppable = shown.filter((i) => specs[i]!.dropOrder !== undefined).sort((a, b) => specs[b]!.dropOrder! - specs[a]!.dropOrder!);
    if (!droppable.length) break;
    shown.splice(shown.indexOf(droppable[0]!), 1);
  }
  // Then narrow the shrinkable columns, the widest first, until the table fits.
  const widths = [...natural];
  while (total(widths) > width) {
    const widest = shown.filter((i) => widths[i]! > least[i]!).sort((a, b) => widths[b]! - widths[a]!)[0];
    if (widest === undefined) break;
    widths[widest]!--;
  }
  const right = specs.map((c) => c.kind === 'number' || c.kind === 'duration');
  const line = (values: string[]) =>
    cut(
      shown
        .map((i) => pad(cut(values[i]!, widths[i]!), widths[i]!, right[i]!))
        .join(GAP)
        .trimEnd(),
      width,
    );
  return [line(specs.map(label)), cut(shown.map((i) => '-'.repeat(widths[i]!)).join(GAP), width), ...cells.map(line)].join('\n');
}

/** The leading graphemes of `text` that fit in `width` columns, and the rest. */
function splitAt(text: string, width: number): [string, string] {
  let head = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    used += displayWidth(segment);
    if (used > width) break;
    head += segment;
  }
  return [head, text.slice(head.length)];
}

/**
 * A line wrapped at spaces to `width` columns, continuation lines indented to
 * where the text after the line's label starts (`  files      3 found`: under
 * `3`), at most half the width; a word wider than a line (a URL) is broken
 * across lines rather than cut.
 */
export function wrap(text: string, width: number): string {
  const clean = printable(text);
  const lead = ' '.repeat(Math.min(/^\s*\S+\s+/.exec(clean)?.[0].length ?? 0, Math.floor(width / 2)));
  const lines: string[] = [];
  let current = '';
  for (const token of clean.match(/\s*\S+/g) ?? []) {
    const joined = current + token;
    if (displayWidth(joined) <= width) {
      current = joined;
      continue;
    }
    if (current) lines.push(current);
    current = lead + token.trimStart();
    while (displayWidth(current) > width) {
      const [head, rest] = splitAt(current, width);
      lines.push(head);
      current = lead + rest;
    }
  }
  if (current.trim()) lines.push(current);
  return lines.join('\n');
}

const n = (v: number) => v.toLocaleString('en-US');

/** The run report as a person reads it, each line within `width` columns. */
export function formatReport(r: RunReport, width = Infinity): string {
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
  if (r.files.rejected) {
    const more = r.files.rejected - r.files.firstRejected.length;
    out.push(
      more > 0 ? `  rejected files (the first ${r.files.firstRejected.length}; GET /runs/${r.runId}/files?status=rejected lists all):` : '  rejected files:',
    );
    for (const f of r.files.firstRejected) out.push(`    ${f.file}`, ...f.reasons.map((reason) => `      - ${reason}`));
  }
  if (r.error) out.push(`  error: ${r.error}`);
  return out.map((l) => (width === Infinity ? printable(l) : wrap(l, width))).join('\n');
}
