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

/** Columns the load adds to every KPI row; snapshot_seq orders concurrent loads of one date: a lower sequence never overwrites a higher one. */
const LOAD_COLUMNS = ['snapshot_seq', 'run_id', 'updated_at'];

const columnList = (cols: Column[]) => cols.map((c) => `${c.name} ${c.type}`).join(',\n  ');

/** A multi-row INSERT of `rows` rows of `columns`, numbered placeholders row by row. */
const insertRows = (table: string, columns: readonly string[], rows: number) =>
  `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${Array.from(
    { length: rows },
    (_, r) => `(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`,
  ).join(', ')}`;

/** Widths (bytes on Redshift) of analytics.etl_runs' free-text columns: a run's record is fitted to them. */
export const ETL_RUN_TEXT_BYTES = { streams_url: 1024, error: 4096, report: 65535 } as const;

/** Widths (bytes on Redshift) of analytics.etl_checks' text columns. */
export const ETL_CHECK_TEXT_BYTES = { expected: 256, detail: 1024 } as const;
/** Width (bytes on Redshift) of a source's URL and of its columns as JSON in analytics.etl_source_headers. */
export const SOURCE_HEADER_BYTES = { url: 1024, columns: 65535 } as const;

export const ETL_RUN_COLUMNS = [
  'run_id',
  'trigger',
  'status',
  'started_at',
  'finished_at',
  'streams_url',
  'files_total',
  'files_loaded',
  'files_rejected',
  'rows_read',
  'rows_valid',
  'rows_rejected',
  'rows_duplicate',
  'rows_orphan',
  'rows_orphan_user',
  'kpi_rows',
  'error',
  'report',
  'musicflow_version',
  'git_commit',
  'settings_hash',
] as const;

/**
 * A numbered schema change. Each is applied once, in order, inside one
 * transaction that holds the lock on analytics.schema_migrations, and recorded
 * there. A migration that has shipped is never edited: change the schema with
 * the next one. Portable SQL only (see the top of this file); Redshift runs
 * ALTER TABLE ... ADD COLUMN in a transaction but not ALTER COLUMN ... TYPE.
 */
export interface Migration {
  version: number;
  name: string;
  statements: readonly string[];
}

export const MIGRATIONS: readonly Migration[] = [
  {
    // The schema services created before migrations were numbered (IF NOT EXISTS: a database made then passes through).
    version: 1,
    name: 'KPI tables, run records, run files',
    statements: [
      `CREATE SCHEMA IF NOT EXISTS analytics`,
      `CREATE TABLE IF NOT EXISTS analytics.genre_kpis (
  listen_date DATE NOT NULL,
  genre VARCHAR(256) NOT NULL,
  listen_count BIGINT NOT NULL,
  avg_track_duration_ms DOUBLE PRECISION,
  avg_popularity DOUBLE PRECISION,
  popularity_index DOUBLE PRECISION,
  most_popular_track_id VARCHAR(64),
  most_popular_track_name VARCHAR(1024),
  most_popular_track_plays BIGINT,
  snapshot_seq BIGINT NOT NULL,
  run_id VARCHAR(64) NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (listen_date, genre)
)`,
      `CREATE TABLE IF NOT EXISTS analytics.hourly_kpis (
  listen_date DATE NOT NULL,
  listen_hour SMALLINT NOT NULL,
  unique_listeners BIGINT NOT NULL,
  total_plays BIGINT NOT NULL,
  unique_tracks BIGINT NOT NULL,
  track_diversity_index DOUBLE PRECISION,
  top_artist VARCHAR(1024),
  top_artist_plays BIGINT,
  snapshot_seq BIGINT NOT NULL,
  run_id VARCHAR(64) NOT NULL,
  updated_at TIMESTAMP NOT NULL,
  PRIMARY KEY (listen_date, listen_hour)
)`,
      `CREATE TABLE IF NOT EXISTS analytics.etl_runs (
  run_id VARCHAR(64) NOT NULL,
  trigger VARCHAR(32) NOT NULL,
  status VARCHAR(16) NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  streams_url VARCHAR(${ETL_RUN_TEXT_BYTES.streams_url}),
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
  error VARCHAR(${ETL_RUN_TEXT_BYTES.error}),
  report VARCHAR(${ETL_RUN_TEXT_BYTES.report}),
  PRIMARY KEY (run_id)
)`,
      `CREATE TABLE IF NOT EXISTS analytics.etl_run_files (
  run_id VARCHAR(64) NOT NULL,
  file VARCHAR(2048) NOT NULL,
  status VARCHAR(16) NOT NULL,
  rows_read BIGINT NOT NULL,
  rows_valid BIGINT NOT NULL,
  rows_rejected BIGINT NOT NULL,
  rows_duplicate BIGINT NOT NULL,
  reason VARCHAR(4096),
  PRIMARY KEY (run_id, file)
)`,
    ],
  },
  {
    // Which code and settings made a run's numbers; KPI rows join their run by run_id (docs/operating-warehouse.md).
    version: 2,
    name: 'run version, commit and KPI settings hash',
    statements: [
      `ALTER TABLE analytics.etl_runs ADD COLUMN musicflow_version VARCHAR(64)`,
      `ALTER TABLE analytics.etl_runs ADD COLUMN git_commit VARCHAR(64)`,
      `ALTER TABLE analytics.etl_runs ADD COLUMN settings_hash VARCHAR(64)`,
    ],
  },
  {
    version: 3,
    name: 'check history, source headers',
    statements: [
      `CREATE TABLE IF NOT EXISTS analytics.etl_checks (
  run_id VARCHAR(64) NOT NULL,
  listen_date DATE NOT NULL,
  check_name VARCHAR(64) NOT NULL,
  severity VARCHAR(8) NOT NULL,
  passed BOOLEAN NOT NULL,
  blocked BOOLEAN NOT NULL,
  value DOUBLE PRECISION,
  expected VARCHAR(${ETL_CHECK_TEXT_BYTES.expected}),
  detail VARCHAR(${ETL_CHECK_TEXT_BYTES.detail}),
  checked_at TIMESTAMP NOT NULL,
  PRIMARY KEY (run_id, listen_date, check_name)
)`,
      `CREATE TABLE IF NOT EXISTS analytics.etl_source_headers (
  run_id VARCHAR(64) NOT NULL,
  source VARCHAR(16) NOT NULL,
  url VARCHAR(${SOURCE_HEADER_BYTES.url}) NOT NULL,
  header_sha VARCHAR(64) NOT NULL,
  columns VARCHAR(${SOURCE_HEADER_BYTES.columns}) NOT NULL,
  files INTEGER NOT NULL,
  added INTEGER NOT NULL,
  missing INTEGER NOT NULL,
  renamed INTEGER NOT NULL,
  recorded_at TIMESTAMP NOT NULL,
  PRIMARY KEY (run_id, source, header_sha)
)`,
    ],
  },
];

/** The table that records applied migrations, and the statements that apply them. */
export const MIGRATION_SQL = {
  table: 'analytics.schema_migrations',
  createSchema: `CREATE SCHEMA IF NOT EXISTS analytics`,
  createTable: `CREATE TABLE IF NOT EXISTS analytics.schema_migrations (
  version INTEGER NOT NULL,
  name VARCHAR(256) NOT NULL,
  applied_at TIMESTAMP NOT NULL,
  PRIMARY KEY (version)
)`,
  /** Portable (Redshift has LOCK, not advisory locks): services starting together apply each migration once. */
  lock: `LOCK TABLE analytics.schema_migrations`,
  applied: `SELECT version FROM analytics.schema_migrations`,
  list: `SELECT version, name, applied_at FROM analytics.schema_migrations ORDER BY version`,
  /** $1 = version, $2 = name, $3 = applied at. */
  record: `INSERT INTO analytics.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
};

export const RUN_FILE_COLUMNS = ['run_id', 'file', 'status', 'rows_read', 'rows_valid', 'rows_rejected', 'rows_duplicate', 'reason'] as const;

/** analytics.etl_run_files: one row per stream file per run, written in the run's transaction. */
export const RUN_FILES_SQL = {
  delete: `DELETE FROM analytics.etl_run_files WHERE run_id = $1`,
  insert: (rows: number) => insertRows('analytics.etl_run_files', RUN_FILE_COLUMNS, rows),
  /** The `copy` strategy's (PostgreSQL): a run of 100,000 files is one COPY, not 100 INSERTs of 8,000 parameters. */
  copy: `COPY analytics.etl_run_files (${RUN_FILE_COLUMNS.join(', ')}) FROM STDIN WITH (FORMAT csv)`,
  /** $1 = run id, $2 = status or NULL for every file, $3 = limit, $4 = offset. */
  list: `SELECT ${RUN_FILE_COLUMNS.join(', ')} FROM analytics.etl_run_files WHERE run_id = $1 AND ($2::VARCHAR IS NULL OR status = $2) ORDER BY file LIMIT $3 OFFSET $4`,
  count: `SELECT COUNT(*) AS n FROM analytics.etl_run_files WHERE run_id = $1 AND ($2::VARCHAR IS NULL OR status = $2)`,
  /** $1 = the oldest start kept: the files of runs started before it go (RUN_FILES_KEEP_DAYS). */
  prune: `DELETE FROM analytics.etl_run_files WHERE run_id IN (SELECT run_id FROM analytics.etl_runs WHERE started_at < $1)`,
};

/** Statements of one upsert, run in one transaction: stage, drop stale rows, MERGE, drop stage. */
export function upsertStatements(name: KpiTableName) {
  const t: KpiTable = KPI_TABLES[name];
  const cols = t.columns.map((c) => c.name);
  const keyMatch = (left: string, right: string) => t.keys.map((k) => `${left}.${k} = ${right}.${k}`).join(' AND ');
  const all = [...cols, ...LOAD_COLUMNS];
  return {
    createStage: `CREATE TEMP TABLE ${t.stage} (\n  ${columnList(t.columns)}\n)`,
    dropStage: `DROP TABLE IF EXISTS ${t.stage}`,
    copyStage: `COPY ${t.stage} (${cols.join(', ')}) FROM STDIN WITH (FORMAT csv)`,
    insertStage: (rows: number) => insertRows(t.stage, cols, rows),
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
  /** $1 schema, $2 table: its columns as the warehouse has them, to name the column a refused row breaks. */
  columns: `SELECT column_name, character_maximum_length, is_nullable FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2`,
  // Runs and rows per status, for the API's metrics.
  totals: `SELECT status, COUNT(*) AS runs, COALESCE(SUM(rows_read), 0) AS rows_read,
  COALESCE(SUM(rows_valid), 0) AS rows_valid, COALESCE(SUM(rows_rejected), 0) AS rows_rejected,
  COALESCE(SUM(rows_duplicate), 0) AS rows_duplicate
FROM analytics.etl_runs GROUP BY status`,
};

/**
 * Catalogue lookups that let a role without CREATE privileges start: CREATE ... IF NOT EXISTS still needs the
 * privilege, so what exists is looked up first. pg_namespace and pg_class list objects whatever the role may
 * use (information_schema hides them), and Redshift has both.
 */
export const CATALOG_SQL = {
  /** $1 = database name. */
  database: `SELECT 1 FROM pg_database WHERE datname = $1`,
  createDatabase: (name: string) => `CREATE DATABASE "${name.replace(/"/g, '""')}"`,
  /** $1 = schema name. */
  schema: `SELECT 1 FROM pg_namespace WHERE nspname = $1`,
  /** $1 = schema name: its tables. */
  tables: `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r'`,
  /** $1 = schema name: the columns of its tables, as `table.column`. */
  columns: `SELECT c.relname || '.' || a.attname AS name FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped`,
};

/**
 * The schema, table (`schema.table`) or column (`schema.table.column`) a DDL
 * statement creates; undefined for other statements. Portable SQL has no
 * `ADD COLUMN IF NOT EXISTS` (Redshift): a column that exists is skipped like a table.
 */
export function ddlObject(statement: string): { kind: 'schema' | 'table' | 'column'; name: string } | undefined {
  const create = /^CREATE (SCHEMA|TABLE) IF NOT EXISTS ([A-Za-z_][\w.]*)/.exec(statement);
  if (create) return { kind: create[1] === 'SCHEMA' ? 'schema' : 'table', name: create[2]! };
  const column = /^ALTER TABLE ([A-Za-z_]\w*\.[A-Za-z_]\w*) ADD COLUMN ([A-Za-z_]\w*)/.exec(statement);
  return column ? { kind: 'column', name: `${column[1]}.${column[2]}` } : undefined;
}

/** Freshness: the newest listen date loaded and when a run last loaded anything (succeeded or partial). */
export const FRESHNESS_SQL = {
  newestListenDate: `SELECT MAX(listen_date) AS listen_date FROM analytics.hourly_kpis`,
  listenDates: `SELECT DISTINCT listen_date FROM analytics.hourly_kpis ORDER BY listen_date DESC LIMIT $1`,
  /** $1, $2 = first and last listen date: each loaded date of the range and when it was last loaded. */
  loadedDates: `SELECT listen_date, MAX(updated_at) AS loaded_at FROM analytics.hourly_kpis WHERE listen_date >= $1 AND listen_date <= $2 GROUP BY listen_date`,
};

/** The checks' view of a KPI table: its staged rows plus the table's rows of $1..$2 the MERGE leaves as they are. */
function afterMerge(name: KpiTableName, columns: string): string {
  const t = KPI_TABLES[name];
  const sameKey = t.keys.map((k) => `s.${k} = t.${k}`).join(' AND ');
  return `(SELECT ${columns} FROM ${t.stage}
UNION ALL SELECT ${columns} FROM ${t.table} t WHERE t.listen_date >= $1 AND t.listen_date <= $2
AND NOT EXISTS (SELECT 1 FROM ${t.stage} s WHERE ${sameKey})) v`;
}

/**
 * Data checks in the load's transaction, after the stale rows left the stage
 * and before the MERGE: each listen date of $1..$2 as it will be once merged
 * (its staged rows and the rows of it the load does not replace), so a date
 * that fails can still be left out. Portable SQL. Counts and means must be
 * present and not negative; `top_artist_plays` is NULL by design when no play
 * of the hour has a catalogued track.
 */
export const CHECK_SQL = {
  /** Per date: hours, plays, its busiest hour's listeners (as the dashboard's trends), rows with a bad measure, hours with track_diversity_index outside (0, 1]. */
  hourly: `SELECT listen_date, COUNT(*) AS hours, COALESCE(SUM(total_plays), 0) AS plays, COALESCE(MAX(unique_listeners), 0) AS listeners,
  SUM(CASE WHEN unique_listeners IS NULL OR unique_listeners < 0 OR total_plays IS NULL OR total_plays < 0
    OR unique_tracks IS NULL OR unique_tracks < 0 OR top_artist_plays < 0 THEN 1 ELSE 0 END) AS bad_measures,
  SUM(CASE WHEN track_diversity_index IS NULL OR track_diversity_index <= 0 OR track_diversity_index > 1 THEN 1 ELSE 0 END) AS bad_diversity
FROM ${afterMerge('hourly', 'listen_date, listen_hour, unique_listeners, total_plays, unique_tracks, track_diversity_index, top_artist_plays')}
GROUP BY listen_date`,
  /** Per date: genre rows with a bad measure. */
  genre: `SELECT listen_date, SUM(CASE WHEN listen_count IS NULL OR listen_count < 0 OR avg_track_duration_ms IS NULL OR avg_track_duration_ms < 0
  OR avg_popularity IS NULL OR avg_popularity < 0 OR popularity_index IS NULL OR popularity_index < 0
  OR most_popular_track_plays IS NULL OR most_popular_track_plays < 0 THEN 1 ELSE 0 END) AS bad_measures
FROM ${afterMerge('genre', 'listen_date, genre, listen_count, avg_track_duration_ms, avg_popularity, popularity_index, most_popular_track_plays')}
GROUP BY listen_date`,
  /** Per date of $1..$2: the newest snapshot the warehouse holds (a later run's rows are not held to this load's events). */
  newestSnapshot: `SELECT listen_date, MAX(snapshot_seq) AS snapshot_seq FROM analytics.hourly_kpis WHERE listen_date >= $1 AND listen_date <= $2 GROUP BY listen_date`,
  /** Plays and busiest-hour listeners of the $2 newest loaded dates before $1. */
  historyBefore: `SELECT listen_date, SUM(total_plays) AS plays, MAX(unique_listeners) AS listeners FROM analytics.hourly_kpis
WHERE listen_date < $1 GROUP BY listen_date ORDER BY listen_date DESC LIMIT $2`,
  /** Plays and busiest-hour listeners of the loaded dates of $1..$2. */
  historyBetween: `SELECT listen_date, SUM(total_plays) AS plays, MAX(unique_listeners) AS listeners FROM analytics.hourly_kpis
WHERE listen_date >= $1 AND listen_date <= $2 GROUP BY listen_date`,
  /** $1 = a date a failed error-level check keeps out of the load. */
  block: (name: KpiTableName) => `DELETE FROM ${KPI_TABLES[name].stage} WHERE listen_date = $1`,
};

export const ETL_CHECK_COLUMNS = ['run_id', 'listen_date', 'check_name', 'severity', 'passed', 'blocked', 'value', 'expected', 'detail', 'checked_at'] as const;

/** analytics.etl_checks: one row per check per listen date per load, written in the load's transaction. */
export const RUN_CHECKS_SQL = {
  delete: `DELETE FROM analytics.etl_checks WHERE run_id = $1`,
  insert: (rows: number) => insertRows('analytics.etl_checks', ETL_CHECK_COLUMNS, rows),
  /** $1 = run id: its checks, by date and name. */
  list: `SELECT ${ETL_CHECK_COLUMNS.join(', ')} FROM analytics.etl_checks WHERE run_id = $1 ORDER BY listen_date, check_name`,
  /** Failed checks per name and severity, and the checks that kept a date out, over every load: for /metrics. */
  failures: `SELECT check_name, severity, SUM(CASE WHEN passed THEN 0 ELSE 1 END) AS failed, SUM(CASE WHEN blocked THEN 1 ELSE 0 END) AS blocked
FROM analytics.etl_checks GROUP BY check_name, severity`,
};

export const SOURCE_HEADER_COLUMNS = ['run_id', 'source', 'url', 'header_sha', 'columns', 'files', 'added', 'missing', 'renamed', 'recorded_at'] as const;

/** analytics.etl_source_headers: the columns each run found in each source, the baseline of the next run's schema drift. */
export const SOURCE_HEADERS_SQL = {
  delete: `DELETE FROM analytics.etl_source_headers WHERE run_id = $1`,
  insert: (rows: number) => insertRows('analytics.etl_source_headers', SOURCE_HEADER_COLUMNS, rows),
  /** $1 = source, $2 = its URL, $3 = this run: the headers of the newest other run that recorded that source. */
  previous: `SELECT columns, files FROM analytics.etl_source_headers WHERE source = $1 AND url = $2 AND recorded_at = (
  SELECT MAX(recorded_at) FROM analytics.etl_source_headers WHERE source = $1 AND url = $2 AND run_id <> $3) AND run_id <> $3`,
  /** Per source, the columns added, missing and renamed in the newest run that read it: for /metrics. */
  newestDrift: `SELECT h.source, SUM(h.added) AS added, SUM(h.missing) AS missing, SUM(h.renamed) AS renamed
FROM analytics.etl_source_headers h
JOIN (SELECT source, MAX(recorded_at) AS at FROM analytics.etl_source_headers GROUP BY source) n ON n.source = h.source AND n.at = h.recorded_at
GROUP BY h.source`,
};

/** The newest finished run's report (its data checks), for /metrics. */
export const LAST_FINISHED_REPORT_SQL = `SELECT report FROM analytics.etl_runs WHERE finished_at IS NOT NULL
ORDER BY finished_at DESC, run_id DESC LIMIT 1`;

/**
 * The dashboard's trends over a range of listen dates ($1, $2 inclusive).
 * Daily listeners: the warehouse keeps distinct listeners per hour only, so a
 * day's figure is its busiest hour's (a sum over hours would count a listener
 * once per hour they played in).
 */
export const TRENDS_SQL = {
  daily: `SELECT listen_date, SUM(total_plays) AS plays, MAX(unique_listeners) AS peak_listeners, COUNT(*) AS hours
FROM analytics.hourly_kpis WHERE listen_date >= $1 AND listen_date <= $2 GROUP BY listen_date ORDER BY listen_date`,
  /** Every genre's plays per date, for the rest beside the top genres. */
  genreTotals: `SELECT listen_date, SUM(listen_count) AS plays, COUNT(*) AS genres
FROM analytics.genre_kpis WHERE listen_date >= $1 AND listen_date <= $2 GROUP BY listen_date ORDER BY listen_date`,
  /** $3 = how many genres: the range's most played, and their plays per date. */
  topGenres: `SELECT g.listen_date, g.genre, g.listen_count FROM analytics.genre_kpis g
JOIN (SELECT genre, SUM(listen_count) AS plays FROM analytics.genre_kpis WHERE listen_date >= $1 AND listen_date <= $2
  GROUP BY genre ORDER BY plays DESC, genre LIMIT $3) top ON top.genre = g.genre
WHERE g.listen_date >= $1 AND g.listen_date <= $2 ORDER BY top.plays DESC, g.genre, g.listen_date`,
  /** Each date's most played genres (more than one on a tie). */
  dayTopGenres: `SELECT g.listen_date, g.genre FROM analytics.genre_kpis g
JOIN (SELECT listen_date, MAX(listen_count) AS plays FROM analytics.genre_kpis WHERE listen_date >= $1 AND listen_date <= $2
  GROUP BY listen_date) m ON m.listen_date = g.listen_date AND m.plays = g.listen_count
WHERE g.listen_date >= $1 AND g.listen_date <= $2 ORDER BY g.listen_date, g.genre`,
  /** Runs started from $1 up to (not including) $2, newest first, at most $3. */
  runs: `SELECT run_id, trigger, status, started_at, finished_at, rows_read, kpi_rows FROM analytics.etl_runs
WHERE started_at >= $1 AND started_at < $2 ORDER BY started_at DESC, run_id DESC LIMIT $3`,
  runCount: `SELECT COUNT(*) AS n FROM analytics.etl_runs WHERE started_at >= $1 AND started_at < $2`,
};
