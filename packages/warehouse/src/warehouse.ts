import pg from 'pg';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import type { PostgresTarget } from '@musicflow/config';
import type { RunFile, RunReport } from '@musicflow/contracts';
import { withSpan, type Attributes } from '@musicflow/telemetry';
import {
  CATALOG_SQL,
  ETL_RUN_COLUMNS,
  ETL_RUN_TEXT_BYTES,
  KPI_TABLES,
  MIGRATION_SQL,
  RUN_FILE_COLUMNS,
  RUN_FILES_SQL,
  RUN_CHECKS_SQL,
  RUN_SQL,
  SOURCE_HEADERS_SQL,
  upsertStatements,
  type KpiTableName,
} from './sql.ts';
import { explainConnectionError, warehouseTarget } from './connection-errors.ts';
import { kpiCsvRecords } from './kpi-csv.ts';
import { fitRunRecord } from './run-record.ts';
import { cutToBytes, fitText } from './text-contract.ts';
import { applyMigrations } from './migrations.ts';
import { inTransaction } from './transaction.ts';
import { checkStagedDates, reportWithChecks, writeChecks, type CheckSettings, type LoadedDate } from './checks.ts';
import { clientOptions, utcTimestamp } from './client-options.ts';

/** `copy`: COPY FROM STDIN into the stage (PostgreSQL). `insert`: multi-row INSERTs (works on any Redshift client). */
export type StageStrategy = 'copy' | 'insert';

const INSERT_BATCH_ROWS = 500;
/** Eight values a file row: well under PostgreSQL's 65535 parameters and Redshift's 16 MB statements. */
const FILE_BATCH_ROWS = 1000;

/** Databases tried, in order, to create a missing one: PostgreSQL's default, then the one every server has. */
const ADMIN_DATABASES = ['postgres', 'template1'];

/**
 * Makes sure the database named in the URL exists (SPEC 7.1) without ever
 * needing another one: it connects to the target first, and only when that
 * database does not exist (3D000) creates it through an admin database. A
 * failure is a WarehouseConnectionError saying what happened and the fix.
 */
export async function ensureDatabase(to: string | PostgresTarget): Promise<void> {
  const target = warehouseTarget(to);
  const client = new pg.Client(clientOptions(target));
  try {
    await client.connect();
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw explainConnectionError(target, err);
  } finally {
    await client.end().catch(() => undefined);
  }
  await createDatabase(target);
}

async function createDatabase(target: PostgresTarget): Promise<void> {
  const name = decodeURIComponent(new URL(target.url).pathname.replace(/^\//, ''));
  let lastError: unknown;
  for (const adminDatabase of ADMIN_DATABASES) {
    const admin = new URL(target.url);
    admin.pathname = `/${adminDatabase}`;
    const client = new pg.Client(clientOptions({ ...target, url: admin.toString() }));
    try {
      await client.connect();
      const { rowCount } = await client.query(CATALOG_SQL.database, [name]);
      if (!rowCount) {
        await client.query(CATALOG_SQL.createDatabase(name)).catch((err: { code?: string }) => {
          if (err.code !== '42P04' && err.code !== '23505') throw err; // created meanwhile by another process
        });
      }
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const reason = (lastError as Error | undefined)?.message ?? 'no admin database answered';
  throw explainConnectionError(target, { code: '3D000', message: `database "${name}" does not exist, and creating it failed: ${reason}` });
}

export interface KpiLoad {
  runId: string;
  snapshotSeq: number;
  updatedAt: Date;
  genre?: () => Readable | Promise<Readable>;
  hourly?: () => Readable | Promise<Readable>;
  /** The dates to check before the merge (checks.ts), and how. */
  checks?: { dates: LoadedDate[]; settings: CheckSettings };
}

/** A run's files for `analytics.etl_run_files`, in batches of any size (a read of the run's file list each). */
export type RunFileBatches = AsyncIterable<readonly RunFile[]> | Iterable<readonly RunFile[]>;

/** What a load merged, and the run's report as recorded (with its checks). */
export interface LoadOutcome {
  kpiRows: { genre: number; hourly: number };
  report: RunReport;
}

type RunRow = Record<(typeof ETL_RUN_COLUMNS)[number], unknown>;

/** One status's runs and row counts (BIGINT sums arrive as strings). */
export interface RunTotalsRow {
  status: string;
  runs: number | string;
  rows_read: number | string;
  rows_valid: number | string;
  rows_rejected: number | string;
  rows_duplicate: number | string;
}

/** The warehouse: KPI tables, run records, and the staged MERGE load. */
export class Warehouse {
  private schemaReady?: Promise<void>;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly strategy: StageStrategy,
    private readonly target: PostgresTarget,
  ) {}

  /** `to`: the warehouse's URL, or its target (WAREHOUSE_URL with its password file, postgresTarget). */
  static async connect(to: string | PostgresTarget, strategy: StageStrategy = 'copy'): Promise<Warehouse> {
    const target = warehouseTarget(to);
    await ensureDatabase(target);
    const pool = new pg.Pool({ ...clientOptions(target), max: 4 });
    pool.on('error', () => undefined); // idle-client errors surface on the next query instead
    const warehouse = new Warehouse(pool, strategy, target);
    try {
      await warehouse.migrate();
    } catch (err) {
      await pool.end();
      throw err;
    }
    return warehouse;
  }

  /** Applies the pending migrations (migrations.ts), once per process unless `recreateSchema` asks again. */
  migrate(): Promise<void> {
    this.schemaReady ??= applyMigrations(this.pool, this.target).catch((err) => {
      this.schemaReady = undefined;
      throw err;
    });
    return this.schemaReady;
  }

  /** Migrates again, even if this process did before (a recompute after a warehouse wipe). */
  recreateSchema(): Promise<void> {
    this.schemaReady = undefined;
    return this.migrate();
  }

  /** The migrations recorded in analytics.schema_migrations, oldest first. */
  async appliedMigrations(): Promise<{ version: number; name: string; appliedAt: Date }[]> {
    const { rows } = await this.pool.query<{ version: number; name: string; applied_at: Date }>(MIGRATION_SQL.list);
    return rows.map((r) => ({ version: r.version, name: r.name, appliedAt: r.applied_at }));
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /**
   * Upserts a run's KPI rows and records the run, in one transaction: each
   * table's rows go into a temporary stage (COPY or multi-row INSERT), stage
   * rows older than the warehouse's are dropped, the data checks judge each
   * date as it will be after the merge (and may take a date out of the
   * stages), then MERGE. Nothing is visible until COMMIT; a failure leaves
   * the tables as they were.
   *
   * REPEATABLE READ (on Redshift every level is serializable): under READ
   * COMMITTED a load whose stale-row check ran before a concurrent newer load
   * committed went on to MERGE its older rows over the newer ones once their
   * row locks were released. Now that load fails instead (40001, or 23505 for
   * a key both inserted) and its retry sees the newer rows.
   */
  async loadRun(load: KpiLoad, report: RunReport, files: RunFileBatches = []): Promise<LoadOutcome> {
    return this.span('loadRun', { 'musicflow.run.id': load.runId }, () => this.upsertRun(load, report, files));
  }

  private upsertRun(load: KpiLoad, report: RunReport, files: RunFileBatches): Promise<LoadOutcome> {
    return this.transaction('REPEATABLE READ', async (client) => {
      const kpiRows = { genre: 0, hourly: 0 };
      const filled = { genre: { batchStart: 0 }, hourly: { batchStart: 0 } };
      /** Runs one table's step, naming a refused row or a concurrent load. */
      const step = async (name: KpiTableName, work: (sql: ReturnType<typeof upsertStatements>) => Promise<void>) => {
        try {
          await work(upsertStatements(name));
        } catch (err) {
          if (isConcurrentLoad(err)) {
            throw new Error(`${KPI_TABLES[name].table}: a concurrent load changed the same rows first (${err.code}); the retry loads over its rows`, {
              cause: err,
            });
          }
          const open = load[name];
          if (!isDataError(err) || !open) throw err;
          throw await describeDataError(err, name, open, filled[name].batchStart, () => this.targetColumns(KPI_TABLES[name].table));
        }
      };
      // Both stages first (the checks read both), even empty ones.
      for (const name of ['genre', 'hourly'] as const) {
        await step(name, async (sql) => {
          await client.query(sql.dropStage);
          await client.query(sql.createStage);
          const open = load[name];
          if (open) await this.fillStage(client, name, await open(), filled[name]);
          await client.query(sql.dropStale, [load.snapshotSeq]);
        });
      }
      const checked = load.checks && (await checkStagedDates(client, load.checks.dates, load.snapshotSeq, load.checks.settings));
      for (const name of ['genre', 'hourly'] as const) {
        await step(name, async (sql) => {
          if (load[name]) {
            kpiRows[name] = await this.span('MERGE', { 'db.collection.name': KPI_TABLES[name].table }, async (span) => {
              const merged = (await client.query(sql.merge, [load.snapshotSeq, load.runId, utcTimestamp(load.updatedAt)])).rowCount ?? 0;
              span?.setAttribute('db.response.returned_rows', merged);
              return merged;
            });
          }
          await client.query(sql.dropStage);
        });
      }
      const recorded = { ...(checked ? reportWithChecks(report, checked, load.checks!.settings) : report), kpiRows };
      await writeRun(client, recorded);
      await writeRunFiles(client, report.runId, files, this.strategy);
      if (checked) await writeChecks(client, report.runId, checked, load.updatedAt);
      return { kpiRows, report: recorded };
    });
  }

  /** Records a run; a record the warehouse refuses (a data error, every time) throws a WarehouseDataError. */
  async recordRun(report: RunReport): Promise<void> {
    try {
      await this.span('recordRun', { 'musicflow.run.id': report.runId }, () => this.transaction('READ COMMITTED', (client) => writeRun(client, report)));
    } catch (err) {
      if (!isDataError(err)) throw err;
      throw new WarehouseDataError(
        `analytics.etl_runs refused the record of run ${report.runId}: ${err.message} (SQLSTATE ${err.code})`,
        err.code!,
        'analytics.etl_runs',
      );
    }
  }

  async getRun(runId: string): Promise<RunReport | undefined> {
    const { rows } = await this.span('getRun', { 'musicflow.run.id': runId }, () => this.pool.query<RunRow>(RUN_SQL.get, [runId]));
    return rows[0] ? JSON.parse(String(rows[0].report)) : undefined;
  }

  async listRuns(limit: number, offset: number): Promise<{ total: number; runs: RunReport[] }> {
    const [{ rows }, count] = await Promise.all([this.pool.query<RunRow>(RUN_SQL.list, [limit, offset]), this.pool.query<{ n: number }>(RUN_SQL.count)]);
    return { total: Number(count.rows[0]?.n ?? 0), runs: rows.map((r) => JSON.parse(String(r.report))) };
  }

  /** Deletes the per-file rows of the runs started before `before`; returns how many went. */
  async pruneRunFiles(before: Date): Promise<number> {
    return (await this.pool.query(RUN_FILES_SQL.prune, [utcTimestamp(before)])).rowCount ?? 0;
  }

  /** One page of a run's files, by name; `status` filters. */
  async listRunFiles(runId: string, status: RunFile['status'] | undefined, limit: number, offset: number): Promise<{ total: number; files: RunFile[] }> {
    const [{ rows }, count] = await Promise.all([
      this.pool.query<Record<(typeof RUN_FILE_COLUMNS)[number], string | number | null>>(RUN_FILES_SQL.list, [runId, status ?? null, limit, offset]),
      this.pool.query<{ n: number }>(RUN_FILES_SQL.count, [runId, status ?? null]),
    ]);
    return {
      total: Number(count.rows[0]?.n ?? 0),
      files: rows.map((r) => ({
        file: String(r.file),
        status: r.status as RunFile['status'],
        rowsRead: Number(r.rows_read),
        rowsValid: Number(r.rows_valid),
        rowsRejected: Number(r.rows_rejected),
        duplicate: Number(r.rows_duplicate),
        reason: r.reason == null ? undefined : String(r.reason),
      })),
    };
  }

  async lastSuccessfulRunAt(): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ at: Date | null }>(RUN_SQL.lastSucceeded);
    return rows[0]?.at ?? undefined;
  }

  /** Runs and rows per run status, over every run recorded. */
  async runTotals(): Promise<RunTotalsRow[]> {
    return (await this.pool.query<RunTotalsRow>(RUN_SQL.totals)).rows;
  }

  /** A run's rows of analytics.etl_source_headers (SOURCE_HEADER_COLUMNS order), replacing an earlier attempt's. */
  async recordSourceHeaders(runId: string, rows: readonly unknown[][]): Promise<void> {
    await this.transaction('READ COMMITTED', async (client) => {
      await client.query(SOURCE_HEADERS_SQL.delete, [runId]);
      if (rows.length) await client.query(SOURCE_HEADERS_SQL.insert(rows.length), rows.flat());
    });
  }

  /** Failed checks and dates kept out, per check and severity, over every load (analytics.etl_checks). */
  async checkFailures(): Promise<{ check: string; severity: string; failed: number; blocked: number }[]> {
    const { rows } = await this.pool.query<{ check_name: string; severity: string; failed: string; blocked: string }>(RUN_CHECKS_SQL.failures);
    return rows.map((r) => ({ check: r.check_name, severity: r.severity, failed: Number(r.failed), blocked: Number(r.blocked) }));
  }

  /** Per source, the columns added, missing and renamed in the newest run that read it (analytics.etl_source_headers). */
  async newestSchemaDrift(): Promise<{ source: string; added: number; missing: number; renamed: number }[]> {
    const { rows } = await this.pool.query<{ source: string; added: string; missing: string; renamed: string }>(SOURCE_HEADERS_SQL.newestDrift);
    return rows.map((r) => ({ source: r.source, added: Number(r.added), missing: Number(r.missing), renamed: Number(r.renamed) }));
  }

  async kpis(name: KpiTableName, listenDate: string): Promise<Record<string, unknown>[]> {
    const { rows } = await this.pool.query(upsertStatements(name).select, [listenDate]);
    return rows;
  }

  async query<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> {
    return (await this.span('query', { 'db.query.text': text }, () => this.pool.query<T>(text, values))).rows;
  }

  /** A span (tracing on) for one warehouse call, with the database's OpenTelemetry attributes. */
  private span<T>(operation: string, attributes: Attributes, fn: Parameters<typeof withSpan<T>>[2]): Promise<T> {
    const database = decodeURIComponent(new URL(this.target.url).pathname.slice(1)) || 'postgres';
    return withSpan(`warehouse ${operation}`, { 'db.system.name': 'postgresql', 'db.namespace': database, 'db.operation.name': operation, ...attributes }, fn);
  }

  /** The table's columns as the warehouse has them (on the pool: the load's transaction is aborted by then). */
  private async targetColumns(table: string): Promise<TargetColumn[]> {
    const [schema, name] = table.split('.') as [string, string];
    const { rows } = await this.pool.query<{ column_name: string; character_maximum_length: number | null; is_nullable: string }>(RUN_SQL.columns, [
      schema,
      name,
    ]);
    return rows.map((r) => ({ name: r.column_name, maxLength: r.character_maximum_length, nullable: r.is_nullable === 'YES' }));
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** `filled.batchStart`: the first record of the INSERT batch being sent, for naming the row a data error is about. */
  private async fillStage(client: pg.PoolClient, name: KpiTableName, csv: Readable, filled: { batchStart: number }): Promise<void> {
    const sql = upsertStatements(name);
    if (this.strategy === 'copy') {
      await pipeline(csv, client.query(copyFrom(sql.copyStage)));
      return;
    }
    let batch: (string | null)[][] = [];
    const flush = async () => {
      if (batch.length) await client.query(sql.insertStage(batch.length), batch.flat());
      filled.batchStart += batch.length;
      batch = [];
    };
    for await (const record of kpiCsvRecords(csv)) {
      batch.push(record);
      if (batch.length === INSERT_BATCH_ROWS) await flush();
    }
    await flush();
  }

  private transaction<T>(isolation: 'READ COMMITTED' | 'REPEATABLE READ', work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, `BEGIN ISOLATION LEVEL ${isolation}`, work);
  }
}

/**
 * A row the warehouse refused (SQLSTATE class 21 cardinality, 22 data
 * exception, 23 integrity): loading it again gives the same answer, so the
 * loader fails the run at once instead of retrying. A unique violation
 * (23505) or a serialization failure (40001) is a concurrent load that
 * committed the same rows first: a retry succeeds.
 */
export class WarehouseDataError extends Error {
  constructor(
    message: string,
    readonly sqlState: string,
    readonly table: string,
    readonly listenDate?: string,
    readonly key?: Record<string, string | null>,
    readonly column?: string,
  ) {
    super(message);
    this.name = 'WarehouseDataError';
  }
}

function isDataError(err: unknown): err is pg.DatabaseError {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[123]/.test(code) && !isConcurrentLoad(err);
}

/** A serialization failure, or a unique violation: a concurrent load committed the same rows first. */
function isConcurrentLoad(err: unknown): err is pg.DatabaseError {
  const code = (err as { code?: unknown }).code;
  return code === '40001' || code === '23505';
}

const shown = (value: string | null | undefined) => (value == null ? 'NULL' : JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value));

interface TargetColumn {
  name: string;
  /** VARCHAR(n): n, as the warehouse has it (a table created by an older release may differ from sql.ts). */
  maxLength: number | null;
  nullable: boolean;
}

/**
 * The refused row's date, key and column: from PostgreSQL's context (`COPY
 * stage, line N, column C`, or `parameter $P` of a multi-row INSERT), else
 * (the MERGE refused it) the first row of the table's CSV that the target
 * table's columns cannot hold: a NUL, more characters than its VARCHAR(n),
 * NULL in a NOT NULL column.
 */
async function describeDataError(
  err: pg.DatabaseError,
  name: KpiTableName,
  open: () => Readable | Promise<Readable>,
  batchStart: number,
  target: () => Promise<TargetColumn[]>,
): Promise<WarehouseDataError> {
  const t = KPI_TABLES[name];
  const columns: string[] = t.columns.map((c) => c.name);
  const copy = /line (\d+)(?:, column (\w+))?/.exec(err.where ?? '');
  const param = /parameter \$(\d+)/.exec(err.where ?? '');
  let record: number | undefined;
  let column = err.column;
  if (copy) {
    record = Number(copy[1]) - 1;
    column ??= copy[2];
  } else if (param) {
    const p = Number(param[1]) - 1;
    record = batchStart + Math.floor(p / columns.length);
    column ??= columns[p % columns.length];
  }
  const types = record === undefined ? await target().catch(() => []) : [];
  const typeOf = new Map(types.map((c) => [c.name, c]));
  const refusedColumn = (values: (string | null)[]) =>
    columns.findIndex((c, i) => {
      const type = typeOf.get(c);
      const value = values[i] ?? null;
      if (!type) return false;
      if (value === null) return !type.nullable;
      return value.includes('\0') || (type.maxLength !== null && [...value].length > type.maxLength);
    });
  let row: (string | null)[] | undefined;
  let index = 0;
  for await (const values of kpiCsvRecords(await open())) {
    const refused = record === undefined ? refusedColumn(values) : -1;
    if (index === record || refused >= 0) {
      row = values;
      if (refused >= 0) column ??= columns[refused];
      break;
    }
    index++;
  }
  const at = (c: string) => row?.[columns.indexOf(c)] ?? null;
  const listenDate = row ? (at('listen_date') ?? undefined) : undefined;
  const key = row ? Object.fromEntries(t.keys.map((k) => [k, at(k)])) : undefined;
  const where = row
    ? `${listenDate} into ${t.table}, key (${t.keys.map((k) => `${k}=${shown(at(k))}`).join(', ')})${column ? `, column ${column} = ${shown(at(column))}` : ''}`
    : `${t.table}${column ? `, column ${column}` : ''} (row not identified)`;
  const message = `the warehouse refused a row loading ${where}: ${err.message} (SQLSTATE ${err.code}); nothing of the run was loaded, fix the source or the table and run again`;
  return new WarehouseDataError(message, err.code!, t.table, listenDate, key, column);
}

async function writeRun(client: pg.PoolClient, given: RunReport): Promise<void> {
  const report = fitRunRecord(given);
  const values: Record<(typeof ETL_RUN_COLUMNS)[number], unknown> = {
    run_id: report.runId,
    trigger: report.trigger,
    status: report.status,
    started_at: utcTimestamp(new Date(report.startedAt)),
    finished_at: report.finishedAt ? utcTimestamp(new Date(report.finishedAt)) : null,
    // The report's texts are redacted and cut already; control characters (NUL) are not text PostgreSQL takes.
    streams_url: fitText(report.sources.streams, ETL_RUN_TEXT_BYTES.streams_url, 'label').text,
    files_total: report.files.total,
    files_loaded: report.files.loaded,
    files_rejected: report.files.rejected,
    rows_read: report.rows.read,
    rows_valid: report.rows.valid,
    rows_rejected: report.rows.rejected,
    rows_duplicate: report.rows.duplicate,
    rows_orphan: report.rows.orphanTracks,
    rows_orphan_user: report.rows.orphanUsers,
    kpi_rows: report.kpiRows.genre + report.kpiRows.hourly,
    error: report.error === undefined ? null : fitText(report.error, ETL_RUN_TEXT_BYTES.error, 'label').text,
    report: JSON.stringify(report),
    musicflow_version: report.build ? cutToBytes(report.build.version, 64) : null,
    git_commit: report.build?.commit ? cutToBytes(report.build.commit, 64) : null,
    settings_hash: report.build?.settingsHash ?? null,
  };
  await client.query(RUN_SQL.delete, [report.runId]);
  await client.query(
    RUN_SQL.insert,
    ETL_RUN_COLUMNS.map((c) => values[c]),
  );
}

export { KPI_TABLES };

/** `etl_run_files.file` is a VARCHAR(2048): a file's URL (up to MAX_FILE_KEY_BYTES, percent-encoded, under its folder) may be longer. */
const RUN_FILE_NAME_BYTES = 2048;

/** A run's files, replacing any recorded by an earlier attempt, in batches of multi-row INSERTs (portable to Redshift). */
async function writeRunFiles(client: pg.PoolClient, runId: string, files: RunFileBatches, strategy: StageStrategy): Promise<void> {
  await client.query(RUN_FILES_SQL.delete, [runId]);
  const rowOf = (f: RunFile) => [
    runId,
    // A key: a name cut to fit keeps a digest of the whole, so two long names stay two rows.
    fitText(f.file, RUN_FILE_NAME_BYTES, 'key').text,
    f.status,
    f.rowsRead,
    f.rowsValid,
    f.rowsRejected,
    f.duplicate,
    f.reason ? cutToBytes(f.reason, 4096) : null,
  ];
  if (strategy === 'copy') {
    // CSV for COPY: an empty unquoted field is NULL (a reason), names are never empty. A batch of rows a piece:
    // a piece a row was a socket write a row (100k files: a second of the load).
    const csv = Readable.from(
      (async function* () {
        for await (const batch of fileBatches(files)) yield batch.map((f) => csvLine(rowOf(f))).join('');
      })(),
    );
    await pipeline(csv, client.query(copyFrom(RUN_FILES_SQL.copy)));
    return;
  }
  for await (const batch of fileBatches(files)) await client.query(RUN_FILES_SQL.insert(batch.length), batch.flatMap(rowOf));
}

/**
 * A row as a CSV line for COPY, as csv-stringify writes it: a field holding a comma, a quote or a line end is
 * quoted (its quotes doubled), null is an empty field (NULL). Made here: csv-stringify took 3.7 KB a row
 * (100k files: 370 MB to collect).
 */
function csvLine(values: readonly (string | number | null)[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    const text = value === null || value === undefined ? '' : String(value);
    line += (i ? ',' : '') + (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
  }
  return `${line}\n`;
}

/** `files` in batches of FILE_BATCH_ROWS. */
async function* fileBatches(files: RunFileBatches): AsyncGenerator<RunFile[]> {
  let batch: RunFile[] = [];
  for await (const given of files) {
    for (const file of given) {
      batch.push(file);
      if (batch.length === FILE_BATCH_ROWS) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length) yield batch;
}
