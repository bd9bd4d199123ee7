import { parquetMetadataAsync, parquetRead, type AsyncBuffer, type ColumnChunk } from 'hyparquet';
import type { ObjectStore } from '@musicflow/storage';
import { partFormatOf, type PartFormat } from './part-format.ts';
import { LAKE_PARQUET_SCHEMA } from './part-writer.ts';
import { SNAPPY_DECOMPRESSORS } from './snappy.ts';
import {
  chunkRange,
  decodePlays,
  decodeTrackInfoAt,
  PLAY_CHUNK_COLUMNS,
  TRACK_INFO_CHUNK_COLUMNS,
  UnsupportedPlayPage,
  type LakePlays,
  type LakeTrackInfoRow,
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

const utf8 = new TextDecoder();

/** The event's columns; `user_bucket` only orders the part (see `groupBuckets`). */
const ALL_COLUMNS = LAKE_PARQUET_SCHEMA.slice(1)
  .map((c) => c.name)
  .filter((name) => name !== 'user_bucket') as LakeColumnName[];

async function asyncBuffer(store: ObjectStore, url: string): Promise<AsyncBuffer> {
  const info = await store.head(url);
  if (!info) throw new Error(`lake part ${url} is missing`);
  return {
    byteLength: info.size,
    async slice(start: number, end = info.size): Promise<ArrayBuffer> {
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
  rows: number;
  rowGroups: number;
  /** Rows of row group `index`. */
  groupRows(index: number): number;
  /** The part's format version and what it holds (see part-format.ts). */
  format: PartFormat;
  /** Row group `index` (0-based). */
  readGroup<C extends LakeColumnName>(index: number, columns?: readonly C[]): Promise<Pick<LakeColumns, C | 'rows'>>;
  /**
   * Row group `index`'s plays as typed arrays (see LakePlays), its track_id
   * as `internTrack(track_id)` per row. `internTrack` runs once per entry of
   * the group's dictionary, not once per row: a lookup per row was a third of
   * a KPI pass (measured on 5M events). One ranged read for the four columns.
   */
  readPlays(index: number, internTrack: (trackId: string) => number): Promise<LakePlays>;
  /** The track info of row group `index`'s rows `wanted` (distinct, ascending), in their order. */
  readTrackInfo(index: number, wanted: Int32Array): Promise<LakeTrackInfoRow[]>;
  /**
   * The range of user buckets (`userBucketOf`) row group `index` holds, from
   * its statistics; undefined for a part of a format without buckets.
   */
  groupBuckets(index: number): { min: number; max: number } | undefined;
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

export async function openLakePart(store: ObjectStore, url: string): Promise<LakePartReader> {
  const file = await asyncBuffer(store, url);
  const footer = await parquetMetadataAsync(file);
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

  async function readColumns(index: number, columns: readonly string[], parsers?: object): Promise<Map<string, ArrayLike<unknown>>> {
    const rowStart = groupStarts[index]!;
    const rowEnd = rowStart + groupRows[index]!;
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
        if (!target) data.set(columnName, (target = new Array(groupRows[index])));
        const offset = from - rowStart;
        for (let i = 0; i < columnData.length; i++) target[offset + i] = columnData[i];
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
  /** `decode` of the group's chunks of `names`, read in one ranged read; undefined when the fast path cannot decode them. */
  async function decodeFast<N extends string, T>(
    index: number,
    names: readonly N[],
    decode: (bytes: Uint8Array, start: number, chunks: Record<N, ColumnChunk>) => T,
  ) {
    if (!fastPath) return undefined;
    const chunks = Object.fromEntries(names.map((name) => [name, metadata.row_groups[index]!.columns[columnIndexes.get(name)!]!])) as Record<N, ColumnChunk>;
    const ranges = Object.values<ColumnChunk>(chunks).map(chunkRange);
    const start = Math.min(...ranges.map((r) => r[0]));
    const bytes = new Uint8Array(await file.slice(start, Math.max(...ranges.map((r) => r[1]))));
    try {
      return decode(bytes, start, chunks);
    } catch (error) {
      if (!(error instanceof UnsupportedPlayPage)) throw error;
      fastPath = false;
      return undefined;
    }
  }
  const reader: LakePartReader = {
    rows,
    rowGroups: metadata.row_groups.length,
    groupRows: (index: number) => groupRows[index]!,
    format,
    groupBuckets(index: number) {
      if (bucketColumn < 0) return undefined;
      const stats = metadata.row_groups[index]?.columns[bucketColumn]?.meta_data?.statistics;
      const min = stats?.min_value ?? stats?.min;
      const max = stats?.max_value ?? stats?.max;
      return typeof min === 'number' && typeof max === 'number' ? { min, max } : undefined;
    },
    async readGroup<C extends LakeColumnName>(index: number, columns: readonly C[] = present as C[]) {
      const data = await readColumns(index, columns);
      return { rows: groupRows[index]!, ...Object.fromEntries(data) } as Pick<LakeColumns, C | 'rows'>;
    },
    async readPlays(index: number, internTrack: (trackId: string) => number) {
      const rows = groupRows[index]!;
      const plays = await decodeFast(index, PLAY_CHUNK_COLUMNS, (bytes, start, chunks) => decodePlays(bytes, start, rows, chunks, internTrack));
      if (plays) return plays;
      const data = await readColumns(index, ['user_id', 'listen_time', 'track_name']);
      // A dictionary entry's value is what the parser returns: rows then take the interned index, not a string.
      const tracks = await readColumns(index, ['track_id'], { stringFromBytes: (bytes: Uint8Array) => internTrack(utf8.decode(bytes)) });
      const names = data.get('track_name') as ArrayLike<string | null>;
      return {
        rows,
        userIds: Int32Array.from(data.get('user_id') as ArrayLike<number>),
        listenTimes: Float64Array.from(data.get('listen_time') as ArrayLike<number>),
        tracks: Int32Array.from(tracks.get('track_id') as ArrayLike<number>),
        catalogued: Uint8Array.from({ length: rows }, (_, i) => (names[i] != null ? 1 : 0)),
      };
    },
    async readTrackInfo(index: number, wanted: Int32Array) {
      const rows = groupRows[index]!;
      const info = await decodeFast(index, TRACK_INFO_CHUNK_COLUMNS, (bytes, start, chunks) => decodeTrackInfoAt(bytes, start, rows, chunks, wanted));
      if (info) return info;
      const group = await reader.readGroup(index, TRACK_INFO_CHUNK_COLUMNS);
      return Array.from(wanted, (r) => ({
        track_name: group.track_name[r] ?? null,
        artists: group.artists[r] ?? null,
        genres: group.genres[r] ?? null,
        popularity: group.popularity[r] ?? null,
        duration_ms: group.duration_ms[r] ?? null,
      }));
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
