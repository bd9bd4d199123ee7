/**
 * Every SQL statement musicflow runs, in one place. Portable between
 * PostgreSQL >= 15 and Amazon Redshift: no ON CONFLICT, no SERIAL/TEXT/JSON,
 * MERGE from a (temporary) table with no target alias.
 */

interface Column {
  name: string;
  type: string;
}

interface KpiTable {
  table: string;
  stage: string;
  keys: string[];
  /** KPI columns in CSV order; run_id, snapshot_seq and updated_at are added by the load. */
  columns: Column[];
}

export const KPI_TABLES = {
  genre: {
    table: 'analytics.genre_kpis',
    stage: 'stage_genre_kpis',
    keys: ['listen_date', 'genre'],
    columns: [
      { name: 'listen_date', type: 'DATE NOT NULL' },
      { name: 'genre', type: 'VARCHAR(256) NOT NULL' },
      { name: 'listen_count', type: 'BIGINT NOT NULL' },
      { name: 'avg_track_duration_ms', type: 'DOUBLE PRECISION' },
      { name: 'avg_popularity', type: 'DOUBLE PRECISION' },
      { name: 'popularity_index', type: 'DOUBLE PRECISION' },
      { name: 'most_popular_track_id', type: 'VARCHAR(64)' },
      { name: 'most_popular_track_name', type: 'VARCHAR(1024)' },
      { name: 'most_popular_track_plays', type: 'BIGINT' },
    ],
  },
  hourly: {
    table: 'analytics.hourly_kpis',
    stage: 'stage_hourly_kpis',
    keys: ['listen_date', 'listen_hour'],
    columns: [
      { name: 'listen_date', type: 'DATE NOT NULL' },
      { name: 'listen_hour', type: 'SMALLINT NOT NULL' },
      { name: 'unique_listeners', type: 'BIGINT NOT NULL' },
      { name: 'total_plays', type: 'BIGINT NOT NULL' },
      { name: 'unique_tracks', type: 'BIGINT NOT NULL' },
      { name: 'track_diversity_index', type: 'DOUBLE PRECISION' },
      { name: 'top_artist', type: 'VARCHAR(1024)' },
      { name: 'top_artist_plays', type: 'BIGINT' },
    ],
  },
} as const satisfies Record<string, KpiTable>;

export type KpiTableName = keyof typeof KPI_TABLES;

const LOAD_COLUMNS: Column[] = [
  /** Orders concurrent loads of one date: a lower sequence never overwrites a higher one. */
  { name: 'snapshot_seq', type: 'BIGINT NOT NULL' },
  { name: 'run_id', type: 'VARCHAR(64) NOT NULL' },
  { name: 'updated_at', type: 'TIMESTAMP NOT NULL' },
];

const columnList = (cols: Column[]) => cols.map((c) => `${c.name} ${c.type}`).join(',\n  ');

export const ETL_RUN_COLUMNS = [
  'run_id', 'trigger', 'status', 'started_at', 'finished_at', 'streams_url', 'files_total', 'files_loaded',
  'files_rejected', 'rows_read', 'rows_valid', 'rows_rejected', 'rows_duplicate', 'rows_orphan', 'rows_orphan_user',
  'kpi_rows', 'error', 'report',
] as const;

export const DDL = [
  `CREATE SCHEMA IF NOT EXISTS analytics`,
  ...Object.values(KPI_TABLES).map(
    (t) => `CREATE TABLE IF NOT EXISTS ${t.table} (
  ${columnList([...t.columns, ...LOAD_COLUMNS])},
  PRIMARY KEY (${t.keys.join(', ')})
)`,
  ),
  `CREATE TABLE IF NOT EXISTS analytics.etl_runs (
  run_id VARCHAR(64) NOT NULL,
  trigger VARCHAR(32) NOT NULL,
  status VARCHAR(16) NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  streams_url VARCHAR(1024),
  files_total INTEGER,
  files_loaded INTEGER,
  files_rejected INTEGER,
  rows_read BIGINT,
  rows_valid BIGINT,
  rows_rejected BIGINT,
  rows_duplicate BIGINT,
  rows_orphan BIGINT,
  rows_orphan_user BIGINT,
  kpi_rows BIGINT,
  error VARCHAR(4096),
  report VARCHAR(65535),
  PRIMARY KEY (run_id)
)`,
];

/** Statements of one upsert, run in one transaction: stage, drop stale rows, MERGE, drop stage. */
export function upsertStatements(name: KpiTableName) {
  const t: KpiTable = KPI_TABLES[name];
  const cols = t.columns.map((c) => c.name);
  const keyMatch = (left: string, right: string) => t.keys.map((k) => `${left}.${k} = ${right}.${k}`).join(' AND ');
  const all = [...cols, ...LOAD_COLUMNS.map((c) => c.name)];
  return {
    createStage: `CREATE TEMP TABLE ${t.stage} (\n  ${columnList(t.columns)}\n)`,
    dropStage: `DROP TABLE IF EXISTS ${t.stage}`,
    copyStage: `COPY ${t.stage} (${cols.join(', ')}) FROM STDIN WITH (FORMAT csv)`,
    insertStage: (rows: number) => {
      const tuples = Array.from({ length: rows }, (_, r) => `(${cols.map((_, c) => `$${r * cols.length + c + 1}`).join(', ')})`);
      return `INSERT INTO ${t.stage} (${cols.join(', ')}) VALUES ${tuples.join(', ')}`;
    },
    columnCount: cols.length,
    /** $1 = snapshot sequence of this load. */
    dropStale: `DELETE FROM ${t.stage} USING ${t.table} WHERE ${keyMatch(t.stage, t.table)} AND ${t.table}.snapshot_seq > $1`,
    /** $1 = snapshot sequence, $2 = run id, $3 = updated at. */
    merge: `MERGE INTO ${t.table} USING ${t.stage} s ON ${keyMatch(t.table, 's')}
WHEN MATCHED THEN UPDATE SET ${[...cols.filter((c) => !t.keys.includes(c)).map((c) => `${c} = s.${c}`), 'snapshot_seq = $1', 'run_id = $2', 'updated_at = $3'].join(', ')}
WHEN NOT MATCHED THEN INSERT (${all.join(', ')}) VALUES (${[...cols.map((c) => `s.${c}`), '$1', '$2', '$3'].join(', ')})`,
    select: `SELECT ${all.join(', ')} FROM ${t.table} WHERE listen_date = $1 ORDER BY ${t.keys.join(', ')}`,
  };
}

export const RUN_SQL = {
  delete: `DELETE FROM analytics.etl_runs WHERE run_id = $1`,
  insert: `INSERT INTO analytics.etl_runs (${ETL_RUN_COLUMNS.join(', ')}) VALUES (${ETL_RUN_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
  get: `SELECT ${ETL_RUN_COLUMNS.join(', ')} FROM analytics.etl_runs WHERE run_id = $1`,
  list: `SELECT ${ETL_RUN_COLUMNS.join(', ')} FROM analytics.etl_runs ORDER BY started_at DESC, run_id DESC LIMIT $1 OFFSET $2`,
  count: `SELECT COUNT(*) AS n FROM analytics.etl_runs`,
  lastSucceeded: `SELECT MAX(finished_at) AS at FROM analytics.etl_runs WHERE status IN ('succeeded', 'partial')`,
  // Runs and rows per status, for the API's metrics.
  totals: `SELECT status, COUNT(*) AS runs, COALESCE(SUM(rows_read), 0) AS rows_read,
  COALESCE(SUM(rows_valid), 0) AS rows_valid, COALESCE(SUM(rows_rejected), 0) AS rows_rejected,
  COALESCE(SUM(rows_duplicate), 0) AS rows_duplicate
FROM analytics.etl_runs GROUP BY status`,
};
