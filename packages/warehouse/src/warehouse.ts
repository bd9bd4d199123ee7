import pg from 'pg';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { from as copyFrom } from 'pg-copy-streams';
import { redactUrl } from '@musicflow/config';
import type { RunReport } from '@musicflow/contracts';
import { DDL, ETL_RUN_COLUMNS, KPI_TABLES, RUN_SQL, upsertStatements, type KpiTableName } from './sql.ts';
import { kpiCsvRecords } from './kpi-csv.ts';

/** `copy`: COPY FROM STDIN into the stage (PostgreSQL). `insert`: multi-row INSERTs (works on any Redshift client). */
export type StageStrategy = 'copy' | 'insert';

const INSERT_BATCH_ROWS = 500;

// DATE as plain `YYYY-MM-DD`, BIGINT as number (KPI counts stay far below 2^53),
// TIMESTAMP columns hold UTC both ways.
pg.types.setTypeParser(1082, (v) => v);
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1114, (v) => new Date(`${v.replace(' ', 'T')}Z`));
pg.defaults.parseInputDatesAsUTC = true;

/** Creates the database named in the URL when it does not exist (SPEC 7.1). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`).catch((err: { code?: string }) => {
        if (err.code !== '42P04' && err.code !== '23505') throw err; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

export interface KpiLoad {
  runId: string;
  snapshotSeq: number;
  updatedAt: Date;
  genre?: () => Readable | Promise<Readable>;
  hourly?: () => Readable | Promise<Readable>;
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
  ) {}

  static async connect(url: string, strategy: StageStrategy = 'copy'): Promise<Warehouse> {
    await ensureDatabase(url);
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => undefined); // idle-client errors surface on the next query instead
    const warehouse = new Warehouse(pool, strategy);
    await warehouse.migrate();
    return warehouse;
  }

  /** Creates schema and tables on first use. */
  migrate(): Promise<void> {
    this.schemaReady ??= (async () => {
      for (const statement of DDL) {
        // Two services starting together may race on IF NOT EXISTS; the loser's duplicate error is harmless.
        await this.pool.query(statement).catch((err: { code?: string }) => {
          if (err.code !== '23505' && err.code !== '42P07' && err.code !== '42P06') throw err;
        });
      }
    })();
    return this.schemaReady;
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  /**
   * Upserts a run's KPI rows and records the run, in one transaction: each
   * table's rows go into a temporary stage (COPY or multi-row INSERT), stage
   * rows older than the warehouse's are dropped, then MERGE. Nothing is
   * visible until COMMIT; a failure leaves the tables as they were.
   */
  async loadRun(load: KpiLoad, report: RunReport): Promise<{ genre: number; hourly: number }> {
    return this.transaction(async (client) => {
      const merged = { genre: 0, hourly: 0 };
      for (const name of ['genre', 'hourly'] as const) {
        const open = load[name];
        if (!open) continue;
        const sql = upsertStatements(name);
        await client.query(sql.dropStage);
        await client.query(sql.createStage);
        await this.fillStage(client, name, await open());
        await client.query(sql.dropStale, [load.snapshotSeq]);
        const result = await client.query(sql.merge, [load.snapshotSeq, load.runId, load.updatedAt]);
        merged[name] = result.rowCount ?? 0;
        await client.query(sql.dropStage);
      }
      await writeRun(client, { ...report, kpiRows: merged });
      return merged;
    });
  }

  async recordRun(report: RunReport): Promise<void> {
    await this.transaction((client) => writeRun(client, report));
  }

  async getRun(runId: string): Promise<RunReport | undefined> {
    const { rows } = await this.pool.query<RunRow>(RUN_SQL.get, [runId]);
    return rows[0] ? JSON.parse(String(rows[0].report)) : undefined;
  }

  async listRuns(limit: number, offset: number): Promise<{ total: number; runs: RunReport[] }> {
    const [{ rows }, count] = await Promise.all([
      this.pool.query<RunRow>(RUN_SQL.list, [limit, offset]),
      this.pool.query<{ n: number }>(RUN_SQL.count),
    ]);
    return { total: Number(count.rows[0]?.n ?? 0), runs: rows.map((r) => JSON.parse(String(r.report))) };
  }

  async lastSuccessfulRunAt(): Promise<Date | undefined> {
    const { rows } = await this.pool.query<{ at: Date | null }>(RUN_SQL.lastSucceeded);
    return rows[0]?.at ?? undefined;
  }

  /** Runs and rows per run status, over every run recorded. */
  async runTotals(): Promise<RunTotalsRow[]> {
    return (await this.pool.query<RunTotalsRow>(RUN_SQL.totals)).rows;
  }

  async kpis(name: KpiTableName, listenDate: string): Promise<Record<string, unknown>[]> {
    const { rows } = await this.pool.query(upsertStatements(name).select, [listenDate]);
    return rows;
  }

  async query<T extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<T[]> {
    return (await this.pool.query<T>(text, values)).rows;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async fillStage(client: pg.PoolClient, name: KpiTableName, csv: Readable): Promise<void> {
    const sql = upsertStatements(name);
    if (this.strategy === 'copy') {
      await pipeline(csv, client.query(copyFrom(sql.copyStage)));
      return;
    }
    let batch: (string | null)[][] = [];
    const flush = async () => {
      if (batch.length) await client.query(sql.insertStage(batch.length), batch.flat());
      batch = [];
    };
    for await (const record of kpiCsvRecords(csv)) {
      batch.push(record);
      if (batch.length === INSERT_BATCH_ROWS) await flush();
    }
    await flush();
  }

  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

async function writeRun(client: pg.PoolClient, report: RunReport): Promise<void> {
  const values: Record<(typeof ETL_RUN_COLUMNS)[number], unknown> = {
    run_id: report.runId,
    trigger: report.trigger,
    status: report.status,
    started_at: new Date(report.startedAt),
    finished_at: report.finishedAt ? new Date(report.finishedAt) : null,
    streams_url: redactUrl(report.sources.streams),
    files_total: report.files.total,
    files_loaded: report.files.loaded.length,
    files_rejected: report.files.rejected.length,
    rows_read: report.rows.read,
    rows_valid: report.rows.valid,
    rows_rejected: report.rows.rejected,
    rows_duplicate: report.rows.duplicate,
    rows_orphan: report.rows.orphanTracks,
    rows_orphan_user: report.rows.orphanUsers,
    kpi_rows: report.kpiRows.genre + report.kpiRows.hourly,
    error: report.error?.slice(0, 4000) ?? null,
    report: JSON.stringify(report),
  };
  await client.query(RUN_SQL.delete, [report.runId]);
  await client.query(RUN_SQL.insert, ETL_RUN_COLUMNS.map((c) => values[c]));
}

export { KPI_TABLES };
