import { parquetMetadataAsync, parquetRead, type AsyncBuffer } from 'hyparquet';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_PARQUET_SCHEMA, SOURCE_FILES_KEY } from './part-writer.ts';
import { SNAPPY_DECOMPRESSORS } from './snappy.ts';

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
      return all.buffer.slice(all.byteOffset, all.byteOffset + all.length) as ArrayBuffer;
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
  /**
   * The ids of the stream files whose rows the part holds, from its footer;
   * undefined for a part written before parts recorded them (named after its one file).
   */
  sourceFiles: readonly string[] | undefined;
  /** Row group `index` (0-based). */
  readGroup<C extends LakeColumnName>(index: number, columns?: readonly C[]): Promise<Pick<LakeColumns, C | 'rows'>>;
  /**
   * Row group `index`'s track_id column as `internTrack(track_id)` per row.
   * `internTrack` runs once per entry of the group's dictionary, not once per
   * row: a lookup per row was a third of a KPI pass (measured on 5M events).
   */
  readTrackIndexes(index: number, internTrack: (trackId: string) => number): Promise<ArrayLike<number>>;
  /**
   * The range of user buckets (`userBucketOf`) row group `index` holds, from
   * its statistics; undefined for a part written before parts had buckets.
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
        if (!target) data.set(columnName, (target = new Array(groupRows[index]!)));
        const offset = from - rowStart;
        for (let i = 0; i < columnData.length; i++) target[offset + i] = columnData[i];
      },
    });
    return data;
  }
  const bucketColumn = metadata.row_groups[0]?.columns.findIndex((c) => c.meta_data?.path_in_schema.join('.') === 'user_bucket') ?? -1;
  // A part written before a column existed (source_file) is read without it.
  const present = ALL_COLUMNS.filter((name) => metadata.schema.some((e) => e.name === name));
  const sourceFiles = metadata.key_value_metadata?.find((kv) => kv.key === SOURCE_FILES_KEY)?.value;
  const reader: LakePartReader = {
    rows,
    rowGroups: metadata.row_groups.length,
    sourceFiles: sourceFiles === undefined ? undefined : (JSON.parse(sourceFiles) as string[]),
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
    async readTrackIndexes(index: number, internTrack: (trackId: string) => number) {
      // A dictionary entry's value is what the parser returns: rows then take the interned index, not a string.
      const data = await readColumns(index, ['track_id'], { stringFromBytes: (bytes: Uint8Array) => internTrack(utf8.decode(bytes)) });
      return data.get('track_id') as ArrayLike<number>;
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
