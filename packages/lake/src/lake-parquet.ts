/**
 * The lake's Parquet writer, made for its one schema (LAKE_PARQUET_SCHEMA) from
 * hyparquet-writer's own parts (page headers, RLE/bit-packed hybrid, the file
 * footer): the same pages, encodings and dictionaries as its ParquetWriter
 * wrote for the lake (the same bytes, given its snappy compressor), without
 * its per-value work. Rows arrive as
 * typed arrays; the track columns come from the chunk's track table, whose
 * values are interned once per chunk, so a row group's dictionaries are
 * remaps of value ids in typed arrays, not a Map lookup per value and column.
 */
import type { ByteWriter } from 'hyparquet-writer';
import { writePageHeader } from 'hyparquet-writer/src/datapage.js';
import { writeRleBitPackedHybrid } from 'hyparquet-writer/src/encoding.js';
import { writeIndexes } from 'hyparquet-writer/src/indexes.js';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import type { ColumnChunk, ColumnIndex, ColumnMetaData, KeyValue, OffsetIndex, ParquetType, RowGroup, SchemaElement } from 'hyparquet';
import { createRequire } from 'node:module';
import { snappyCompressNative } from './snappy.ts';
import { mixInt32, StringPool, withRoom, type Utf8Column } from '@musicflow/kpi';
import { STRIDE, TRACK_STRING_COLUMNS, type LakeTrackTable } from './track-table.ts';

/** The footer's `created_by`, in Parquet's `<application> version <version>` form: the package's version, from src or dist alike. */
export const LAKE_CREATED_BY = `musicflow version ${(createRequire(import.meta.url)('../package.json') as { version: string }).version}`;

/** A SNAPPY page compressor (raw block). */
export type Compress = (bytes: Uint8Array) => Uint8Array;

/** One row group's rows, in the order they are written. */
export interface LakeGroupRows {
  rows: number;
  userIds: Int32Array;
  listenTimes: Float64Array;
  /** 1 where the user is in the catalogue. */
  known: Uint8Array;
  /** Indexes into the track table. */
  tracks: Int32Array;
  /** Indexes into the part's source files. */
  files: Int32Array;
  /** `userBucketOf(user_id)` per row; rows of one bucket are consecutive when the part is sorted. */
  buckets: Uint16Array;
}

/**
 * Rows of a data page, about: every column's pages are cut at the same rows,
 * at user-bucket boundaries, and the page index records each page's rows and
 * bucket range, so a KPI pass over some buckets reads about half a page
 * beyond them at each end of each sorted run (counted in
 * test/integration/kpi-pass-reads.test.ts). At 512 rows, the 200 passes of a
 * 20M-event day over 31 parts read up to 1.42x their rows; at 256, a part of
 * 1M long-tail rows is 1 % bigger (33.0 to 33.4 MB) and its page index and
 * footer take 0.33 MB.
 */
export const PAGE_ROWS = 256;

/** How a row group's rows fall into pages: the same pages for every column. */
interface PageLayout {
  count: number;
  /** First row of each page, then the group's rows. */
  rowStarts: Int32Array;
  /** Catalogued rows (the optional columns' values) before each page, then in all. */
  valueStarts: Int32Array;
  /** Each page's definition levels of the optional columns, RLE/bit-packed. */
  levels: Uint8Array[];
  /** Each page's uncatalogued rows. */
  nulls: Int32Array;
}

/** A column's pages: slices of `rowStarts` (required columns) or `valueStarts` (optional ones, with their levels). */
interface PageSlices {
  rowStarts: Int32Array;
  starts: Int32Array;
  levels?: Uint8Array[];
  nulls?: Int32Array;
}

/**
 * Page boundaries of a group: a page ends at the end of the bucket its
 * PAGE_ROWS-th row is in (so no bucket of a sorted group straddles pages).
 */
function pageStarts(buckets: Uint16Array, n: number): Int32Array {
  const starts = [0];
  let from = 0;
  while (from < n) {
    let to = Math.min(n, from + PAGE_ROWS);
    while (to < n && buckets[to] === buckets[to - 1]) to++;
    starts.push(to);
    from = to;
  }
  return Int32Array.from(starts);
}

/** What a column's values became: its page bytes before and after compression. */
interface Payload {
  plainLength: number;
  compressed: Uint8Array;
}

const MAGIC = 0x31524150; // PAR1

/** The encodings the lake's pages use (named here: hyparquet and hyparquet-writer's copy of it type them apart). */
type PageEncoding = 'PLAIN' | 'RLE' | 'RLE_DICTIONARY';

/** Per-group scratch, shared by every part: a group is encoded in one synchronous step. */
class Scratch {
  /** Stamps mark what the current group has seen, so nothing is cleared between groups. */
  generation = 0;
  trackSeen = new Int32Array(1024);
  trackLocal = new Int32Array(1024);
  /** The group's tracks in first-use order, and each row's position in that list. */
  used = new Int32Array(1024);
  rowTrack = new Int32Array(1024);
  valueSeen = TRACK_STRING_COLUMNS.map(() => new Int32Array(1024));
  valueLocal = TRACK_STRING_COLUMNS.map(() => new Int32Array(1024));
  /** Per track string column: its dictionary (value ids in first-use order), each used track's index in it (-1: null). */
  trackDictionaries = TRACK_STRING_COLUMNS.map(() => new Int32Array(1024));
  trackMaps = TRACK_STRING_COLUMNS.map(() => new Int32Array(1024));
  trackDistinct = new Int32Array(TRACK_STRING_COLUMNS.length);
  dictionary = new Int32Array(1024);
  indexes = new Int32Array(1024);
  ints = new Int32Array(1024);
  levels = new Uint8Array(1024);
  hashKeys = new Int32Array(1024);
  hashSlots = new Int32Array(1024);
  hashSeen = new Int32Array(1024);
  words = new Int32Array(2048);
  page: ByteWriter | undefined;
  /** A string column's dictionary page, before compression. */
  dictionaryPage = new Uint8Array(1 << 16);
}
const scratch = new Scratch();

/** Bits of a dictionary index for `size` entries (0 for one entry). */
const bitWidthOf = (size: number) => (size <= 1 ? 0 : 32 - Math.clz32(size - 1));

/**
 * hyparquet-writer's rule for an integer column: a dictionary only when it
 * and its bit-packed indexes take at most half the PLAIN bytes.
 */
const dictionaryPays = (distinct: number, values: number) => values > 0 && 2 * (distinct * 4 + Math.ceil((values * bitWidthOf(distinct)) / 8)) <= values * 4;

const bytesOf = (a: Int32Array | Float64Array, n: number, width: number) => new Uint8Array(a.buffer, a.byteOffset, n * width);

/** A page scratch writer, emptied. */
function pageWriter(writer: ByteWriter): ByteWriter {
  const page = (scratch.page ??= new (writer.constructor as new (size: number) => ByteWriter)(1 << 16));
  page.index = 0;
  page.offset = 0;
  return page;
}

/**
 * An INT32 column's distinct values in first-use order (`scratch.dictionary`)
 * and each value's index (`scratch.indexes`), by open addressing on typed
 * arrays. Returns the number of distinct values.
 */
function intDictionary(values: Int32Array, count: number): number {
  let bits = 4;
  while (1 << bits < count * 2) bits++;
  const size = 1 << bits;
  const s = scratch;
  s.hashKeys = withRoom(s.hashKeys, size);
  s.hashSlots = withRoom(s.hashSlots, size);
  s.hashSeen = withRoom(s.hashSeen, size);
  s.dictionary = withRoom(s.dictionary, count);
  s.indexes = withRoom(s.indexes, count);
  const { hashKeys, hashSlots, hashSeen, dictionary, indexes } = s;
  const generation = ++s.generation;
  const mask = size - 1;
  let distinct = 0;
  for (let i = 0; i < count; i++) {
    const v = values[i]!;
    let h = mixInt32(v) & mask;
    while (hashSeen[h] === generation && hashKeys[h] !== v) h = (h + 1) & mask;
    if (hashSeen[h] !== generation) {
      hashSeen[h] = generation;
      hashKeys[h] = v;
      hashSlots[h] = distinct;
      dictionary[distinct++] = v;
    }
    indexes[i] = hashSlots[h]!;
  }
  return distinct;
}

/**
 * Writes one lake part: the file header at once, each row group as it is
 * given, the footer at `finish`. Every page is one DATA_PAGE_V2 per column
 * chunk (row groups stay far below the 1 MB page hyparquet-writer cuts at),
 * SNAPPY-compressed, definition levels in front, uncompressed.
 */
export class LakeParquetFile {
  private readonly groups: RowGroup[] = [];
  private rows = 0;
  private readonly fileNames = new StringPool();
  /** Each column chunk's page index, written after the last row group (Parquet's page index). */
  private readonly pageIndexes: { chunk: ColumnChunk; offsetIndex?: OffsetIndex; columnIndex?: ColumnIndex }[] = [];

  constructor(
    private readonly writer: ByteWriter & { flush(): Promise<void> | void; finish(): void },
    private readonly schema: readonly SchemaElement[],
    private readonly tracks: LakeTrackTable,
    private readonly compress: Compress = snappyCompressNative,
  ) {
    writer.appendUint32(MAGIC);
  }

  private compressed(bytes: Uint8Array): Payload {
    return { plainLength: bytes.length, compressed: this.compress(bytes) };
  }

  /** RLE/bit-packed hybrid dictionary indexes, after their bit width byte (RLE_DICTIONARY data). */
  private indexPayload(indexes: Int32Array, distinct: number): Payload {
    const page = pageWriter(this.writer);
    const bitWidth = bitWidthOf(distinct);
    page.appendUint8(bitWidth);
    writeRleBitPackedHybrid(page, indexes, bitWidth);
    return this.compressed(page.getBytes());
  }

  /** The index of a source file id, for `LakeGroupRows.files`. */
  fileIndex(fileId: string): number {
    return this.fileNames.intern(fileId);
  }

  /** The source file ids `fileIndex` was given, each once, sorted. */
  sourceFiles(): string[] {
    return Array.from({ length: this.fileNames.size }, (_, i) => this.fileNames.text(i)).sort();
  }

  /** Encodes a row group and hands it to the writer; a promise when the writer asks to wait. */
  writeGroup(g: LakeGroupRows): Promise<void> | void {
    const start = this.writer.offset;
    const n = g.rows;
    const s = scratch;
    s.ints = withRoom(s.ints, n);
    s.indexes = withRoom(s.indexes, n);
    s.levels = withRoom(s.levels, n);
    s.words = withRoom(s.words, 2 * n);
    s.rowTrack = withRoom(s.rowTrack, n);

    // Which tracks the group uses, in first-use order: every track column's dictionary follows it.
    const tableSize = this.tracks.size;
    s.trackSeen = withRoom(s.trackSeen, tableSize);
    s.trackLocal = withRoom(s.trackLocal, tableSize);
    s.used = withRoom(s.used, tableSize);
    const generation = ++s.generation;
    const { trackSeen, trackLocal, used, rowTrack } = s;
    let usedCount = 0;
    for (let r = 0; r < n; r++) {
      const t = g.tracks[r]!;
      if (trackSeen[t] !== generation) {
        trackSeen[t] = generation;
        trackLocal[t] = usedCount;
        used[usedCount++] = t;
      }
      rowTrack[r] = trackLocal[t]!;
    }
    // Definition levels of the enrichment columns (null where the track is not catalogued): the same for all five.
    const stringIds = this.tracks.stringIds;
    for (let r = 0; r < n; r++) s.levels[r] = stringIds[used[rowTrack[r]!]! * STRIDE + 1]! >= 0 ? 1 : 0;
    const layout = this.pageLayout(g.buckets, n);
    const required: PageSlices = { rowStarts: layout.rowStarts, starts: layout.rowStarts };
    const optional: PageSlices = { rowStarts: layout.rowStarts, starts: layout.valueStarts, levels: layout.levels, nulls: layout.nulls };

    this.trackDictionaries(usedCount);
    const columns: ColumnChunk[] = [];
    const column = (index: number, write: (chunk: ChunkWriter) => void) => {
      const chunk = new ChunkWriter(this.writer, this.schema[index + 1]!, n, this.compress);
      write(chunk);
      const { chunk: done, offsetIndex, columnIndex } = chunk.done();
      columns.push(done);
      this.pageIndexes.push({ chunk: done, offsetIndex, columnIndex });
    };

    column(0, (c) => this.intColumn(c, g.userIds, n, required));
    column(1, (c) => this.trackStrings(c, 0, n, required));
    column(2, (c) => {
      // INT64 milliseconds as two little-endian int32 words each: no BigInt per value.
      const words = s.words;
      for (let r = 0; r < n; r++) {
        const t = g.listenTimes[r]!;
        words[2 * r] = t >>> 0;
        words[2 * r + 1] = Math.floor(t / 4_294_967_296);
      }
      this.pages(c, required, (from, to) => ['PLAIN', this.compressed(bytesOf(words.subarray(2 * from), to - from, 8))]);
    });
    column(3, (c) => {
      this.pages(c, required, (from, to) => {
        const page = pageWriter(this.writer);
        if (to - from > 16) {
          page.appendUint32(0);
          const length = writeRleBitPackedHybrid(page, g.known.subarray(from, to), 1);
          page.view.setUint32(0, length, true);
          return ['RLE', this.compressed(page.getBytes())];
        }
        // A few rows are bit-packed PLAIN, as hyparquet-writer does.
        for (let r = from; r < to; r += 8) {
          let byte = 0;
          for (let b = 0; b < 8 && r + b < to; b++) byte |= g.known[r + b]! << b;
          page.appendUint8(byte);
        }
        return ['PLAIN', this.compressed(page.getBytes())];
      });
    });
    column(4, (c) => this.trackStrings(c, 1, n, optional));
    column(5, (c) => this.trackStrings(c, 2, n, optional));
    column(6, (c) => this.trackStrings(c, 3, n, optional));
    for (const [index, values] of [
      [7, this.tracks.popularity],
      [8, this.tracks.durationMs],
    ] as const) {
      column(index, (c) => {
        const ints = s.ints;
        let k = 0;
        for (let r = 0; r < n; r++) if (s.levels[r] === 1) ints[k++] = values[used[rowTrack[r]!]!]!;
        this.intColumn(c, ints, k, optional);
      });
    }
    column(9, (c) => {
      const ints = s.ints;
      let min = 0xffff;
      let max = 0;
      for (let r = 0; r < n; r++) {
        const b = g.buckets[r]!;
        ints[r] = b;
        if (b < min) min = b;
        if (b > max) max = b;
      }
      c.statistics = { min_value: min, max_value: max, null_count: 0n };
      c.pageRanges = g.buckets;
      this.intColumn(c, ints, n, required);
    });
    column(10, (c) => {
      const ints = s.ints;
      ints.set(g.files.subarray(0, n));
      const distinct = intDictionary(ints, n);
      c.dictionaryPage(this.fileNames, s.dictionary, distinct);
      this.pages(c, required, (from, to) => ['RLE_DICTIONARY', this.indexPayload(s.indexes.subarray(from, to), distinct)]);
    });

    let totalByteSize = 0n;
    for (const chunk of columns) totalByteSize += chunk.meta_data!.total_uncompressed_size;
    this.groups.push({
      columns,
      total_byte_size: totalByteSize,
      num_rows: BigInt(n),
      total_compressed_size: BigInt(this.writer.offset - start),
    });
    this.rows += n;
    return this.writer.flush();
  }

  /** The group's pages (see PAGE_ROWS) and, per page, the optional columns' levels. */
  private pageLayout(buckets: Uint16Array, n: number): PageLayout {
    const rowStarts = pageStarts(buckets, n);
    const count = rowStarts.length - 1;
    const valueStarts = new Int32Array(count + 1);
    const nulls = new Int32Array(count);
    const levels: Uint8Array[] = [];
    const { levels: present } = scratch;
    for (let p = 0; p < count; p++) {
      const from = rowStarts[p]!;
      const to = rowStarts[p + 1]!;
      let catalogued = 0;
      for (let r = from; r < to; r++) catalogued += present[r]!;
      valueStarts[p + 1] = valueStarts[p]! + catalogued;
      nulls[p] = to - from - catalogued;
      const page = pageWriter(this.writer);
      writeRleBitPackedHybrid(page, present.subarray(from, to), 1);
      levels.push(page.getBytes().slice());
    }
    return { count, rowStarts, valueStarts, levels, nulls };
  }

  /** One data page per slice of `pages`, its values from `encode(from, to)` (in value space: rows, or catalogued rows). */
  private pages(c: ChunkWriter, pages: PageSlices, encode: (from: number, to: number) => [PageEncoding, Payload]): void {
    const { rowStarts, starts, levels, nulls } = pages;
    for (let p = 0; p + 1 < starts.length; p++) {
      const [encoding, payload] = encode(starts[p]!, starts[p + 1]!);
      c.dataPage(encoding, levels?.[p], nulls?.[p] ?? 0, payload, rowStarts[p]!, rowStarts[p + 1]! - rowStarts[p]!);
    }
  }

  /** An INT32 column: dictionary-encoded when that halves it (hyparquet-writer's rule), else PLAIN. */
  private intColumn(c: ChunkWriter, values: Int32Array, count: number, pages: PageSlices): void {
    const distinct = intDictionary(values, count);
    if (dictionaryPays(distinct, count)) {
      c.intDictionaryPage(scratch.dictionary, distinct);
      this.pages(c, pages, (from, to) => ['RLE_DICTIONARY', this.indexPayload(scratch.indexes.subarray(from, to), distinct)]);
    } else {
      this.pages(c, pages, (from, to) => ['PLAIN', this.compressed(bytesOf(values.subarray(from), to - from, 4))]);
    }
  }

  /**
   * The track string columns' dictionaries for the group's used tracks, in one pass over them: a track's value ids
   * share a cache line of the table, which a pass per column read four times (a long-tail group uses about as many
   * tracks as it has rows).
   */
  private trackDictionaries(usedCount: number): void {
    const s = scratch;
    const stringIds = this.tracks.stringIds;
    const { used } = s;
    const generation = ++s.generation;
    for (let c = 0; c < STRIDE; c++) {
      const values = this.tracks.strings[c]!.size;
      s.valueSeen[c] = withRoom(s.valueSeen[c]!, values);
      s.valueLocal[c] = withRoom(s.valueLocal[c]!, values);
      s.trackDictionaries[c] = withRoom(s.trackDictionaries[c]!, usedCount);
      s.trackMaps[c] = withRoom(s.trackMaps[c]!, usedCount);
      s.trackDistinct[c] = 0;
    }
    const { valueSeen, valueLocal, trackDictionaries, trackMaps, trackDistinct } = s;
    for (let u = 0; u < usedCount; u++) {
      const at = used[u]! * STRIDE;
      for (let c = 0; c < STRIDE; c++) {
        const v = stringIds[at + c]!;
        if (v < 0) {
          trackMaps[c]![u] = -1;
          continue;
        }
        const seen = valueSeen[c]!;
        const local = valueLocal[c]!;
        if (seen[v] !== generation) {
          seen[v] = generation;
          local[v] = trackDistinct[c]!;
          trackDictionaries[c]![trackDistinct[c]!++] = v;
        }
        trackMaps[c]![u] = local[v]!;
      }
    }
  }

  /** A string column of the track table (always a dictionary, as the lake asks; `trackDictionaries`): each catalogued row's index. */
  private trackStrings(c: ChunkWriter, column: number, n: number, pages: PageSlices): void {
    const s = scratch;
    const map = s.trackMaps[column]!;
    const distinct = s.trackDistinct[column]!;
    const { rowTrack, indexes } = s;
    let k = 0;
    for (let r = 0; r < n; r++) {
      const i = map[rowTrack[r]!]!;
      if (i >= 0) indexes[k++] = i;
    }
    c.dictionaryPage(this.tracks.strings[column]!, s.trackDictionaries[column]!, distinct);
    this.pages(c, pages, (from, to) => ['RLE_DICTIONARY', this.indexPayload(indexes.subarray(from, to), distinct)]);
  }

  /** Writes the footer, with `keyValues` if given, and ends the file. */
  finish(keyValues?: KeyValue[]): void {
    // hyparquet-writer types these with its own copy of hyparquet's types: the same shapes.
    writeIndexes(this.writer, this.pageIndexes as Parameters<typeof writeIndexes>[1]);
    writeMetadata(this.writer, {
      version: 2,
      created_by: LAKE_CREATED_BY,
      schema: this.schema as SchemaElement[],
      num_rows: BigInt(this.rows),
      row_groups: this.groups,
      key_value_metadata: keyValues,
    } as Parameters<typeof writeMetadata>[1]);
    this.writer.appendUint32(MAGIC);
    this.writer.finish();
  }
}

/** One column chunk being written: its dictionary page, if any, then its data pages. */
class ChunkWriter {
  private readonly start: number;
  private dictionaryOffset: bigint | undefined;
  private dataOffset: bigint | undefined;
  private uncompressed = 0;
  private readonly encodings: PageEncoding[] = [];
  private readonly pageLocations: OffsetIndex['page_locations'] = [];
  statistics: { min_value: number; max_value: number; null_count: bigint } | undefined;
  /** Per row, the values whose range each page records in a column index (the user buckets). */
  pageRanges: Uint16Array | undefined;

  constructor(
    private readonly writer: ByteWriter,
    private readonly element: SchemaElement,
    private readonly rows: number,
    private readonly compress: Compress,
  ) {
    this.start = writer.offset;
  }

  /**
   * A PLAIN dictionary page of `count` strings, `ids` into `values`, built in one pass in the scratch page: a
   * long-tail group's page has about as many strings as rows, and a pass to measure them first and a new buffer
   * each read every string's place in the pool twice.
   */
  dictionaryPage(values: Pick<Utf8Column, 'byteLength' | 'copyInto'>, ids: Int32Array, count: number): void {
    let page = scratch.dictionaryPage;
    let at = 0;
    for (let d = 0; d < count; d++) {
      const id = ids[d]!;
      const n = values.byteLength(id);
      if (at + 4 + n > page.length) page = scratch.dictionaryPage = withRoom(page, at + 4 + n);
      page[at] = n;
      page[at + 1] = n >>> 8;
      page[at + 2] = n >>> 16;
      page[at + 3] = n >>> 24;
      values.copyInto(id, page, at + 4);
      at += 4 + n;
    }
    this.writeDictionary(page.subarray(0, at), count);
  }

  /** A PLAIN dictionary page of `count` INT32 values. */
  intDictionaryPage(values: Int32Array, count: number): void {
    this.writeDictionary(bytesOf(values, count, 4), count);
  }

  private writeDictionary(page: Uint8Array, count: number): void {
    const packed = this.compress(page);
    this.dictionaryOffset = BigInt(this.writer.offset);
    const headerStart = this.writer.offset;
    writePageHeader(this.writer, {
      type: 'DICTIONARY_PAGE',
      uncompressed_page_size: page.length,
      compressed_page_size: packed.length,
      dictionary_page_header: { num_values: count, encoding: 'PLAIN' },
    });
    this.uncompressed += this.writer.offset - headerStart + page.length;
    this.writer.appendBytes(packed);
    this.encodings.push('PLAIN');
  }

  /** A data page of `rows` rows from `firstRow`: definition levels (optional columns), then the compressed values. */
  dataPage(encoding: PageEncoding, levels: Uint8Array | undefined, nulls: number, values: Payload, firstRow: number, rows: number): void {
    const levelBytes = levels?.length ?? 0;
    const headerStart = this.writer.offset;
    this.dataOffset ??= BigInt(headerStart);
    writePageHeader(this.writer, {
      type: 'DATA_PAGE_V2',
      uncompressed_page_size: levelBytes + values.plainLength,
      compressed_page_size: levelBytes + values.compressed.length,
      data_page_header_v2: {
        num_values: rows,
        num_nulls: nulls,
        num_rows: rows,
        encoding,
        definition_levels_byte_length: levelBytes,
        repetition_levels_byte_length: 0,
        is_compressed: true,
      },
    });
    this.uncompressed += this.writer.offset - headerStart + levelBytes + values.plainLength;
    if (levels) this.writer.appendBytes(levels);
    this.writer.appendBytes(values.compressed);
    if (!this.encodings.includes(encoding) || this.encodings.length === (this.dictionaryOffset === undefined ? 0 : 1)) this.encodings.push(encoding);
    this.pageLocations.push({ offset: BigInt(headerStart), compressed_page_size: this.writer.offset - headerStart, first_row_index: BigInt(firstRow) });
  }

  /** The chunk's metadata and, when it has several pages, its offset index (and column index, given `pageRanges`). */
  done(): { chunk: ColumnChunk; offsetIndex?: OffsetIndex; columnIndex?: ColumnIndex } {
    const pages = this.pageLocations.length;
    const meta: ColumnMetaData = {
      type: this.element.type as ParquetType,
      encodings: this.encodings,
      path_in_schema: [this.element.name],
      codec: 'SNAPPY',
      num_values: BigInt(this.rows),
      total_compressed_size: BigInt(this.writer.offset - this.start),
      total_uncompressed_size: BigInt(this.uncompressed),
      data_page_offset: this.dataOffset!,
      dictionary_page_offset: this.dictionaryOffset,
      ...(this.statistics && {
        statistics: this.statistics,
        encoding_stats: [
          ...(this.dictionaryOffset === undefined ? [] : [{ page_type: 'DICTIONARY_PAGE' as const, encoding: 'PLAIN' as const, count: 1 }]),
          ...this.encodings
            .slice(this.dictionaryOffset === undefined ? 0 : 1)
            .map((encoding) => ({ page_type: 'DATA_PAGE_V2' as const, encoding, count: pages })),
        ],
      }),
    };
    const chunk = { meta_data: meta, file_offset: BigInt(this.start) };
    if (pages < 2) return { chunk };
    return { chunk, offsetIndex: { page_locations: this.pageLocations }, columnIndex: this.pageRanges && this.columnIndex(this.pageRanges) };
  }

  /** Min and max of `values` per page, as INT32 bounds; ASCENDING when the pages are sorted (a sorted part's are). */
  private columnIndex(values: Uint16Array): ColumnIndex {
    const min_values: Uint8Array[] = [];
    const max_values: Uint8Array[] = [];
    let ascending = true;
    let previous = -1;
    const int32 = (v: number) => new Uint8Array(Int32Array.of(v).buffer);
    this.pageLocations.forEach((page, p) => {
      const from = Number(page.first_row_index);
      const to = p + 1 < this.pageLocations.length ? Number(this.pageLocations[p + 1]!.first_row_index) : this.rows;
      let min = 0xffff;
      let max = 0;
      for (let r = from; r < to; r++) {
        const v = values[r]!;
        if (v < min) min = v;
        if (v > max) max = v;
      }
      if (min < previous) ascending = false;
      previous = max;
      min_values.push(int32(min));
      max_values.push(int32(max));
    });
    return {
      null_pages: min_values.map(() => false),
      min_values,
      max_values,
      boundary_order: ascending ? 'ASCENDING' : 'UNORDERED',
      null_counts: min_values.map(() => 0n),
    } as unknown as ColumnIndex;
  }
}
