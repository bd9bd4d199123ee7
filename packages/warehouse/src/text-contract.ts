/**
 * The text contract between what the pipeline produces and the warehouse's
 * columns, for PostgreSQL and Redshift alike: every text value that reaches
 * `analytics.*` is valid UTF-8 without control characters and fits its
 * VARCHAR(n) in BYTES (Redshift counts bytes, PostgreSQL characters, so bytes
 * fit both). The limits are read from the column types in sql.ts, so a wider
 * column widens the rule. Pure: no I/O, imported by ingest where text enters.
 */
import { createHash } from 'node:crypto';
import { KPI_TABLES, type KpiTableName } from './sql.ts';

/** n of a `VARCHAR(n)` column of a KPI table. */
function varcharBytes(table: KpiTableName, column: string): number {
  const type = (KPI_TABLES[table].columns as readonly { name: string; type: string }[]).find((c) => c.name === column)?.type;
  const n = /^VARCHAR\((\d+)\)/.exec(type ?? '')?.[1];
  if (!n) throw new Error(`${KPI_TABLES[table].table}.${column} is not a VARCHAR(n) column`);
  return Number(n);
}

/** Every text column of the KPI tables with its limit in bytes (the tests check the warehouse's rows against it). */
export const KPI_TEXT_COLUMNS = (Object.keys(KPI_TABLES) as KpiTableName[]).flatMap((name) =>
  KPI_TABLES[name].columns
    .filter((c) => c.type.startsWith('VARCHAR('))
    .map((c) => ({ table: KPI_TABLES[name].table, column: c.name, bytes: varcharBytes(name, c.name) })),
);

/** Byte limits of the catalogue's text as it reaches the KPI tables. */
export const TEXT_LIMITS = {
  /** `genre_kpis.genre`, a key. */
  genre: varcharBytes('genre', 'genre'),
  /** `genre_kpis.most_popular_track_id`. */
  trackId: varcharBytes('genre', 'most_popular_track_id'),
  /** `genre_kpis.most_popular_track_name`. */
  trackName: varcharBytes('genre', 'most_popular_track_name'),
  /** `hourly_kpis.top_artist`: one artist of a track's `artists`. */
  artist: varcharBytes('hourly', 'top_artist'),
} as const;

/**
 * C0 controls (NUL, tab, CR, LF...), DEL, C1 controls, U+FFFD (what a decoder
 * puts where the bytes were not UTF-8) and lone surrogates (not encodable).
 */
export const UNUSABLE_CHARACTER = /[\x00-\x1f\x7f-\x9f\ufffd\ud800-\udfff]/u;
const CONTROL_RUNS = /[\x00-\x1f\x7f-\x9f]+/g;
const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

export const utf8Bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

/** The longest prefix of `text` within `bytes` UTF-8 bytes, cut between code points. */
export function cutToBytes(text: string, bytes: number): string {
  if (text.length * 3 <= bytes || utf8Bytes(text) <= bytes) return text; // a UTF-16 unit never takes more than 3 bytes
  const encoded = Buffer.from(text, 'utf8');
  let end = bytes;
  while (end > 0 && (encoded[end]! & 0xc0) === 0x80) end--; // back off continuation bytes to a code point start
  return encoded.subarray(0, end).toString('utf8');
}

/** What was done to a text value so it fits: counted per field in the run report. */
export type TextFix = 'control_characters' | 'too_long';

export interface FittedText {
  text: string;
  fixes: TextFix[];
}

const DIGEST_CHARS = 8;

/**
 * A name made to fit its column. Control characters (NUL included) become one
 * space per run and the ends are trimmed; U+FFFD stays (it is valid UTF-8, the
 * source's bad bytes are already lost). Too long: a label is cut at a code
 * point boundary; a key (a genre, an artist) keeps a prefix plus `~` and 8 hex
 * digits of the whole name's SHA-1, so two long keys with a common prefix stay
 * two keys, and the same name always gives the same key.
 */
export function fitText(value: string, bytes: number, kind: 'label' | 'key'): FittedText {
  const fixes: TextFix[] = [];
  let text = value;
  if (CONTROL.test(text)) {
    text = text.replace(CONTROL_RUNS, ' ').trim();
    fixes.push('control_characters');
  }
  if (text.length * 3 > bytes && utf8Bytes(text) > bytes) {
    fixes.push('too_long');
    if (kind === 'label') text = cutToBytes(text, bytes);
    else {
      const digest = createHash('sha1').update(text).digest('hex').slice(0, DIGEST_CHARS);
      text = `${cutToBytes(text, bytes - DIGEST_CHARS - 1)}~${digest}`;
    }
  }
  return { text, fixes };
}
