/**
 * An independent implementation of SPEC 2.1, 2.3, 3 (file threshold) and 4 in
 * DuckDB SQL: the oracle that end-to-end tests and the benchmark compare the
 * pipeline's warehouse rows with. It shares no code with the pipeline (only the
 * row types of @musicflow/kpi): parsing, validation, deduplication and every
 * KPI are computed here, in SQL, from the raw CSV files.
 *
 * Decisions (where the SPEC leaves room), written down so a disagreement with
 * the pipeline can be triaged quickly:
 * - user_id: ASCII digits only (no sign, no spaces), value 1 .. 2^31-1.
 * - track_id: 1-64 characters (code points), none of them whitespace (the
 *   JavaScript `\s` set: ASCII controls \t\n\v\f\r, Unicode Z* and U+FEFF).
 * - listen_time: `YYYY-MM-DD[T ]HH:MM:SS[.fraction][Z|±HH[[:]MM]]`, an existing
 *   calendar date, hour <= 23, minute and second <= 59; no offset = UTC. The
 *   instant is kept to the millisecond (extra fraction digits truncated), so
 *   deduplication is on (user_id, track_id, epoch ms).
 * - A stream file lacking user_id, track_id or listen_time is skipped whole;
 *   a file whose bad rows exceed `rejectThreshold` of its rows (SPEC 3,
 *   default 0.05) is skipped whole. Pass 1 to count every valid row regardless.
 * - Songs: a row is used when its track_id follows the rule above, popularity
 *   is an integer 0-100 and duration_ms an integer > 0 (`42.0` accepted,
 *   surrounding spaces trimmed), and track_genre is not blank (trimmed). The
 *   track's first such row gives its name, artists, popularity and duration;
 *   its genres are every distinct genre of its rows. Artists: the `;`-separated
 *   parts, trimmed, empty parts dropped, each distinct artist credited once per play.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { GenreKpiRow, HourlyKpiRow } from '@musicflow/kpi';

export interface DuckDbKpiOptions {
  /** Local paths of the stream files (.csv or .csv.gz). */
  streamFiles: string[];
  /** Local path of the songs CSV (Spotify layout). */
  songsCsv: string;
  /** SPEC 3: share of bad rows above which a whole file is skipped (default 0.05). */
  rejectThreshold?: number;
  /** DuckDB threads (default: DuckDB's own choice, the number of cores). */
  threads?: number;
  /**
   * Read the stream files with one `read_csv` of this glob (every file must
   * have the three columns) instead of one per file: thousands of files.
   */
  streamGlob?: string;
}

export interface DuckDbKpis {
  genre: GenreKpiRow[];
  hourly: HourlyKpiRow[];
}

const CSV_OPTIONS = `header = true, all_varchar = true, delim = ',', quote = '"', escape = '"', null_padding = true`;

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;

// SQL fragments, written with String.raw so RE2 sees the backslashes verbatim.
const WHITESPACE = String.raw`[\t\n\x0B\f\r\p{Z}\x{FEFF}]`;
const LISTEN_TIME = String.raw`^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?$`;
const validTrackId = (col: string) => `(${col} IS NOT NULL AND length(${col}) BETWEEN 1 AND 64 AND NOT regexp_matches(${col}, ${lit(WHITESPACE)}))`;
/** Integer text (`42`, `42.0`, spaces around) to BIGINT, NULL when not an integer. */
const integerOrNull = (col: string) =>
  `CASE WHEN regexp_full_match(trim(${col}), '-?[0-9]{1,18}') THEN CAST(trim(${col}) AS BIGINT)
        WHEN regexp_full_match(trim(${col}), '[0-9]{1,18}\\.0+') THEN CAST(split_part(trim(${col}), '.', 1) AS BIGINT) END`;

async function columnsOf(conn: DuckDBConnection, file: string): Promise<string[]> {
  const reader = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_csv(${lit(file)}, ${CSV_OPTIONS})`);
  return reader.getRowObjectsJS().map((r) => String(r.column_name));
}

/** Both KPI tables of SPEC 4 over the given files, ordered by date then genre / hour. */
export async function computeKpisWithDuckDB(opts: DuckDbKpiOptions): Promise<DuckDbKpis> {
  const threshold = opts.rejectThreshold ?? 0.05;
  const instance = await DuckDBInstance.create(':memory:', opts.threads ? { threads: String(opts.threads) } : {});
  const conn = await instance.connect();
  try {
    // --- Songs (SPEC 2.3) -------------------------------------------------
    const songCols = await columnsOf(conn, opts.songsCsv);
    const required = ['track_id', 'artists', 'track_name', 'popularity', 'duration_ms', 'track_genre'];
    const missing = required.filter((c) => !songCols.includes(c));
    if (missing.length) throw new Error(`${opts.songsCsv}: missing column(s) ${missing.join(', ')}`);
    // A table keeps the file's row order (insertion order), so rowid orders "first".
    await conn.run(`
      CREATE TEMP TABLE songs_raw AS
      SELECT track_id, artists, track_name, popularity, duration_ms, track_genre
      FROM read_csv(${lit(opts.songsCsv)}, ${CSV_OPTIONS})`);
    await conn.run(`
      CREATE TEMP TABLE songs_valid AS
      SELECT * FROM (
        SELECT rowid AS seq, track_id, coalesce(artists, '') AS artists, coalesce(track_name, '') AS track_name,
               ${integerOrNull('popularity')} AS popularity, ${integerOrNull('duration_ms')} AS duration_ms,
               trim(coalesce(track_genre, '')) AS genre
        FROM songs_raw
        WHERE ${validTrackId('track_id')}
      ) WHERE popularity BETWEEN 0 AND 100 AND duration_ms >= 1 AND genre <> ''`);
    await conn.run(`
      CREATE TEMP TABLE tracks AS
      SELECT track_id, artists, track_name, popularity, duration_ms FROM (
        SELECT *, row_number() OVER (PARTITION BY track_id ORDER BY seq) AS k FROM songs_valid
      ) WHERE k = 1`);
    await conn.run(`CREATE TEMP TABLE track_genres AS SELECT DISTINCT track_id, genre FROM songs_valid`);
    await conn.run(`
      CREATE TEMP TABLE track_artists AS
      SELECT DISTINCT track_id, artist FROM (
        SELECT track_id, trim(unnest(string_split(artists, ';'))) AS artist FROM tracks
      ) WHERE artist <> ''`);

    // --- Stream rows (SPEC 2.1) -------------------------------------------
    const selects: string[] = [];
    if (opts.streamGlob) {
      selects.push(
        `SELECT filename AS file_no, ${ident('user_id')} AS u, ${ident('track_id')} AS t, ${ident('listen_time')} AS lt
         FROM read_csv(${lit(opts.streamGlob)}, ${CSV_OPTIONS}, filename = true)`,
      );
    }
    for (const [i, file] of (opts.streamGlob ? [] : opts.streamFiles).entries()) {
      const cols = await columnsOf(conn, file);
      if (!['user_id', 'track_id', 'listen_time'].every((c) => cols.includes(c))) continue; // rejected whole (SPEC 3)
      selects.push(
        `SELECT ${i} AS file_no, ${ident('user_id')} AS u, ${ident('track_id')} AS t, ${ident('listen_time')} AS lt
         FROM read_csv(${lit(file)}, ${CSV_OPTIONS})`,
      );
    }
    if (selects.length === 0) return { genre: [], hourly: [] };
    await conn.run(`
      CREATE TEMP TABLE parsed AS
      WITH src AS (${selects.join(' UNION ALL ')}),
      m AS (
        SELECT file_no, u, t,
               regexp_extract(coalesce(lt, ''), ${lit(LISTEN_TIME)}, ['y', 'mo', 'd', 'h', 'mi', 's', 'f', 'z']) AS p
        FROM src
      ),
      f AS (
        SELECT file_no, t,
               CASE WHEN regexp_full_match(coalesce(u, ''), '[0-9]{1,10}') THEN CAST(u AS BIGINT) END AS user_id,
               CASE WHEN p.y <> '' THEN try_cast(p.y || '-' || p.mo || '-' || p.d AS DATE) END AS day,
               CASE WHEN p.y <> '' THEN CAST(p.h AS INTEGER) END AS hh,
               CASE WHEN p.y <> '' THEN CAST(p.mi AS INTEGER) END AS mi,
               CASE WHEN p.y <> '' THEN CAST(p.s AS INTEGER) END AS ss,
               CASE WHEN p.f = '' THEN 0 ELSE CAST(rpad(left(p.f, 3), 3, '0') AS INTEGER) END AS ms,
               CASE WHEN p.z IN ('', 'Z') THEN 0 ELSE CAST(substr(p.z, 2, 2) AS INTEGER) END AS oh,
               CASE WHEN p.z IN ('', 'Z') OR length(replace(p.z, ':', '')) = 3 THEN 0
                    ELSE CAST(substr(replace(p.z, ':', ''), 4, 2) AS INTEGER) END AS om,
               CASE WHEN substr(p.z, 1, 1) = '-' THEN -1 ELSE 1 END AS sign
        FROM m
      )
      SELECT file_no, user_id, t AS track_id,
             CAST(day - DATE '1970-01-01' AS BIGINT) * 86400000 + hh * 3600000 + mi * 60000 + ss * 1000 + ms
               - sign * (oh * 60 + om) * 60000 AS epoch_ms,
             (user_id BETWEEN 1 AND 2147483647) IS TRUE
               AND ${validTrackId('t')}
               AND day IS NOT NULL AND hh <= 23 AND mi <= 59 AND ss <= 59 AND oh <= 23 AND om <= 59 AS ok
      FROM f`);
    await conn.run(`
      CREATE TEMP TABLE accepted_files AS
      SELECT file_no FROM parsed GROUP BY file_no
      HAVING count(*) FILTER (WHERE NOT ok) <= ${Number(threshold)} * count(*)`);
    // SPEC 3: exact duplicates (user, track, instant) count once, across files.
    await conn.run(`
      CREATE TEMP TABLE events AS
      SELECT user_id, track_id,
             CAST(floor(epoch_ms / 86400000) AS INTEGER) AS day_no,
             CAST(floor((epoch_ms - floor(epoch_ms / 86400000) * 86400000) / 3600000) AS INTEGER) AS listen_hour
      FROM (
        SELECT DISTINCT user_id, track_id, epoch_ms FROM parsed
        WHERE ok AND file_no IN (SELECT file_no FROM accepted_files)
      )`);
    await conn.run(`DROP TABLE parsed`);

    // --- SPEC 4.1 genre_kpis ----------------------------------------------
    const genreReader = await conn.runAndReadAll(`
      WITH plays AS (
        SELECT e.day_no, g.genre, e.track_id, t.track_name, t.popularity, t.duration_ms
        FROM events e JOIN track_genres g USING (track_id) JOIN tracks t USING (track_id)
      ),
      agg AS (
        SELECT day_no, genre, count(*) AS listen_count,
               sum(duration_ms) AS duration_sum, sum(popularity) AS popularity_sum
        FROM plays GROUP BY day_no, genre
      ),
      per_track AS (
        SELECT day_no, genre, track_id, any_value(track_name) AS track_name, count(*) AS plays,
               row_number() OVER (PARTITION BY day_no, genre ORDER BY count(*) DESC, track_id ASC) AS rk
        FROM plays GROUP BY day_no, genre, track_id
      )
      SELECT CAST(DATE '1970-01-01' + a.day_no AS VARCHAR) AS listen_date,
             a.genre,
             CAST(a.listen_count AS DOUBLE) AS listen_count,
             CAST(a.duration_sum AS DOUBLE) / a.listen_count AS avg_track_duration_ms,
             CAST(a.popularity_sum AS DOUBLE) / a.listen_count AS avg_popularity,
             CAST(a.listen_count AS DOUBLE) * (CAST(a.popularity_sum AS DOUBLE) / a.listen_count) / 100 AS popularity_index,
             p.track_id AS most_popular_track_id,
             p.track_name AS most_popular_track_name,
             CAST(p.plays AS DOUBLE) AS most_popular_track_plays
      FROM agg a JOIN per_track p ON p.day_no = a.day_no AND p.genre = a.genre AND p.rk = 1
      ORDER BY a.day_no, a.genre`);
    const genre: GenreKpiRow[] = genreReader.getRowObjectsJS().map((r) => ({
      listenDate: String(r.listen_date),
      genre: String(r.genre),
      listenCount: Number(r.listen_count),
      avgTrackDurationMs: Number(r.avg_track_duration_ms),
      avgPopularity: Number(r.avg_popularity),
      popularityIndex: Number(r.popularity_index),
      mostPopularTrackId: String(r.most_popular_track_id),
      mostPopularTrackName: String(r.most_popular_track_name),
      mostPopularTrackPlays: Number(r.most_popular_track_plays),
    }));

    // --- SPEC 4.2 hourly_kpis ---------------------------------------------
    const hourlyReader = await conn.runAndReadAll(`
      WITH base AS (
        SELECT day_no, listen_hour, count(*) AS total_plays,
               count(DISTINCT user_id) AS unique_listeners, count(DISTINCT track_id) AS unique_tracks
        FROM events GROUP BY day_no, listen_hour
      ),
      artist_plays AS (
        SELECT e.day_no, e.listen_hour, a.artist, count(*) AS plays,
               row_number() OVER (PARTITION BY e.day_no, e.listen_hour ORDER BY count(*) DESC, a.artist ASC) AS rk
        FROM events e JOIN track_artists a USING (track_id)
        GROUP BY e.day_no, e.listen_hour, a.artist
      )
      SELECT CAST(DATE '1970-01-01' + b.day_no AS VARCHAR) AS listen_date,
             b.listen_hour,
             CAST(b.unique_listeners AS DOUBLE) AS unique_listeners,
             CAST(b.total_plays AS DOUBLE) AS total_plays,
             CAST(b.unique_tracks AS DOUBLE) AS unique_tracks,
             CAST(b.unique_tracks AS DOUBLE) / b.total_plays AS track_diversity_index,
             ap.artist AS top_artist,
             CAST(ap.plays AS DOUBLE) AS top_artist_plays
      FROM base b LEFT JOIN artist_plays ap ON ap.day_no = b.day_no AND ap.listen_hour = b.listen_hour AND ap.rk = 1
      ORDER BY b.day_no, b.listen_hour`);
    const hourly: HourlyKpiRow[] = hourlyReader.getRowObjectsJS().map((r) => ({
      listenDate: String(r.listen_date),
      listenHour: Number(r.listen_hour),
      uniqueListeners: Number(r.unique_listeners),
      totalPlays: Number(r.total_plays),
      uniqueTracks: Number(r.unique_tracks),
      trackDiversityIndex: Number(r.track_diversity_index),
      topArtist: r.top_artist === null || r.top_artist === undefined ? null : String(r.top_artist),
      topArtistPlays: r.top_artist_plays === null || r.top_artist_plays === undefined ? null : Number(r.top_artist_plays),
    }));
    return { genre, hourly };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}
