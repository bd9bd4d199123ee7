import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { grow, UserIdSet } from '@musicflow/ingest';
import { StringPool } from '@musicflow/kpi';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { encodeChunkKeys } from './chunk-keys.ts';

/**
 * The validator's hand-off to the transformer: a chunk's clean events as
 * binary column blocks, so the transformer neither re-parses text nor joins
 * the catalogue once per row. A block is
 *
 *   u32 rows | u32 n | n bytes: track ids new in this block, `\n`-separated |
 *   i32[rows] user_id | i32[rows] track index | f64[rows] listen_time (epoch ms)
 *
 * Track indexes count the chunk's distinct track ids in order of first
 * appearance; each id is sent once, in the block where it first appears.
 * Blocks are cut by size only: a block holds the events of as many segments
 * as fit (a chunk of small files is a block or two, not a block a file), and
 * each segment's validation counts its events.
 */
export interface CleanEventsBlock {
  rows: number;
  userIds: Int32Array;
  trackIndexes: Int32Array;
  listenTimes: Float64Array;
  /** How many track indexes the chunk has so far: `firstNewTrack` up to this one are new in this block. */
  tracks: number;
  firstNewTrack: number;
  /**
   * The new tracks' ids, `\n`-separated UTF-8, left undecoded: the transform
   * takes them from its chunk's keys, numbered alike (a string per track of a
   * long-tail chunk was garbage for nothing).
   */
  newTrackIds: Buffer;
}

const BLOCK_ROWS = 65_536;
/** A fresh writer's room: it grows to BLOCK_ROWS, so a small chunk costs no full block of memory. */
const FIRST_ROWS = 1024;
const HEADER_BYTES = 8;
const NEWLINE = 10;

/** Buffers events and writes full blocks to `out`, waiting when it is slower than the caller. */
export class CleanEventsWriter {
  /** The chunk's distinct track ids: a track's index is its number here. */
  private readonly trackIds = new StringPool();
  /** The first track index of the block being buffered: the ids from there on go out with it. */
  private blockFirstTrack = 0;
  /** The chunk's distinct users, for its keys. */
  private readonly users = new UserIdSet();
  private userIds = new Int32Array(FIRST_ROWS);
  private trackIndexes = new Int32Array(FIRST_ROWS);
  private listenTimes = new Float64Array(FIRST_ROWS);
  private rows = 0;
  private added = 0;

  constructor(private readonly out: Writable) {}

  /** Events added so far: a segment's are the difference across it. */
  get events(): number {
    return this.added;
  }

  /** The index of a track id in this chunk's dictionary, given to it when first seen. */
  trackIndex(trackId: string): number {
    return this.trackIds.intern(trackId);
  }

  /** `trackIndex` of the UTF-8 track id `bytes[start, end)`: no string per track. */
  trackIndexBytes(bytes: Uint8Array, start: number, end: number): number {
    return this.trackIds.internBytes(bytes, start, end);
  }

  /** Returns a promise only when the caller must wait for the output to drain. */
  add(userId: number, trackId: string, listenTime: number): Promise<void> | undefined {
    return this.addIndexed(userId, this.trackIndex(trackId), listenTime);
  }

  /** `add` for a track whose index the caller already has (from `trackIndex`): no string per event. */
  addIndexed(userId: number, trackIndex: number, listenTime: number): Promise<void> | undefined {
    const i = this.rows++;
    if (i === this.userIds.length) this.grow();
    this.userIds[i] = userId;
    this.trackIndexes[i] = trackIndex;
    this.listenTimes[i] = listenTime;
    this.users.add(userId);
    this.added++;
    return this.rows === BLOCK_ROWS ? this.writeBlock() : undefined;
  }

  private grow(): void {
    const size = Math.min(BLOCK_ROWS, this.userIds.length * 2);
    this.userIds = grow(this.userIds, size);
    this.trackIndexes = grow(this.trackIndexes, size);
    this.listenTimes = grow(this.listenTimes, size);
  }

  /** Writes the events buffered so far as a block, so the next event starts a new one. */
  private writeBlock(): Promise<void> | undefined {
    const rows = this.rows;
    if (rows === 0) return undefined;
    const names = this.trackIds.joined(this.blockFirstTrack, this.trackIds.size, NEWLINE);
    // One write of one copy: the arrays serve the next block.
    const block = Buffer.allocUnsafe(HEADER_BYTES + names.length + rows * 16);
    block.writeUInt32LE(rows, 0);
    block.writeUInt32LE(names.length, 4);
    block.set(names, HEADER_BYTES);
    let at = HEADER_BYTES + names.length;
    for (const column of [this.userIds, this.trackIndexes, this.listenTimes]) {
      const bytes = rows * column.BYTES_PER_ELEMENT;
      block.set(new Uint8Array(column.buffer, 0, bytes), at);
      at += bytes;
    }
    const drained = this.out.write(block);
    this.rows = 0;
    this.blockFirstTrack = this.trackIds.size;
    if (drained) return undefined;
    return new Promise((resolve) => this.out.once('drain', resolve));
  }

  async end(): Promise<void> {
    await this.writeBlock();
    this.out.end();
  }

  /** How many distinct tracks and users the chunk's keys hold so far. */
  get distinct(): { tracks: number; users: number } {
    return { tracks: this.trackIds.size, users: this.users.size };
  }

  /** The chunk's keys (`encodeChunkKeys`): its distinct users and tracks so far. */
  keys(): Buffer {
    return encodeChunkKeys(this.users, this.trackIds.joined(0, this.trackIds.size, NEWLINE));
  }
}

/**
 * Reads the blocks back from a byte stream; a truncated stream is an error,
 * not a short chunk. Each read is copied once, straight into its block's
 * names or (aligned) columns.
 */
export async function* readCleanEvents(bytes: Readable, source: string): AsyncGenerator<CleanEventsBlock> {
  let tracks = 0;
  const header = Buffer.alloc(HEADER_BYTES);
  let headerHave = 0;
  let rows = 0;
  let names = Buffer.alloc(0);
  let namesHave = 0;
  let columns = Buffer.alloc(0);
  let columnsHave = 0;
  for await (const chunk of bytes as AsyncIterable<Buffer>) {
    let at = 0;
    while (at < chunk.length) {
      if (headerHave < HEADER_BYTES) {
        const n = chunk.copy(header, headerHave, at, at + HEADER_BYTES - headerHave);
        headerHave += n;
        at += n;
        if (headerHave < HEADER_BYTES) break;
        rows = header.readUInt32LE(0);
        names = Buffer.allocUnsafe(header.readUInt32LE(4));
        namesHave = 0;
        // From Buffer's pool when small (its slices are 8-byte aligned, as the columns' views need): an ArrayBuffer
        // of its own a block was a backing store for the collector to sweep.
        columns = Buffer.allocUnsafe(rows * 16);
        columnsHave = 0;
      } else if (namesHave < names.length) {
        const n = chunk.copy(names, namesHave, at, at + names.length - namesHave);
        namesHave += n;
        at += n;
      } else {
        const n = Math.min(chunk.length - at, columns.length - columnsHave);
        columns.set(chunk.subarray(at, at + n), columnsHave);
        columnsHave += n;
        at += n;
      }
      if (headerHave < HEADER_BYTES || namesHave < names.length || columnsHave < columns.length) continue;
      headerHave = 0;
      const firstNewTrack = tracks;
      if (names.length > 0) tracks += 1 + countByte(names, NEWLINE);
      yield {
        rows,
        userIds: new Int32Array(columns.buffer, columns.byteOffset, rows),
        trackIndexes: new Int32Array(columns.buffer, columns.byteOffset + rows * 4, rows),
        listenTimes: new Float64Array(columns.buffer, columns.byteOffset + rows * 8, rows),
        tracks,
        firstNewTrack,
        newTrackIds: names,
      };
    }
  }
  if (headerHave > 0) throw new Error(`${source}: clean events end inside a block (truncated temporary)`);
}

/** How many times `byte` is in `bytes`. */
function countByte(bytes: Buffer, byte: number): number {
  let n = 0;
  for (let at = bytes.indexOf(byte); at >= 0; at = bytes.indexOf(byte, at + 1)) n++;
  return n;
}

/** A chunk's clean events, the validator's hand-off to its transform. */
export const CLEAN_EVENTS: RunArtifact = {
  path: 'tmp/run=<run>/valid/<chunk>.events',
  format: "binary column blocks (CleanEventsWriter), cut by size: a segment's events are counted in its validation",
  version: 2,
  writers: ['validate'],
  readers: ['transform'],
};

/** The upload of a chunk's clean events: add to `writer`, then `finish`, or `abort` on an error. */
export interface CleanEventsUpload {
  url: string;
  writer: CleanEventsWriter;
  finish(): Promise<void>;
  abort(err: Error): void;
}

/** Starts the upload of chunk `chunkId`'s clean events, written as they are added. */
export function createCleanEvents(store: ObjectStore, run: RunContext, chunkId: string): CleanEventsUpload {
  const url = LAKE_LAYOUT.validEvents(run.lake, run.runId, chunkId);
  const out = new PassThrough();
  const upload = store.write(url, out);
  upload.catch(() => undefined);
  const writer = new CleanEventsWriter(out);
  return {
    url,
    writer,
    async finish() {
      await writer.end();
      await upload;
    },
    abort: (err) => out.destroy(err),
  };
}

/** Some of a segment's events: rows `start` to `end` of `block`. */
export interface CleanEventsPiece {
  block: CleanEventsBlock;
  start: number;
  end: number;
}

/**
 * A chunk's clean events read a segment at a time: a block holds the events of as many segments as fit,
 * and a big segment's events span blocks.
 */
export class CleanEventsCursor {
  private block: CleanEventsBlock | undefined;
  private at = 0;

  constructor(
    private readonly blocks: AsyncGenerator<CleanEventsBlock>,
    private readonly source: string,
  ) {}

  /**
   * The next of `left` events still to take (of `wanted` for `segment`): the rest of the block or fewer. A
   * promise only when a block must be read: a chunk of small files takes thousands of pieces from one block.
   */
  piece(left: number, wanted: number, segment: string): CleanEventsPiece | Promise<CleanEventsPiece> {
    return this.block && this.at < this.block.rows ? this.cut(this.block, left) : this.nextBlock(left, wanted, segment);
  }

  private async nextBlock(left: number, wanted: number, segment: string): Promise<CleanEventsPiece> {
    const next = await this.blocks.next();
    if (next.done) throw new Error(`${this.source}: ${segment} should have ${wanted} clean events, found ${wanted - left}`);
    this.block = next.value;
    this.at = 0;
    return this.cut(next.value, left);
  }

  private cut(block: CleanEventsBlock, left: number): CleanEventsPiece {
    const start = this.at;
    this.at = Math.min(block.rows, start + left);
    return { block, start, end: this.at };
  }

  async close(): Promise<void> {
    await this.blocks.return(undefined);
  }
}

/** The clean events at `url` (`CleanEventsUpload.url`), in order. */
export async function openCleanEvents(store: ObjectStore, url: string): Promise<CleanEventsCursor> {
  return new CleanEventsCursor(readCleanEvents(await store.read(url), url), url);
}
