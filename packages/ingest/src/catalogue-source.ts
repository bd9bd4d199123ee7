import pg from 'pg';
import { redactUrl } from '@musicflow/config';
import QueryStream from 'pg-query-stream';
import type { ObjectStore } from '@musicflow/storage';
import { csvRecords } from './csv.ts';
import { missingColumns } from './header.ts';

/** The source is reachable but unusable (missing table, column or header): retrying will not help. */
export class SourceFormatError extends Error {}

export interface SourceRow {
  /** The required columns' values. */
  values: Record<string, string | undefined>;
  /** The whole record as read, for quarantine. */
  record: string[];
  /** Line in the CSV file, or row number in the table. */
  line: number;
}

/**
 * Rows of a catalogue source, streamed: a CSV object (`file://`, `s3://`) or
 * the table of the same name in a PostgreSQL database (`postgres://`, the RDS
 * source). A source lacking a required column throws, naming it.
 */
export async function* readCatalogueSource(
  store: ObjectStore,
  url: string,
  table: string,
  required: readonly string[],
): AsyncGenerator<SourceRow> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    yield* readTable(url, table, required);
    return;
  }
  let header: string[] | undefined;
  // Only the required columns are mapped by name: catalogue exports carry many more.
  let positions: number[] = [];
  for await (const { fields, line } of csvRecords(await store.read(url))) {
    if (!header) {
      header = fields.map((f, i) => (i === 0 ? f.replace(/^\uFEFF/, '') : f).trim());
      const missing = missingColumns(header, required);
      if (missing.length) throw new SourceFormatError(`${url}: missing column(s) ${missing.join(', ')}`);
      positions = required.map((c) => header!.indexOf(c));
      continue;
    }
    const values: Record<string, string | undefined> = {};
    for (let c = 0; c < required.length; c++) values[required[c]!] = fields[positions[c]!];
    yield { values, record: fields, line };
  }
  if (!header) throw new SourceFormatError(`${url}: empty file, a header row is required`);
}

async function* readTable(url: string, table: string, required: readonly string[]): AsyncGenerator<SourceRow> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ column_name: string }>(
      `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = ANY (current_schemas(false))`,
      [table],
    );
    const present = rows.map((r) => r.column_name);
    if (present.length === 0) throw new SourceFormatError(`${redactUrl(url)}: table ${table} not found`);
    const missing = missingColumns(present, required);
    if (missing.length) throw new SourceFormatError(`${redactUrl(url)}: table ${table} is missing column(s) ${missing.join(', ')}`);
    // Text casts keep values exactly as stored, so CSV and table rows go through the same rules.
    const select = required.map((c) => `${quoteIdent(c)}::text AS ${quoteIdent(c)}`).join(', ');
    const stream = client.query(new QueryStream(`SELECT ${select} FROM ${quoteIdent(table)}`, [], { batchSize: 5000 }));
    let line = 0;
    for await (const row of stream as AsyncIterable<Record<string, string | null>>) {
      line++;
      const values: Record<string, string | undefined> = {};
      for (const c of required) values[c] = row[c] ?? undefined;
      yield { values, record: required.map((c) => row[c] ?? ''), line };
    }
  } finally {
    await client.end();
  }
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
