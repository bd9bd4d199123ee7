/**
 * Schema drift: the columns of a run's sources (each stream file's header,
 * the users and songs CSV header or table columns) against those the previous
 * run that read the same source found. The baseline is the warehouse's
 * analytics.etl_source_headers, so every loader replica sees the same one.
 */
import { createHash } from 'node:crypto';
import { redactUrl } from '@musicflow/config';
import type { SchemaDrift, SourceHeaders } from '@musicflow/contracts';
import { SOURCE_HEADER_BYTES, SOURCE_HEADER_COLUMNS, SOURCE_HEADERS_SQL } from './sql.ts';
import { fitText, utf8Bytes } from './text-contract.ts';
import { utcTimestamp } from './client-options.ts';
import type { Warehouse } from './warehouse.ts';

export interface ColumnChanges {
  added: string[];
  missing: string[];
  renamed: { from: string; to: string }[];
}

/**
 * How `current` differs from the previous run's headers (`previous`, the one
 * most files carried first), or undefined when it has the same columns as any
 * of them, in any order. A column missing at position i whose place the new
 * header gives to an added column is a rename of one into the other.
 */
export function columnChanges(previous: readonly (readonly string[])[], current: readonly string[]): ColumnChanges | undefined {
  const same = (a: readonly string[]) => a.length === current.length && new Set([...a, ...current]).size === new Set(current).size;
  if (!previous.length || previous.some(same)) return undefined;
  const base = previous[0]!;
  const added = current.filter((c) => !base.includes(c));
  const missing = base.filter((c) => !current.includes(c));
  const renamed: ColumnChanges['renamed'] = [];
  for (const from of [...missing]) {
    const to = current[base.indexOf(from)];
    if (to !== undefined && added.includes(to)) {
      renamed.push({ from, to });
      missing.splice(missing.indexOf(from), 1);
      added.splice(added.indexOf(to), 1);
    }
  }
  return added.length || missing.length || renamed.length ? { added, missing, renamed } : undefined;
}

/** The columns as stored: JSON, trailing columns left off past the column's width (a header that long is compared by its start). */
function storedColumns(columns: readonly string[]): string {
  let kept = [...columns];
  while (utf8Bytes(JSON.stringify(kept)) > SOURCE_HEADER_BYTES.columns) kept = kept.slice(0, Math.floor(kept.length * 0.9));
  return JSON.stringify(kept);
}

/** A source's URL as a baseline key: credentials redacted, fitted to its column. */
const sourceKey = (url: string) => fitText(redactUrl(url), SOURCE_HEADER_BYTES.url, 'key').text;

/**
 * Compares each source's headers with the previous run's, records this run's
 * (replacing an earlier attempt's) and returns the drift, one entry per
 * changed header. A source seen for the first time has no drift.
 */
export async function recordSchemaDrift(warehouse: Warehouse, runId: string, sources: readonly SourceHeaders[], recordedAt: Date): Promise<SchemaDrift[]> {
  const drift: SchemaDrift[] = [];
  const rows: unknown[][] = [];
  for (const { source, url, headers } of sources) {
    const key = sourceKey(url);
    const before = await warehouse.query<{ columns: string; files: number }>(SOURCE_HEADERS_SQL.previous, [source, key, runId]);
    const previous = before.sort((a, b) => Number(b.files) - Number(a.files)).map((r) => JSON.parse(r.columns) as string[]);
    for (const { columns, files, examples } of headers) {
      const stored = storedColumns(columns);
      const changes = columnChanges(previous, JSON.parse(stored));
      if (changes) drift.push({ source, url: redactUrl(url), ...changes, ...(source === 'streams' ? { files, examples } : {}) });
      const row: Record<(typeof SOURCE_HEADER_COLUMNS)[number], unknown> = {
        run_id: runId,
        source,
        url: key,
        header_sha: createHash('sha256').update(stored).digest('hex'),
        columns: stored,
        files,
        added: changes?.added.length ?? 0,
        missing: changes?.missing.length ?? 0,
        renamed: changes?.renamed.length ?? 0,
        recorded_at: utcTimestamp(recordedAt),
      };
      rows.push(SOURCE_HEADER_COLUMNS.map((c) => row[c]));
    }
  }
  await warehouse.recordSourceHeaders(runId, rows);
  return drift;
}
