import { PassThrough } from 'node:stream';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { ObjectStore } from '@musicflow/storage';
import type { LakePart } from '@musicflow/contracts';
import { DAY_MS, listenDateOf } from './layout.ts';

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
  { name: 'root', num_children: 9 },
  { name: 'user_id', type: 'INT32', repetition_type: 'REQUIRED' },
  { name: 'track_id', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'listen_time', type: 'INT64', converted_type: 'TIMESTAMP_MILLIS', repetition_type: 'REQUIRED' },
  { name: 'user_known', type: 'BOOLEAN', repetition_type: 'REQUIRED' },
  { name: 'track_name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'artists', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'genres', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'popularity', type: 'INT32', repetition_type: 'OPTIONAL' },
  { name: 'duration_ms', type: 'INT32', repetition_type: 'OPTIONAL' },
] as const;

const ROW_GROUP_ROWS = 100_000;

/**
 * Strings repeat per track: always dictionary-encode them. Left to guess from
 * a sample, the writer picks PLAIN for a chunk with many distinct tracks and
 * then UTF-8-encodes every row's string (measured: half the write time).
 */
export const LAKE_COLUMN_ENCODING: Record<string, 'RLE_DICTIONARY' | undefined> = {
  track_id: 'RLE_DICTIONARY',
  track_name: 'RLE_DICTIONARY',
  artists: 'RLE_DICTIONARY',
  genres: 'RLE_DICTIONARY',
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
    this.flush();
    this.out.end();
  }
}

class DatePart {
  private columns = DatePart.emptyColumns();
  rows = 0;
  private readonly out = new PassThrough();
  private readonly writer = new StreamingByteWriter(this.out);
  private readonly parquet = new ParquetWriter({ writer: this.writer, schema: LAKE_PARQUET_SCHEMA as never, statistics: false });
  readonly upload: Promise<unknown>;

  constructor(store: ObjectStore, readonly url: string) {
    this.upload = store.write(url, this.out);
  }

  private static emptyColumns() {
    return {
      user_id: [] as number[], track_id: [] as string[], listen_time: [] as number[], user_known: [] as boolean[],
      track_name: [] as (string | null)[], artists: [] as (string | null)[], genres: [] as (string | null)[],
      popularity: [] as (number | null)[], duration_ms: [] as (number | null)[],
    };
  }

  add(userId: number, trackId: string, listenTime: number, userKnown: boolean, track: LakeTrack | undefined): void {
    const c = this.columns;
    c.user_id.push(userId);
    c.track_id.push(trackId);
    c.listen_time.push(listenTime);
    c.user_known.push(userKnown);
    c.track_name.push(track ? track.trackName : null);
    c.artists.push(track ? track.artists : null);
    c.genres.push(track ? track.genres : null);
    c.popularity.push(track ? track.popularity : null);
    c.duration_ms.push(track ? track.durationMs : null);
    this.rows++;
  }

  get buffered(): number {
    return this.columns.user_id.length;
  }

  async writeGroup(): Promise<void> {
    const columnData = Object.entries(this.columns).map(([name, data]) => ({ name, data, encoding: LAKE_COLUMN_ENCODING[name] }));
    this.columns = DatePart.emptyColumns();
    await this.parquet.write({ columnData: columnData as never, rowGroupSize: ROW_GROUP_ROWS });
  }

  destroy(err: Error): void {
    this.upload.catch(() => undefined);
    this.out.destroy(err);
  }

  async close(): Promise<void> {
    if (this.buffered > 0) await this.writeGroup();
    this.parquet.finish();
    await this.upload;
  }
}

/**
 * Writes a chunk's events as Parquet, one part per listen date, streaming row
 * groups to the store. At most ROW_GROUP_ROWS events wait in memory across
 * all of the chunk's dates: when they are reached, the date holding the most
 * is written as a row group. Memory stays the same however big the chunk and
 * however many dates it spans.
 */
export class LakePartWriter {
  /** Keyed by UTC day number: cheaper per event than formatting a date string. */
  private readonly parts = new Map<number, DatePart>();
  private buffered = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly urlFor: (listenDate: string) => string,
  ) {}

  /**
   * Adds one event; `track` is undefined for a track not in the catalogue.
   * Returns a promise only when the caller must wait for a row group to be written.
   */
  add(userId: number, trackId: string, listenTime: number, userKnown: boolean, track: LakeTrack | undefined): Promise<void> | undefined {
    const day = Math.floor(listenTime / DAY_MS);
    let part = this.parts.get(day);
    if (!part) {
      part = new DatePart(this.store, this.urlFor(listenDateOf(listenTime)));
      this.parts.set(day, part);
    }
    part.add(userId, trackId, listenTime, userKnown, track);
    return ++this.buffered >= ROW_GROUP_ROWS ? this.writeFullest() : undefined;
  }

  private writeFullest(): Promise<void> {
    let fullest: DatePart | undefined;
    for (const part of this.parts.values()) if (!fullest || part.buffered > fullest.buffered) fullest = part;
    this.buffered -= fullest!.buffered;
    return fullest!.writeGroup();
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
