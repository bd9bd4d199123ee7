import pg from 'pg';
import { redactUrl } from '@musicflow/config';
import QueryStream from 'pg-query-stream';
import type { ObjectStore } from '@musicflow/storage';
import { csvRecords } from './csv.ts';
import { missingColumns } from './header.ts';
import { CATALOGUE_SQL } from './catalogue-sql.ts';

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

/** The keys a run needs from a table: an RDS source fetches only their rows. */
export interface CatalogueLookup {
  key: string;
  ids: Iterable<string | number>;
}

/** Keys looked up per query: `= ANY($1)` over an indexed key is one index scan per batch. */
const LOOKUP_BATCH = 5000;

/**
 * Rows of a catalogue source, streamed: a CSV object (`file://`, `s3://`),
 * read whole (the caller keeps what it needs), or the table of the same name
 * in a PostgreSQL database (`postgres://`, the RDS source), from which only
 * the rows of `lookup.ids` are fetched, in batches. A source lacking a
 * required column throws, naming it.
 */
export async function* readCatalogueSource(
  store: ObjectStore,
  url: string,
  table: string,
  required: readonly string[],
  lookup?: CatalogueLookup,
): AsyncGenerator<SourceRow> {
  if (/^postgres(ql)?:\/\//.test(url)) {
    yield* readTable(url, table, required, lookup);
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

async function* readTable(url: string, table: string, required: readonly string[], lookup?: CatalogueLookup): AsyncGenerator<SourceRow> {
  const client = new pg.Client({ connectionString: url });
  // A session cut (a failover) fails the statement in flight and emits 'error' on the client: unheard, that kills the process.
  const cut = new Promise<never>((_, reject) => client.on('error', reject));
  cut.catch(() => undefined); // heard here; the read in flight fails with it
  await client.connect();
  try {
    const { rows } = await client.query<{ column_name: string }>(CATALOGUE_SQL.columns, [table]);
    const present = rows.map((r) => r.column_name);
    if (present.length === 0) throw new SourceFormatError(`${redactUrl(url)}: table ${table} not found`);
    const missing = missingColumns(present, required);
    if (missing.length) throw new SourceFormatError(`${redactUrl(url)}: table ${table} is missing column(s) ${missing.join(', ')}`);
    let line = 0;
    const toRow = (row: Record<string, string | null>): SourceRow => {
      const values: Record<string, string | undefined> = {};
      for (const c of required) values[c] = row[c] ?? undefined;
      return { values, record: required.map((c) => row[c] ?? ''), line: ++line };
    };
    if (!lookup) {
      const stream = client.query(new QueryStream(CATALOGUE_SQL.scan(table, required), [], { batchSize: 5000 }));
      const rows = (stream as AsyncIterable<Record<string, string | null>>)[Symbol.asyncIterator]();
      // After a cut the stream never ends (its cursor waits for the server to close it, node-postgres#2642): the cut ends the scan.
      for (let next = await Promise.race([rows.next(), cut]); !next.done; next = await Promise.race([rows.next(), cut])) yield toRow(next.value);
      return;
    }
    const lookupSql = CATALOGUE_SQL.lookup(table, required, lookup.key);
    let batch: (string | number)[] = [];
    const fetch = async () => (await client.query<Record<string, string | null>>(lookupSql, [batch.map(String)])).rows;
    for (const id of lookup.ids) {
      batch.push(id);
      if (batch.length < LOOKUP_BATCH) continue;
      for (const row of await fetch()) yield toRow(row);
      batch = [];
    }
    if (batch.length) for (const row of await fetch()) yield toRow(row);
  } finally {
    await client.end();
  }
}
