import pMap from 'p-map';
import { parquetMetadataAsync, parquetRead, readColumnIndex, readOffsetIndex, type AsyncBuffer, type ColumnChunk, type OffsetIndex } from 'hyparquet';
import type { ObjectStore } from '@musicflow/storage';
import { partFormatOf, type PartFormat } from './part-format.ts';
import { LAKE_PARQUET_SCHEMA } from './part-writer.ts';
import { SNAPPY_DECOMPRESSORS } from './snappy.ts';
import {
  chunkRange,
  columnValuesAt,
  decodePlays,
  decodeTrackInfoAt,
  PLAY_CHUNK_COLUMNS,
  TRACK_INFO_CHUNK_COLUMNS,
  trackInfoOf,
  UnsupportedPlayPage,
  type InternTrack,
  type LakePlays,
  type LakeTrackInfo,
  ValuesAt,
} from './play-columns.ts';

/** One row group of a lake part, column by column (SPEC 3b); nulls where the track is not in the catalogue. */
export interface LakeColumns {
  rows: number;
  user_id: ArrayLike<number>;
  track_id: ArrayLike<string>;
  listen_time: ArrayLike<number>;
  user_known: ArrayLike<boolean>;
  track_name: ArrayLike<string | null>;
  artists: ArrayLike<string | null>;
  genres: ArrayLike<string | null>;
  popularity: ArrayLike<number | null>;
  duration_ms: ArrayLike<number | null>;
  source_file: ArrayLike<string>;
}

export type LakeColumnName = Exclude<keyof LakeColumns, 'rows'>;

/** Rows `[from, to)` of a row group, at page boundaries (see `LakePartReader.rowsInBuckets`). */
export type GroupRows = readonly [from: number, to: number];

/** The event's columns; `user_bucket` only orders the part (see `groupBuckets`). */
const utf8 = new TextEncoder();
const utf8Text = new TextDecoder();
const ALL_COLUMNS = LAKE_PARQUET_SCHEMA.slice(1)
  .map((c) => c.name)
  .filter((name) => name !== 'user_bucket') as LakeColumnName[];

/**
 * A part's size and last bytes (its page index, in format 5, and its footer),
 * as a KPI date job hands them to its passes: a pass opens the part from
 * them, without a HEAD or a read of the part's tail.
 */
export interface PartTail {
  size: number;
  start: number;
  bytes: Uint8Array;
}

async function asyncBuffer(store: ObjectStore, url: string, tail?: PartTail): Promise<AsyncBuffer> {
  const size = tail?.size ?? (await store.head(url))?.size;
  if (size === undefined) throw new Error(`lake part ${url} is missing`);
  return {
    byteLength: size,
    async slice(start: number, end = size): Promise<ArrayBuffer> {
      // A copy: `tail.bytes` may be a Buffer, whose slice is a view into a larger ArrayBuffer.
      if (tail && start >= tail.start && end <= size) return new Uint8Array(tail.bytes.subarray(start - tail.start, end - tail.start)).buffer;
      const parts: Buffer[] = [];
      for await (const b of await store.read(url, { start, end })) parts.push(b as Buffer);
      const all = Buffer.concat(parts);
      return all.buffer.slice(all.byteOffset, all.byteOffset + all.length);
    },
  };
}

/**
 * A lake part opened for reading: its footer is read, its rows counted. Row
 * groups come through ranged reads, as columns: no object per row, and
 * dictionary-encoded strings come back as the same string instances row after
 * row. Columns not asked for are not read.
 */
export interface LakePartReader {
  /** The part's size and last bytes, for `openLakePart` elsewhere without reading them again. */
  tail(): Promise<PartTail>;
  rows: number;
  rowGroups: number;
  /** Rows of row group `index`. */
  groupRows(index: number): number;
  /** The part's format version and what it holds (see part-format.ts). */
  format: PartFormat;
  /** Row group `index` (0-based). */
  readGroup<C extends LakeColumnName>(index: number, columns?: readonly C[]): Promise<Pick<LakeColumns, C | 'rows'>>;
  /**
   * Row group `index`'s plays as typed arrays (see LakePlays), its rows
   * `rows` (all by default), its track_id interned by `internTrack` from its
   * bytes, once per dictionary entry the rows use, not once per row: a
   * lookup per row was a third of a KPI pass (measured on 5M events).
   */
  readPlays(index: number, internTrack: InternTrack, rows?: GroupRows): Promise<LakePlays>;
  /** The track info of the rows `wanted` (distinct, ascending, indexes into `rows`) of row group `index`, in their order. */
  readTrackInfo(index: number, wanted: Int32Array, rows?: GroupRows): Promise<LakeTrackInfo>;
  /** The source file of the rows `wanted` (ascending, indexes into `rows`) of row group `index`. */
  readSourceFiles(index: number, wanted: readonly number[], rows?: GroupRows): Promise<string[]>;
  /**
   * The range of user buckets (`userBucketOf`, 0 to USER_BUCKETS - 1) row
   * group `index` may hold, from its statistics; undefined for a part of a
   * format without buckets.
   */
  groupBuckets(index: number): { min: number; max: number } | undefined;
  /**
   * The rows of row group `index` a pass over buckets `[first, end)` reads:
   * the pages whose users may be in them (part format 5's page index), the
   * whole group for an older part whose bucket range meets them, none
   * (`[0, 0]`) when the group holds none of them.
   */
  rowsInBuckets(index: number, buckets: readonly [first: number, end: number]): Promise<GroupRows>;
  /** Every row group in turn. */
  columns<C extends LakeColumnName>(columns?: readonly C[]): AsyncGenerator<Pick<LakeColumns, C | 'rows'>>;
}

/**
 * Milliseconds from INT64 values. Plain pages arrive as a BigInt64Array, read
 * as two int32 words a value (little-endian, as typed arrays are on every
 * platform Node runs on): no BigInt per value. A dictionary-encoded page
 * (the writer picks one when listen times repeat) arrives as BigInts.
 */
function millisOf(values: BigInt64Array | ArrayLike<bigint>): Float64Array {
  const millis = new Float64Array(values.length);
  if (values instanceof BigInt64Array) {
    const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2);
    for (let i = 0; i < millis.length; i++) millis[i] = words[2 * i + 1]! * 4_294_967_296 + (words[2 * i]! >>> 0);
  } else {
    for (let i = 0; i < millis.length; i++) millis[i] = Number(values[i]);
  }
  return millis;
}

/** The lake part at `url`, its footer read from the store, or from `tail` when the caller has it. */
export async function openLakePart(store: ObjectStore, url: string, tail?: PartTail): Promise<LakePartReader> {
  const file = await asyncBuffer(store, url, tail);
  const footer = await parquetMetadataAsync(file, tail && { initialFetchSize: tail.bytes.length });
  // listen_time is read as the plain INT64 it is stored as: hyparquet would make a BigInt, then a parser
  // call, per value, which took as long as reading user_id, track_id and track_name together (measured).
  const metadata = {
    ...footer,
    schema: footer.schema.map((e) => (e.name === 'listen_time' ? { ...e, converted_type: undefined, logical_type: undefined } : e)),
  };
  const groupRows = metadata.row_groups.map((group) => Number(group.num_rows));
  const groupStarts: number[] = [];
  let rows = 0;
  for (const n of groupRows) {
    groupStarts.push(rows);
    rows += n;
  }

  async function readColumns(index: number, columns: readonly string[], parsers?: object, range?: GroupRows): Promise<Map<string, ArrayLike<unknown>>> {
    const rowStart = groupStarts[index]! + (range?.[0] ?? 0);
    const rowEnd = range ? groupStarts[index]! + range[1] : rowStart + groupRows[index]!;
    const data = new Map<string, ArrayLike<unknown>>();
    await parquetRead({
      file,
      metadata,
      columns: [...columns],
      rowStart,
      rowEnd,
      compressors: SNAPPY_DECOMPRESSORS,
      ...(parsers && { parsers }),
      onChunk: ({ columnName, columnData: decoded, rowStart: from, rowEnd: to }) => {
        const columnData = columnName === 'listen_time' ? millisOf(decoded as BigInt64Array | bigint[]) : decoded;
        // Usually a column arrives whole; when it comes in pages, each lands at its offset in the group.
        if (from === rowStart && to === rowEnd) {
          data.set(columnName, columnData);
          return;
        }
        let target = data.get(columnName) as unknown[] | undefined;
        if (!target) data.set(columnName, (target = new Array(rowEnd - rowStart)));
        const offset = from - rowStart;
        for (let i = Math.max(0, -offset); i < columnData.length && offset + i < target.length; i++) target[offset + i] = columnData[i];
      },
    });
    return data;
  }
  const format = partFormatOf(metadata, url);
  const present = format.hasSourceFileColumn ? ALL_COLUMNS : ALL_COLUMNS.filter((name) => name !== 'source_file');
  const columnIndexes = new Map(metadata.row_groups[0]?.columns.map((c, i) => [c.meta_data?.path_in_schema.join('.'), i]));
  const bucketColumn = format.bucketed ? columnIndexes.get('user_bucket')! : -1;
  // Until a page says otherwise (another writer's part), plays and track info are decoded by play-columns.ts.
  let fastPath = [...PLAY_CHUNK_COLUMNS, ...TRACK_INFO_CHUNK_COLUMNS].every((name) => columnIndexes.has(name));
  // Parquet's page index (part format 5): read at the first pass that asks, in one ranged read, and parsed per chunk.
  const pageIndexSpans = metadata.row_groups
    .flatMap((group) =>
      group.columns.flatMap((c) => [
        [c.column_index_offset, c.column_index_length],
        [c.offset_index_offset, c.offset_index_length],
      ]),
    )
    .filter(([o, l]) => o !== undefined && l !== undefined)
    .map(([o, l]) => [Number(o), Number(o) + Number(l)] as const);
  const pageIndexRange: [number, number] | undefined = pageIndexSpans.length
    ? [Math.min(...pageIndexSpans.map((r) => r[0])), Math.max(...pageIndexSpans.map((r) => r[1]))]
    : undefined;
  let pageIndexBytes: Promise<{ start: number; bytes: Uint8Array }> | undefined;
  const offsetIndexes = new Map<ColumnChunk, OffsetIndex>();
  async function pageIndexReader(offset: bigint | undefined, length: number | undefined) {
    if (offset === undefined || length === undefined) return undefined;
    pageIndexBytes ??= (async () => {
      const [start, end] = pageIndexRange!;
      return { start, bytes: new Uint8Array(await file.slice(start, end)) };
    })();
    const { start, bytes } = await pageIndexBytes;
    return { view: new DataView(bytes.buffer, bytes.byteOffset + Number(offset) - start, length), offset: 0 };
  }
  async function offsetIndexOf(chunk: ColumnChunk): Promise<OffsetIndex | undefined> {
    const known = offsetIndexes.get(chunk);
    if (known) return known;
    const at = await pageIndexReader(chunk.offset_index_offset, chunk.offset_index_length);
    if (!at) return undefined;
    const index = readOffsetIndex(at);
    offsetIndexes.set(chunk, index);
    return index;
  }
  /** The byte spans holding rows `[from, to)` of a chunk: its dictionary page and the data pages of those rows (all of it for the whole group). */
  async function pageSpans(index: number, chunk: ColumnChunk, [from, to]: GroupRows): Promise<[number, number][]> {
    const whole = chunkRange(chunk);
    if (from === 0 && to === groupRows[index]) return [whole];
    const pages = (await offsetIndexOf(chunk))?.page_locations;
    if (!pages) throw new Error(`lake part ${url}: rows ${from}-${to} of row group ${index} asked for, but its chunks have no page index`);
    const first = pages.findIndex((p) => Number(p.first_row_index) === from);
    const end = to === groupRows[index] ? pages.length : pages.findIndex((p) => Number(p.first_row_index) === to);
    if (first < 0 || end < 0) throw new Error(`lake part ${url}: rows ${from}-${to} of row group ${index} are not at page boundaries`);
    const last = pages[end - 1]!;
    const data: [number, number] = [Number(pages[first]!.offset), Number(last.offset) + last.compressed_page_size];
    const dictionary = chunk.meta_data!.dictionary_page_offset;
    return dictionary === undefined ? [data] : [[Number(dictionary), Number(pages[0]!.offset)], data];
  }
  /**
   * `decode` of rows `rows` of the group's chunks of `names`: each chunk's pages
   * of those rows, read in ranged reads (spans less than 64 KiB apart in one);
   * undefined when the fast path cannot decode them.
   */
  async function decodeFast<N extends string, T>(
    index: number,
    names: readonly N[],
    rows: GroupRows,
    decode: (pages: Record<N, Uint8Array>, chunks: Record<N, ColumnChunk>) => T,
  ) {
    if (!fastPath) return undefined;
    const chunks = Object.fromEntries(names.map((name) => [name, metadata.row_groups[index]!.columns[columnIndexes.get(name)!]!])) as Record<N, ColumnChunk>;
    const spans = await Promise.all(names.map((name) => pageSpans(index, chunks[name], rows)));
    const reads: [number, number][] = [];
    for (const [start, end] of spans.flat().sort((a, b) => a[0] - b[0])) {
      const last = reads.at(-1);
      if (last && start - last[1] < 65_536) last[1] = Math.max(last[1], end);
      else reads.push([start, end]);
    }
    const read = await Promise.all(reads.map(async ([start, end]) => ({ start, bytes: new Uint8Array(await file.slice(start, end)) })));
    const bytesOf = ([start, end]: [number, number]) => {
      const r = read.find((r) => r.start <= start && end <= r.start + r.bytes.length)!;
      return r.bytes.subarray(start - r.start, end - r.start);
    };
    const pages = Object.fromEntries(
      names.map((name, i) => {
        const parts = spans[i]!.map(bytesOf);
        return [name, parts.length === 1 ? parts[0]! : Buffer.concat(parts)];
      }),
    ) as Record<N, Uint8Array>;
    try {
      return decode(pages, chunks);
    } catch (error) {
      if (!(error instanceof UnsupportedPlayPage)) throw error;
      fastPath = false;
      return undefined;
    }
  }
  const wholeGroup = (index: number): GroupRows => [0, groupRows[index]!];
  const reader: LakePartReader = {
    async tail() {
      const start = Math.min(pageIndexRange?.[0] ?? Infinity, file.byteLength - 8 - footer.metadata_length);
      return { size: file.byteLength, start, bytes: new Uint8Array(await file.slice(start)) };
    },
    rows,
    rowGroups: metadata.row_groups.length,
    groupRows: (index: number) => groupRows[index]!,
    format,
    groupBuckets(index: number) {
      if (bucketColumn < 0) return undefined;
      const stats = metadata.row_groups[index]?.columns[bucketColumn]?.meta_data?.statistics;
      const min = stats?.min_value ?? stats?.min;
      const max = stats?.max_value ?? stats?.max;
      if (typeof min !== 'number' || typeof max !== 'number') return undefined;
      return { min: min * format.bucketSpan, max: max * format.bucketSpan + format.bucketSpan - 1 };
    },
    async rowsInBuckets(index: number, [first, end]: readonly [number, number]) {
      const buckets = reader.groupBuckets(index);
      if (buckets && (buckets.max < first || buckets.min >= end)) return [0, 0];
      const chunk = metadata.row_groups[index]!.columns[bucketColumn];
      const at = format.pageIndexed && chunk ? await pageIndexReader(chunk.column_index_offset, chunk.column_index_length) : undefined;
      const pages = at && (await offsetIndexOf(chunk!))?.page_locations;
      if (!at || !pages) return wholeGroup(index);
      // hyparquet converts an INT32 column's bounds to numbers (its types say bytes).
      const { min_values, max_values } = readColumnIndex(
        at,
        metadata.schema.find((e) => e.name === 'user_bucket')!,
      ) as unknown as {
        min_values: number[];
        max_values: number[];
      };
      let from = -1;
      let to = 0;
      for (let p = 0; p < pages.length; p++) {
        if (max_values[p]! < first || min_values[p]! >= end) continue;
        if (from < 0) from = Number(pages[p]!.first_row_index);
        to = p + 1 < pages.length ? Number(pages[p + 1]!.first_row_index) : groupRows[index]!;
      }
      return from < 0 ? [0, 0] : [from, to];
    },
    async readGroup<C extends LakeColumnName>(index: number, columns: readonly C[] = present as C[]) {
      const data = await readColumns(index, columns);
      return { rows: groupRows[index]!, ...Object.fromEntries(data) } as Pick<LakeColumns, C | 'rows'>;
    },
    async readPlays(index: number, internTrack: InternTrack, range = wholeGroup(index)) {
      const rows = range[1] - range[0];
      const plays = await decodeFast(index, PLAY_CHUNK_COLUMNS, range, (pages, chunks) => decodePlays(pages, rows, chunks, internTrack));
      if (plays) return plays;
      const data = await readColumns(index, ['user_id', 'listen_time', 'track_name'], undefined, range);
      // A dictionary entry's value is what the parser returns: rows then take the interned index, not a string.
      const tracks = await readColumns(index, ['track_id'], { stringFromBytes: (bytes: Uint8Array) => internTrack(bytes, 0, bytes.length) }, range);
      const names = data.get('track_name') as ArrayLike<string | null>;
      return {
        rows,
        userIds: Int32Array.from(data.get('user_id') as ArrayLike<number>),
        listenTimes: Float64Array.from(data.get('listen_time') as ArrayLike<number>),
        tracks: Int32Array.from(tracks.get('track_id') as ArrayLike<number>),
        catalogued: Uint8Array.from({ length: rows }, (_, i) => (names[i] != null ? 1 : 0)),
      };
    },
    async readTrackInfo(index: number, wanted: Int32Array, range = wholeGroup(index)) {
      const rows = range[1] - range[0];
      const info = await decodeFast(index, TRACK_INFO_CHUNK_COLUMNS, range, (pages, chunks) => decodeTrackInfoAt(pages, rows, chunks, wanted));
      if (info) return info;
      const data = await readColumns(index, TRACK_INFO_CHUNK_COLUMNS, undefined, range);
      return trackInfoOf((name) => {
        const decoded = data.get(name) as ArrayLike<string | number | null | undefined>;
        const values = new ValuesAt(wanted.length);
        wanted.forEach((r, k) => {
          const value = decoded[r] ?? null;
          values.set(k, typeof value === 'string' ? utf8.encode(value) : value);
        });
        return values;
      });
    },
    async readSourceFiles(index: number, wanted: readonly number[], range = wholeGroup(index)) {
      const rows = range[1] - range[0];
      const at = Int32Array.from(wanted);
      const files = await decodeFast(index, ['source_file'] as const, range, (pages, chunks) =>
        columnValuesAt(pages.source_file, chunks.source_file, rows, at),
      );
      if (files) return wanted.map((_, k) => utf8Text.decode(files.bytes(k)));
      const column = (await readColumns(index, ['source_file'], undefined, range)).get('source_file') as ArrayLike<string>;
      return wanted.map((r) => column[r]!);
    },
    async *columns<C extends LakeColumnName>(columns: readonly C[] = present as C[]) {
      for (let g = 0; g < reader.rowGroups; g++) yield await reader.readGroup(g, columns);
    },
  };
  return reader;
}

/** Every row group of the lake part at `url`, as columns (see LakePartReader). */
export async function* readLakeColumns<C extends LakeColumnName>(
  store: ObjectStore,
  url: string,
  columns?: readonly C[],
): AsyncGenerator<Pick<LakeColumns, C | 'rows'>> {
  yield* (await openLakePart(store, url)).columns(columns);
}

/**
 * At most how many distinct tracks and users the parts at `urls` name, from their footers (a part's distinct
 * tracks since format 4, else its rows; its users, its rows): what sizes a recompute's catalogue jobs.
 */
export async function partKeysAtMost(store: ObjectStore, urls: readonly string[]): Promise<{ tracks: number; users: number }> {
  const counts = { tracks: 0, users: 0 };
  // A recompute of a long range opens thousands of parts: their footers are mostly waiting on the store.
  await pMap(
    urls,
    async (url) => {
      const part = await openLakePart(store, url);
      counts.tracks += part.format.distinctTracksAtMost;
      counts.users += part.rows;
    },
    { concurrency: 16 },
  );
  return counts;
}
