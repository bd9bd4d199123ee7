import type { ColumnChunk, CompressionCodec, ParquetType, PageHeader } from 'hyparquet';
import { parquetHeader } from 'hyparquet/src/column.js';
import { readRleBitPackedHybrid } from 'hyparquet/src/encoding.js';
import type { Utf8Slice } from '@musicflow/kpi';
import { SNAPPY_DECOMPRESSORS } from './snappy.ts';

/**
 * What a KPI pass reads of every row of a row group, as typed arrays: who
 * played which track when, and whether the row carries the track's catalogue
 * info. hyparquet gives each of these as a JavaScript array built value by
 * value (dictionary indexes, definition levels, then the values placed
 * around the nulls); that was a third of a KPI pass (measured on 5M events).
 */
export interface LakePlays {
  rows: number;
  userIds: Int32Array;
  listenTimes: Float64Array;
  /** The interned track_id per row (see InternTrack). */
  tracks: Int32Array;
  /** 1 where the row's track_name is not null (the track was catalogued when the row was written). */
  catalogued: Uint8Array;
}

/**
 * The values of a flat column at some rows, with no object or view per value
 * (a long-tail pass reads the info of hundreds of thousands of tracks): value
 * `k` is null where `page[k]` is -1, else a BYTE_ARRAY value is
 * `pages[page[k]]` from `start[k]` to `end[k]` and an INT32 value is `start[k]`.
 */
export class ValuesAt {
  readonly pages: Uint8Array[] = [];
  readonly page: Int32Array;
  readonly start: Int32Array;
  readonly end: Int32Array;

  constructor(count: number) {
    this.page = new Int32Array(count).fill(-1);
    this.start = new Int32Array(count);
    this.end = new Int32Array(count);
  }

  /** Value `k` as text into `slice` (empty when null): a caller refills one record. */
  textInto(k: number, slice: Utf8Slice): Utf8Slice {
    const p = this.page[k]!;
    slice.bytes = p < 0 ? NO_BYTES : this.pages[p]!;
    slice.start = p < 0 ? 0 : this.start[k]!;
    slice.end = p < 0 ? 0 : this.end[k]!;
    return slice;
  }

  /** Value `k`'s bytes, a view; null when it is null. */
  bytes(k: number): Uint8Array | null {
    const p = this.page[k]!;
    return p < 0 ? null : this.pages[p]!.subarray(this.start[k], this.end[k]);
  }

  /** Value `k` as a number; null when it is null. */
  number(k: number): number | null {
    return this.page[k]! < 0 ? null : this.start[k]!;
  }

  /** Sets value `k` to `value` (text: its UTF-8 bytes), for values decoded otherwise than from the pages. */
  set(k: number, value: Uint8Array | number | null): void {
    if (value === null) this.page[k] = -1;
    else if (typeof value === 'number') {
      this.page[k] = 0;
      this.start[k] = value;
    } else {
      this.page[k] = this.pages.push(value) - 1;
      this.start[k] = 0;
      this.end[k] = value.length;
    }
  }
}

const NO_BYTES = new Uint8Array(0);

export const TRACK_INFO_CHUNK_COLUMNS = ['track_name', 'artists', 'genres', 'popularity', 'duration_ms'] as const;
export type TrackInfoChunks = Record<(typeof TRACK_INFO_CHUNK_COLUMNS)[number], ColumnChunk>;
/** A track's catalogue info at some rows, a column each (all null for a row whose track is not in the catalogue). */
export type LakeTrackInfo = Record<(typeof TRACK_INFO_CHUNK_COLUMNS)[number], ValuesAt>;

/** The columns `decodePlays` reads, in the part's schema. */
export const PLAY_CHUNK_COLUMNS = ['user_id', 'track_id', 'listen_time', 'track_name'] as const;
export type PlayChunks = Record<(typeof PLAY_CHUNK_COLUMNS)[number], ColumnChunk>;

/**
 * Interns a track id given as its UTF-8 bytes `utf8[start, end)`, numbering
 * them 0, 1, ...: a KPI pass keys its tracks by these numbers. Bytes, not
 * strings: a long-tail group's dictionary has as many entries as rows, and a
 * string made of each only to be encoded again was a cost per distinct track.
 */
export type InternTrack = (utf8: Uint8Array, start: number, end: number) => number;

/** A page layout this fast path does not decode (DATA_PAGE v1, other encodings or codecs): read the group through hyparquet. */
export class UnsupportedPlayPage extends Error {}

/** The byte range of the file a column chunk occupies. */
export function chunkRange(chunk: ColumnChunk): [number, number] {
  const meta = chunk.meta_data!;
  const start = Number(meta.dictionary_page_offset ?? meta.data_page_offset);
  return [start, start + Number(meta.total_compressed_size)];
}

/**
 * A column's pages as read for some rows of a row group: its dictionary page,
 * if any, then the data pages that hold the rows, back to back.
 */
export type ColumnPages<N extends string> = Record<N, Uint8Array>;

/**
 * The plays of `rows` rows of a row group from the pages of the four
 * columns of PLAY_CHUNK_COLUMNS. Throws UnsupportedPlayPage for pages written
 * otherwise than DATA_PAGE_V2 with PLAIN or RLE_DICTIONARY values,
 * uncompressed or SNAPPY.
 */
export function decodePlays(pages: ColumnPages<(typeof PLAY_CHUNK_COLUMNS)[number]>, rows: number, chunks: PlayChunks, internTrack: InternTrack): LakePlays {
  const chunkBytes = (chunk: ColumnChunk) => pages[chunk.meta_data!.path_in_schema[0] as (typeof PLAY_CHUNK_COLUMNS)[number]];
  const userIds = new Int32Array(rows);
  const tracks = new Int32Array(rows);
  const words = new Int32Array(rows * 2);
  const catalogued = new Uint8Array(rows);
  readValues(chunkBytes(chunks.user_id), chunks.user_id, rows, 'INT32', 1, intEntries(1), userIds);
  readValues(chunkBytes(chunks.track_id), chunks.track_id, rows, 'BYTE_ARRAY', 1, internedEntries(internTrack), tracks, internTrack);
  readValues(chunkBytes(chunks.listen_time), chunks.listen_time, rows, 'INT64', 2, intEntries(2), words);
  readPresence(chunkBytes(chunks.track_name), chunks.track_name, rows, catalogued);
  // INT64 milliseconds as two little-endian int32 words each: no BigInt per value.
  const listenTimes = new Float64Array(rows);
  for (let i = 0; i < rows; i++) listenTimes[i] = words[2 * i + 1]! * 4_294_967_296 + (words[2 * i]! >>> 0);
  return { rows, userIds, listenTimes, tracks, catalogued };
}

interface Page {
  header: PageHeader;
  /** The page's bytes after its header, as stored. */
  body: Uint8Array;
}

function* pagesOf(bytes: Uint8Array, chunk: ColumnChunk, rows: number): Generator<Page> {
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset: 0 };
  let seen = 0;
  while (seen < rows) {
    if (reader.offset >= bytes.length) throw new UnsupportedPlayPage(`column ${chunk.meta_data!.path_in_schema.join('.')} ends after ${seen} of ${rows} rows`);
    const header = parquetHeader(reader);
    const body = bytes.subarray(reader.offset, reader.offset + header.compressed_page_size);
    reader.offset += header.compressed_page_size;
    if (header.type === 'DATA_PAGE_V2') seen += header.data_page_header_v2!.num_values;
    else if (header.type !== 'DICTIONARY_PAGE') throw new UnsupportedPlayPage(`${header.type} pages are read through hyparquet`);
    yield { header, body };
  }
}

function decompressed(body: Uint8Array, size: number, codec: CompressionCodec): Uint8Array {
  if (codec === 'UNCOMPRESSED' || size === 0) return body;
  if (codec !== 'SNAPPY') throw new UnsupportedPlayPage(`${codec} pages are read through hyparquet`);
  return SNAPPY_DECOMPRESSORS.SNAPPY(body);
}

/** Little-endian int32 words of a PLAIN INT32 or INT64 page (copied when the page is not 4-byte aligned). */
function int32s(page: Uint8Array): Int32Array {
  const aligned = page.byteOffset % 4 === 0 ? page : page.slice();
  return new Int32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength >> 2);
}

/** Where each of a PLAIN BYTE_ARRAY page's `count` values is: value i is `page[offsets[i] + 4, offsets[i + 1])`. */
function plainOffsets(page: Uint8Array, count: number): Int32Array {
  const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const offsets = new Int32Array(count + 1);
  for (let i = 0, at = 0; i < count; i++) {
    offsets[i] = at;
    at += 4 + view.getUint32(at, true);
    offsets[i + 1] = at;
  }
  return offsets;
}

/** `internTrack` of each of a PLAIN BYTE_ARRAY page's `count` values, in order. */
function internedStrings(page: Uint8Array, count: number, internTrack: InternTrack): Int32Array {
  const offsets = plainOffsets(page, count);
  return Int32Array.from({ length: count }, (_, i) => internTrack(page, offsets[i]! + 4, offsets[i + 1]!));
}

/** A dictionary's entry `i` written into `out` at word `at`. */
type EntryWriter = (i: number, out: Int32Array, at: number) => void;

/** Entries of a PLAIN INT32 (width 1) or INT64 (width 2) dictionary page, as int32 words. */
const intEntries =
  (width: number) =>
  (page: Uint8Array): EntryWriter => {
    const words = int32s(page);
    if (width === 1) return (i, out, at) => (out[at] = words[i]!);
    return (i, out, at) => {
      out[at] = words[2 * i]!;
      out[at + 1] = words[2 * i + 1]!;
    };
  };

/**
 * Entries of a PLAIN BYTE_ARRAY dictionary page, interned as the rows ask
 * for them: a pass reading a few pages of a group uses a few of its
 * dictionary's entries, and an entry costs its interning.
 */
const internedEntries =
  (internTrack: InternTrack) =>
  (page: Uint8Array, count: number): EntryWriter => {
    const offsets = plainOffsets(page, count);
    const interned = new Int32Array(count).fill(-1);
    return (i, out, at) => {
      let id = interned[i]!;
      if (id < 0) interned[i] = id = internTrack(page, offsets[i]! + 4, offsets[i + 1]!);
      out[at] = id;
    };
  };

/**
 * A required column's values into `out`, `width` int32 words a value (INT32
 * 1, INT64 2). Dictionary entries are written through `dictionaryOf`; for
 * BYTE_ARRAY, PLAIN data pages are interned row by row.
 */
function readValues(
  bytes: Uint8Array,
  chunk: ColumnChunk,
  rows: number,
  type: ParquetType,
  width: number,
  dictionaryOf: (page: Uint8Array, count: number) => EntryWriter,
  out: Int32Array,
  internTrack?: InternTrack,
): void {
  const meta = chunk.meta_data!;
  if (meta.type !== type) throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')} is ${meta.type}, not ${type}`);
  let dictionary: EntryWriter | undefined;
  let row = 0;
  for (const { header, body } of pagesOf(bytes, chunk, rows)) {
    if (header.type === 'DICTIONARY_PAGE') {
      dictionary = dictionaryOf(decompressed(body, header.uncompressed_page_size, meta.codec), header.dictionary_page_header!.num_values);
      continue;
    }
    const v2 = header.data_page_header_v2!;
    if (v2.num_nulls || v2.definition_levels_byte_length || v2.repetition_levels_byte_length) {
      throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')} has levels`);
    }
    const page = v2.is_compressed === false ? body : decompressed(body, header.uncompressed_page_size, meta.codec);
    const n = v2.num_values;
    if (v2.encoding === 'RLE_DICTIONARY' || v2.encoding === 'PLAIN_DICTIONARY') {
      if (!dictionary) throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')}: dictionary-encoded page without a dictionary`);
      const indexes = dictionaryIndexes(page, n);
      for (let i = 0; i < n; i++) dictionary(indexes[i]!, out, (row + i) * width);
    } else if (v2.encoding === 'PLAIN' && type !== 'BYTE_ARRAY') {
      out.set(int32s(page).subarray(0, n * width), row * width);
    } else if (v2.encoding === 'PLAIN' && internTrack) {
      out.set(internedStrings(page, n, internTrack), row);
    } else {
      throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')}: ${v2.encoding} pages are read through hyparquet`);
    }
    row += n;
  }
}

/** The RLE / bit-packed dictionary indexes of a data page: a bit width byte, then the runs. */
function dictionaryIndexes(page: Uint8Array, count: number): Int32Array {
  const indexes = new Int32Array(count);
  const reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 1 };
  readRleBitPackedHybrid(reader, page[0]!, indexes, page.length - 1);
  return indexes;
}

/** Whether each row of an optional flat column is not null, from its definition levels alone (the values are not decoded). */
function readPresence(bytes: Uint8Array, chunk: ColumnChunk, rows: number, out: Uint8Array): void {
  let row = 0;
  for (const { header, body } of pagesOf(bytes, chunk, rows)) {
    if (header.type !== 'DATA_PAGE_V2') continue;
    const v2 = header.data_page_header_v2!;
    const n = v2.num_values;
    if (v2.repetition_levels_byte_length) throw new UnsupportedPlayPage(`column ${chunk.meta_data!.path_in_schema.join('.')} is repeated`);
    // Most pages are all catalogued or all not: the counts in the header say so.
    if (v2.num_nulls === 0) out.fill(1, row, row + n);
    else if (v2.num_nulls === n) out.fill(0, row, row + n);
    else {
      const levels = body.subarray(0, v2.definition_levels_byte_length);
      const reader = { view: new DataView(levels.buffer, levels.byteOffset, levels.byteLength), offset: 0 };
      readRleBitPackedHybrid(reader, 1, out.subarray(row, row + n), levels.length);
    }
    row += n;
  }
}

/**
 * The track info of rows `wanted` (ascending indexes into the `rows` rows
 * read) from the pages of TRACK_INFO_CHUNK_COLUMNS, text as ranges of the
 * pages' bytes. A pass needs the info of each track once, from the first row
 * that brings it: a handful of rows in most groups, most of them in a long tail's.
 */
export function decodeTrackInfoAt(
  pages: ColumnPages<(typeof TRACK_INFO_CHUNK_COLUMNS)[number]>,
  rows: number,
  chunks: TrackInfoChunks,
  wanted: Int32Array,
): LakeTrackInfo {
  return trackInfoOf((name) => columnValuesAt(pages[name], chunks[name], rows, wanted));
}

/** The track info columns, each from `column`. */
export function trackInfoOf(column: (name: (typeof TRACK_INFO_CHUNK_COLUMNS)[number]) => ValuesAt): LakeTrackInfo {
  return Object.fromEntries(TRACK_INFO_CHUNK_COLUMNS.map((name) => [name, column(name)])) as LakeTrackInfo;
}

/** A PLAIN page of `count` values, read at any index into `out`'s value `k` (see ValuesAt). */
function plainValues(page: Uint8Array, count: number, type: ParquetType, out: ValuesAt): (i: number, k: number) => void {
  const p = out.pages.push(page) - 1;
  if (type === 'INT32') {
    const ints = int32s(page);
    return (i, k) => {
      out.page[k] = p;
      out.start[k] = ints[i]!;
    };
  }
  if (type !== 'BYTE_ARRAY') throw new UnsupportedPlayPage(`${type} values are read through hyparquet`);
  const offsets = plainOffsets(page, count);
  return (i, k) => {
    out.page[k] = p;
    out.start[k] = offsets[i]! + 4;
    out.end[k] = offsets[i + 1]!;
  };
}

/** The values of a flat column at rows `wanted` (ascending), null where an optional column's row has none. */
export function columnValuesAt(bytes: Uint8Array, chunk: ColumnChunk, rows: number, wanted: Int32Array): ValuesAt {
  const meta = chunk.meta_data!;
  const out = new ValuesAt(wanted.length);
  let dictionary: ((i: number, k: number) => void) | undefined;
  let row = 0;
  let k = 0;
  for (const { header, body } of pagesOf(bytes, chunk, rows)) {
    if (header.type === 'DICTIONARY_PAGE') {
      const count = header.dictionary_page_header!.num_values;
      dictionary = plainValues(decompressed(body, header.uncompressed_page_size, meta.codec), count, meta.type, out);
      continue;
    }
    const v2 = header.data_page_header_v2!;
    const n = v2.num_values;
    const pageEnd = row + n;
    if (k >= wanted.length || wanted[k]! >= pageEnd) {
      row = pageEnd;
      continue;
    }
    if (v2.repetition_levels_byte_length) throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')} is repeated`);
    const levelBytes = v2.definition_levels_byte_length;
    const present = new Uint8Array(n).fill(v2.num_nulls === n ? 0 : 1);
    if (v2.num_nulls && v2.num_nulls !== n) {
      const reader = { view: new DataView(body.buffer, body.byteOffset, levelBytes), offset: 0 };
      readRleBitPackedHybrid(reader, 1, present, levelBytes);
    }
    const nonNull = n - v2.num_nulls;
    const compressedValues = body.subarray(levelBytes);
    const page = v2.is_compressed === false ? compressedValues : decompressed(compressedValues, header.uncompressed_page_size - levelBytes, meta.codec);
    let valueAt: (i: number, k: number) => void;
    if (v2.encoding === 'RLE_DICTIONARY' || v2.encoding === 'PLAIN_DICTIONARY') {
      if (!dictionary) throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')}: dictionary-encoded page without a dictionary`);
      const indexes = nonNull ? dictionaryIndexes(page, nonNull) : new Int32Array(0);
      const entry = dictionary;
      valueAt = (i, k) => entry(indexes[i]!, k);
    } else if (v2.encoding === 'PLAIN') {
      valueAt = plainValues(page, nonNull, meta.type, out);
    } else {
      throw new UnsupportedPlayPage(`column ${meta.path_in_schema.join('.')}: ${v2.encoding} pages are read through hyparquet`);
    }
    // The values hold only the rows that have one: a row's value is at the count of such rows before it.
    let value = 0;
    for (let r = row; r < pageEnd && k < wanted.length; r++) {
      const has = present[r - row] === 1;
      if (r === wanted[k]) {
        if (has) valueAt(value, k);
        k++;
      }
      if (has) value++;
    }
    row = pageEnd;
  }
  return out;
}
