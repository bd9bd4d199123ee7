import { PassThrough } from 'node:stream';
import { ByteWriter } from 'hyparquet-writer';
import { withRoom } from '@musicflow/kpi';
import type { ObjectStore } from '@musicflow/storage';
import type { LakePart } from '@musicflow/contracts';
import { LakeParquetFile, type LakeGroupRows } from './lake-parquet.ts';
import { DAY_MS, listenDateOf, USER_BUCKETS, userBucketOf } from './layout.ts';
import { DISTINCT_TRACKS_KEY, PART_FORMAT_KEY, PART_FORMAT_VERSION, SOURCE_FILES_KEY } from './part-format.ts';
import { STRIDE, type LakeTrackTable } from './track-table.ts';

/** One clean, enriched event as the lake keeps it (SPEC 3b). */
export interface LakeEvent {
  userId: number;
  trackId: string;
  listenTime: number;
  userKnown: boolean;
  /** Null for a track not in the catalogue. */
  trackName: string | null;
  /** Artist credits as in the catalogue, `A;B`. */
  artists: string | null;
  /** Every genre of the track, `;`-separated. */
  genres: string | null;
  popularity: number | null;
  durationMs: number | null;
  /** The id of the stream file the event came from (`fileIdOf`). */
  sourceFile: string;
}

/** A catalogue track's enrichment, as every event of the track carries it. */
export interface LakeTrack {
  trackName: string;
  artists: string;
  genres: string;
  popularity: number;
  durationMs: number;
}

/** The Parquet schema of a lake part (SPEC 3b). */
export const LAKE_PARQUET_SCHEMA = [
  { name: 'root', num_children: 11 },
  { name: 'user_id', type: 'INT32', repetition_type: 'REQUIRED' },
  { name: 'track_id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'listen_time', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'REQUIRED' },
  { name: 'user_known', type: 'BOOLEAN', repetition_type: 'REQUIRED' },
  { name: 'track_name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'artists', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'genres', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'popularity', type: 'INT32', repetition_type: 'OPTIONAL' },
  { name: 'duration_ms', type: 'INT32', repetition_type: 'OPTIONAL' },
  /**
   * `userBucketOf(user_id)` (0-4095; 0-63 in parts of formats 2-4). Rows
   * are sorted by it, and each row group's statistics and each page's entry
   * in the page index give its range, so a KPI pass over some buckets
   * (DuckDB, Athena: `WHERE user_bucket BETWEEN …`) skips the other pages.
   */
  { name: 'user_bucket', type: 'INT32', repetition_type: 'REQUIRED' },
  /**
   * The id of the stream file the row came from. A part holds one file's rows,
   * or a pack's (many small files of one chunk, see LAKE_LAYOUT.packPart), so
   * the lake says where each event came from, and a file ingested again can be
   * taken out of the pack that held it.
   */
  { name: 'source_file', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
] as const;

/** Events buffered across a chunk's dates before the fullest date is written (21 bytes each). */
const BUFFER_ROWS = 1_000_000;
/** Below this many buffered events a date is written as one row group: its pages are what a pass skips by. */
const SPLIT_ROWS = 200_000;
/** Rows of a row group cut by user bucket, about: fewer, bigger groups read faster; more, smaller ones let passes skip more. */
const BUCKET_GROUP_ROWS = 25_000;
/** Rows of the one row group of a small buffer, at most. */
const ROW_GROUP_ROWS = 100_000;

/**
 * Strings repeat per track: the lake always dictionary-encodes them (as
 * LakeParquetFile does; hyparquet-writer, told so, writes the same pages).
 * Left to guess from a sample, hyparquet-writer picks PLAIN for a chunk with
 * many distinct tracks and then UTF-8-encodes every row's string.
 */
export const LAKE_COLUMN_ENCODING: Record<string, 'RLE_DICTIONARY' | undefined> = {
  track_id: 'RLE_DICTIONARY',
  track_name: 'RLE_DICTIONARY',
  artists: 'RLE_DICTIONARY',
  genres: 'RLE_DICTIONARY',
  source_file: 'RLE_DICTIONARY',
};

/** A ByteWriter that hands each finished row group to a stream instead of growing one buffer. */
class StreamingByteWriter extends ByteWriter {
  constructor(private readonly out: PassThrough) {
    super(1 << 20);
  }
  flush(): Promise<void> | void {
    if (this.index === 0) return;
    const ok = this.out.write(Buffer.from(this.getBytes()));
    this.index = 0;
    if (!ok) return new Promise((resolve) => this.out.once('drain', () => resolve()));
  }
  override finish(): void {
    void this.flush(); // end() queues after the last write: its drain need not be awaited
    this.out.end();
  }
}

class DatePart {
  private userIds = new Int32Array(1024);
  private listenTimes = new Float64Array(1024);
  private known = new Uint8Array(1024);
  private tracks = new Int32Array(1024);
  private files = new Int32Array(1024);
  /** The last event's source file and its index: consecutive events almost always share it. */
  private lastFile: string | undefined;
  private lastFileIndex = 0;
  /** Per track id of the table (not per entry: a track's rows may differ), whether a row of this part plays it. */
  private trackUsed = new Uint8Array(1024);
  private distinctTracks = 0;
  buffered = 0;
  rows = 0;
  private readonly out = new PassThrough();
  private readonly parquet: LakeParquetFile;
  readonly upload: Promise<unknown>;

  constructor(
    store: ObjectStore,
    readonly url: string,
    private readonly trackTable: LakeTrackTable,
  ) {
    this.parquet = new LakeParquetFile(new StreamingByteWriter(this.out), LAKE_PARQUET_SCHEMA, trackTable);
    this.upload = store.write(url, this.out);
  }

  add(sourceFile: string, userId: number, track: number, listenTime: number, userKnown: boolean): void {
    const i = this.buffered++;
    if (i === this.userIds.length) {
      this.userIds = withRoom(this.userIds, i + 1);
      this.listenTimes = withRoom(this.listenTimes, i + 1);
      this.known = withRoom(this.known, i + 1);
      this.tracks = withRoom(this.tracks, i + 1);
      this.files = withRoom(this.files, i + 1);
    }
    if (sourceFile !== this.lastFile) {
      this.lastFile = sourceFile;
      this.lastFileIndex = this.parquet.fileIndex(sourceFile);
    }
    this.userIds[i] = userId;
    this.listenTimes[i] = listenTime;
    this.known[i] = userKnown ? 1 : 0;
    this.tracks[i] = track;
    this.files[i] = this.lastFileIndex;
    this.rows++;
    const id = this.trackTable.stringIds[track * STRIDE]!;
    if (id >= this.trackUsed.length) this.trackUsed = withRoom(this.trackUsed, id + 1);
    if (!this.trackUsed[id]) {
      this.trackUsed[id] = 1;
      this.distinctTracks++;
    }
  }

  /**
   * Writes the buffered events as row groups in user-bucket order (a
   * counting sort), cut at bucket boundaries: groups of about
   * BUCKET_GROUP_ROWS for a big buffer, one group of at most ROW_GROUP_ROWS
   * for a small one (a pack's few rows a date). Pages within a group are cut
   * at bucket boundaries too, so a KPI pass reads the pages of its buckets.
   */
  async writeGroups(): Promise<void> {
    const n = this.buffered;
    const buckets = new Uint16Array(n);
    const starts = new Int32Array(USER_BUCKETS + 1);
    for (let i = 0; i < n; i++) {
      const b = userBucketOf(this.userIds[i]!);
      buckets[i] = b;
      starts[b + 1]!++;
    }
    for (let b = 0; b < USER_BUCKETS; b++) starts[b + 1]! += starts[b]!;
    const order = new Int32Array(n);
    const next = starts.slice(0, USER_BUCKETS);
    for (let i = 0; i < n; i++) order[next[buckets[i]!]!++] = i;

    const groupRows = n >= SPLIT_ROWS ? BUCKET_GROUP_ROWS : ROW_GROUP_ROWS;
    let from = 0;
    while (from < n) {
      let to = Math.min(n, from + groupRows);
      // Cut at the end of the bucket the target falls in, so no bucket straddles two groups.
      if (to < n) {
        const b = buckets[order[to]!]!;
        if (starts[b]! < to) to = starts[b + 1]!;
      }
      await this.writeGroup(order, buckets, from, to);
      from = to;
    }
    this.buffered = 0;
  }

  private writeGroup(order: Int32Array, buckets: Uint16Array, from: number, to: number): Promise<void> | void {
    const rows = to - from;
    const g = groupRows;
    if (g.userIds.length < rows) {
      g.userIds = withRoom(g.userIds, rows);
      g.listenTimes = withRoom(g.listenTimes, rows);
      g.known = withRoom(g.known, rows);
      g.tracks = withRoom(g.tracks, rows);
      g.files = withRoom(g.files, rows);
      g.buckets = withRoom(g.buckets, rows);
    }
    for (let r = 0; r < rows; r++) {
      const i = order[from + r]!;
      g.userIds[r] = this.userIds[i]!;
      g.listenTimes[r] = this.listenTimes[i]!;
      g.known[r] = this.known[i]!;
      g.tracks[r] = this.tracks[i]!;
      g.files[r] = this.files[i]!;
      g.buckets[r] = buckets[i]!;
    }
    g.rows = rows;
    return this.parquet.writeGroup(g);
  }

  destroy(err: Error): void {
    this.upload.catch(() => undefined);
    this.out.destroy(err);
  }

  async close(): Promise<void> {
    if (this.buffered > 0) await this.writeGroups();
    this.parquet.finish([
      { key: SOURCE_FILES_KEY, value: JSON.stringify(this.parquet.sourceFiles()) },
      { key: DISTINCT_TRACKS_KEY, value: String(this.distinctTracks) },
      { key: PART_FORMAT_KEY, value: String(PART_FORMAT_VERSION) },
    ]);
    await this.upload;
  }
}

/** One row group's rows in write order, shared by every part: a group is gathered and encoded in one synchronous step. */
const groupRows: LakeGroupRows = {
  rows: 0,
  userIds: new Int32Array(1024),
  listenTimes: new Float64Array(1024),
  known: new Uint8Array(1024),
  tracks: new Int32Array(1024),
  files: new Int32Array(1024),
  buckets: new Uint16Array(1024),
};

/**
 * Writes a segment's or a pack's events as Parquet, one part per listen date, streaming
 * row groups to the store. At most BUFFER_ROWS events (21 bytes each) wait in
 * memory across all of its dates: when they are reached, the date holding the
 * most is written out. Memory stays the same however big the chunk and
 * however many dates it spans.
 */
export class LakePartWriter {
  /** Keyed by UTC day number: cheaper per event than formatting a date string. */
  private readonly parts = new Map<number, DatePart>();
  /** The last event's day and part: consecutive events mostly share a date. */
  private lastDay = NaN;
  private lastPart: DatePart | undefined;
  private buffered = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly urlFor: (listenDate: string) => string,
    /** The tracks the events' track indexes point into; it may grow while events are added. */
    private readonly tracks: LakeTrackTable,
    /** Events that may wait across all dates before the fullest is written. */
    private readonly bufferRows = BUFFER_ROWS,
  ) {}

  /**
   * Adds one event of track `track` (an index into the track table).
   * Returns a promise only when the caller must wait for a row group to be written.
   */
  add(sourceFile: string, userId: number, track: number, listenTime: number, userKnown: boolean): Promise<void> | undefined {
    const day = Math.floor(listenTime / DAY_MS);
    let part = this.lastPart;
    if (day !== this.lastDay || !part) {
      part = this.parts.get(day);
      if (!part) {
        part = new DatePart(this.store, this.urlFor(listenDateOf(listenTime)), this.tracks);
        this.parts.set(day, part);
      }
      this.lastDay = day;
      this.lastPart = part;
    }
    part.add(sourceFile, userId, track, listenTime, userKnown);
    return ++this.buffered >= this.bufferRows ? this.writeFullest() : undefined;
  }

  private writeFullest(): Promise<void> {
    let fullest: DatePart | undefined;
    for (const part of this.parts.values()) if (!fullest || part.buffered > fullest.buffered) fullest = part;
    this.buffered -= fullest!.buffered;
    return fullest!.writeGroups();
  }

  async close(): Promise<LakePart[]> {
    const done: LakePart[] = [];
    for (const [day, part] of [...this.parts].sort(([a], [b]) => a - b)) {
      await part.close();
      done.push({ listenDate: listenDateOf(day * DAY_MS), url: part.url, rows: part.rows });
    }
    return done;
  }

  /** Abandons unfinished uploads after a failure, so none is left waiting for bytes. */
  abort(err: Error): void {
    for (const part of this.parts.values()) part.destroy(err);
  }
}
