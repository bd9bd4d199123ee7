import pg from 'pg';
import { postgresClientConfig, redactUrl, type PostgresTarget } from '@musicflow/config';
import { explainConnectionError } from '@musicflow/warehouse/connection-errors';
import QueryStream from 'pg-query-stream';
import type { ObjectStore } from '@musicflow/storage';
import { csvByteBatches, fieldText, recordFields, type CsvByteBatch } from './csv-byte-reader.ts';
import { FileBoundError, type RecordBounds } from './bounds.ts';
import { missingColumns } from './header.ts';
import { CATALOGUE_SQL } from './catalogue-sql.ts';

/** The source is reachable but unusable (missing table, column or header): retrying will not help. */
export class SourceFormatError extends Error {}

export interface SourceRow {
  /** The required columns' values. */
  values: Record<string, string | undefined>;
  /**
   * The whole record as read, for quarantine: decoded when asked (a catalogue
   * export has many more columns than the rules read), and only while the
   * row's batch is the current one.
   */
  record(): string[];
  /** Line in the CSV file, or row number in the table. */
  line: number;
  /** A CSV row's fields as bytes, for the rules' fast paths (`catalogue-row-bytes.ts`); none for a database row. */
  csv?: CsvRowBytes;
}

/** A CSV row's required columns as bytes: column `c` (in the order asked for) is `bytes[fieldStart(c), fieldEnd(c))`. */
export interface CsvRowBytes {
  bytes: Buffer;
  /** -1 when the record lacks the column or its field holds doubled quotes (its bytes are not its text). */
  fieldStart(c: number): number;
  fieldEnd(c: number): number;
}

/**
 * A row of a CSV batch: its values decoded when first asked for, so a row
 * the rules' fast paths decide from its bytes costs no string.
 */
class CsvSourceRow implements SourceRow, CsvRowBytes {
  private decoded: Record<string, string | undefined> | undefined;

  constructor(
    private readonly batch: CsvByteBatch,
    private readonly r: number,
    readonly line: number,
    private readonly required: readonly string[],
    private readonly positions: readonly number[],
  ) {}

  get values(): Record<string, string | undefined> {
    if (this.decoded) return this.decoded;
    const values: Record<string, string | undefined> = {};
    for (let c = 0; c < this.required.length; c++) values[this.required[c]!] = this.has(c) ? fieldText(this.batch, this.field(c)) : undefined;
    return (this.decoded = values);
  }

  record(): string[] {
    return recordFields(this.batch, this.r);
  }

  get csv(): CsvRowBytes {
    return this;
  }

  get bytes(): Buffer {
    return this.batch.bytes;
  }

  fieldStart(c: number): number {
    return this.has(c) && this.batch.escaped[this.field(c)] === 0 ? this.batch.starts[this.field(c)]! : -1;
  }

  fieldEnd(c: number): number {
    return this.batch.ends[this.field(c)]!;
  }

  private field(c: number): number {
    return this.batch.firstField[this.r]! + this.positions[c]!;
  }

  private has(c: number): boolean {
    return this.positions[c]! < this.batch.firstField[this.r + 1]! - this.batch.firstField[this.r]!;
  }
}

/** The keys a run needs from a table: an RDS source fetches only their rows, a CSV source skips the others. */
export interface CatalogueLookup {
  key: string;
  /** The run's ids, each once, at most LOOKUP_BATCH a batch. */
  idBatches(): AsyncIterable<(string | number)[]>;
  /**
   * For a CSV source: true when a row whose key field holds `bytes[start,
   * end)` (UTF-8, quotes taken off, no doubled quote inside) is none of the
   * run's and takes no rule, so it is skipped before it is decoded. Rows it
   * keeps are the caller's to judge.
   */
  skipsKeyBytes(bytes: Buffer, start: number, end: number): boolean;
}

/**
 * A catalogue source's rows in batches (a CSV read's records, a lookup's
 * rows: a long-tail run keeps most of a catalogue of millions, and a
 * generator step and awaits per row cost more than its rules), how many were
 * read so far (skipped ones included), and its columns once read (before a
 * missing one is refused).
 */
export type CatalogueRows = AsyncGenerator<SourceRow[]> & { readonly rowsRead: number; readonly columns: readonly string[] | undefined };

interface ReadCount {
  rowsRead: number;
  columns?: string[];
}

/** Keys looked up per query: `= ANY($1)` over an indexed key is one index scan per batch. */
export const LOOKUP_BATCH = 5000;

/**
 * Rows of a catalogue source, streamed: a CSV object (`file://`, `s3://`),
 * read whole, skipping the rows `lookup.skipsKeyBytes` rules out, or the
 * table of the same name in a PostgreSQL database (`postgres://`, the RDS
 * source), from which only the rows of `lookup.ids` are fetched, in batches.
 * A source lacking a required column, or a CSV breaking `bounds`, throws,
 * naming it. A database is given as its URL or as its target
 * (catalogueTarget: the setting it came from, its password file).
 */
export function readCatalogueSource(
  store: ObjectStore,
  source: string | PostgresTarget,
  table: string,
  required: readonly string[],
  lookup?: CatalogueLookup,
  bounds?: RecordBounds,
): CatalogueRows {
  const read: ReadCount = { rowsRead: 0 };
  const url = typeof source === 'string' ? source : source.url;
  const rows = /^postgres(ql)?:\/\//.test(url)
    ? readTable(read, typeof source === 'string' ? { url, setting: `the ${table} source` } : source, table, required, lookup)
    : readCsv(read, store, url, required, lookup, bounds);
  return Object.defineProperties(rows, { rowsRead: { get: () => read.rowsRead }, columns: { get: () => read.columns } }) as CatalogueRows;
}

/** A record over a bound is there on every attempt: a SourceFormatError, never retried. */
async function* boundsAsSourceErrors<T>(items: AsyncIterable<T>, url: string): AsyncGenerator<T> {
  try {
    yield* items;
  } catch (err) {
    throw err instanceof FileBoundError ? new SourceFormatError(`${url}: ${err.message}`) : err;
  }
}

/**
 * The CSV reader of the stream files (`csvByteBatches`: csv-parse's records
 * and line numbers, from byte offsets): a row `lookup.skipsKeyBytes` rules
 * out is never a row, and a row's values are decoded only when asked for, so
 * a catalogue of millions costs a scan of its bytes, not millions of strings.
 */
async function* readCsv(
  read: ReadCount,
  store: ObjectStore,
  url: string,
  required: readonly string[],
  lookup?: CatalogueLookup,
  bounds?: RecordBounds,
): AsyncGenerator<SourceRow[]> {
  let header: string[] | undefined;
  // Only the required columns are mapped by name: catalogue exports carry many more.
  let positions: number[] = [];
  let keyColumn = -1;
  for await (const batch of boundsAsSourceErrors(csvByteBatches(await store.read(url), 1, bounds), url)) {
    const { bytes, firstField, starts, ends, escaped, lines } = batch;
    const rows: CsvSourceRow[] = [];
    for (let r = 0; r < batch.records; r++) {
      if (!header) {
        header = recordFields(batch, r).map((f, i) => (i === 0 ? f.replace(/^\uFEFF/, '') : f).trim());
        read.columns = header;
        const missing = missingColumns(header, required);
        if (missing.length) throw new SourceFormatError(`${url}: missing column(s) ${missing.join(', ')}`);
        positions = required.map((c) => header!.indexOf(c));
        keyColumn = lookup ? header.indexOf(lookup.key) : -1;
        continue;
      }
      read.rowsRead++;
      const key = firstField[r]! + keyColumn;
      if (keyColumn >= 0 && key < firstField[r + 1]! && escaped[key] === 0 && lookup!.skipsKeyBytes(bytes, starts[key]!, ends[key]!)) continue;
      rows.push(new CsvSourceRow(batch, r, lines[r]!, required, positions));
    }
    if (rows.length) yield rows;
  }
  if (!header) throw new SourceFormatError(`${url}: empty file, a header row is required`);
}

async function* readTable(
  read: ReadCount,
  target: PostgresTarget,
  table: string,
  required: readonly string[],
  lookup?: CatalogueLookup,
): AsyncGenerator<SourceRow[]> {
  const url = target.url;
  const client = new pg.Client(postgresClientConfig(target));
  // A session cut (a failover) fails the statement in flight and emits 'error' on the client: unheard, that kills the process.
  const cut = new Promise<never>((_, reject) => client.on('error', reject));
  cut.catch(() => undefined); // heard here; the read in flight fails with it
  await client.connect().catch((err: unknown) => {
    throw explainConnectionError(target, err);
  });
  try {
    const { rows } = await client.query<{ column_name: string }>(CATALOGUE_SQL.columns, [table]);
    const present = rows.map((r) => r.column_name);
    if (present.length === 0) throw new SourceFormatError(`${redactUrl(url)}: table ${table} not found`);
    read.columns = present;
    const missing = missingColumns(present, required);
    if (missing.length) throw new SourceFormatError(`${redactUrl(url)}: table ${table} is missing column(s) ${missing.join(', ')}`);
    let line = 0;
    const toRow = (row: Record<string, string | null>): SourceRow => {
      const values: Record<string, string | undefined> = {};
      for (const c of required) values[c] = row[c] ?? undefined;
      read.rowsRead++;
      const record = required.map((c) => row[c] ?? '');
      return { values, record: () => record, line: ++line };
    };
    if (!lookup) {
      const stream = client.query(new QueryStream(CATALOGUE_SQL.scan(table, required), [], { batchSize: 5000 }));
      const rows = (stream as AsyncIterable<Record<string, string | null>>)[Symbol.asyncIterator]();
      let batch: SourceRow[] = [];
      // After a cut the stream never ends (its cursor waits for the server to close it, node-postgres#2642): the cut ends the scan.
      for (let next = await Promise.race([rows.next(), cut]); !next.done; next = await Promise.race([rows.next(), cut])) {
        batch.push(toRow(next.value));
        if (batch.length < LOOKUP_BATCH) continue;
        yield batch;
        batch = [];
      }
      if (batch.length) yield batch;
      return;
    }
    const lookupSql = CATALOGUE_SQL.lookup(table, required, lookup.key);
    for await (const batch of lookup.idBatches()) {
      const { rows } = await client.query<Record<string, string | null>>(lookupSql, [batch.map(String)]);
      if (rows.length) yield rows.map(toRow);
    }
  } finally {
    await client.end();
  }
}
