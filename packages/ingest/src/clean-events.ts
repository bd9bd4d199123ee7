import type { Readable, Writable } from 'node:stream';

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
 */
export interface CleanEventsBlock {
  rows: number;
  userIds: Int32Array;
  trackIndexes: Int32Array;
  listenTimes: Float64Array;
  /** Every track id seen so far in the chunk, by index. */
  tracks: readonly string[];
  /** Indexes from here on are new in this block. */
  firstNewTrack: number;
}

const BLOCK_ROWS = 65_536;
const HEADER_BYTES = 8;

/** Buffers events and writes full blocks to `out`, waiting when it is slower than the caller. */
export class CleanEventsWriter {
  private readonly trackIndex = new Map<string, number>();
  private newTracks: string[] = [];
  private userIds = new Int32Array(BLOCK_ROWS);
  private trackIndexes = new Int32Array(BLOCK_ROWS);
  private listenTimes = new Float64Array(BLOCK_ROWS);
  private rows = 0;
  private written = 0;

  constructor(private readonly out: Writable) {}

  /** Blocks written so far. */
  get blocks(): number {
    return this.written;
  }

  /** Returns a promise only when the caller must wait for the output to drain. */
  add(userId: number, trackId: string, listenTime: number): Promise<void> | undefined {
    let t = this.trackIndex.get(trackId);
    if (t === undefined) {
      t = this.trackIndex.size;
      this.trackIndex.set(trackId, t);
      this.newTracks.push(trackId);
    }
    const i = this.rows++;
    this.userIds[i] = userId;
    this.trackIndexes[i] = t;
    this.listenTimes[i] = listenTime;
    return this.rows === BLOCK_ROWS ? this.endBlock() : undefined;
  }

  /** Writes the events buffered so far as a block, so the next event starts a new one (a segment ends here). */
  endBlock(): Promise<void> | undefined {
    const rows = this.rows;
    if (rows === 0) return undefined;
    const names = Buffer.from(this.newTracks.join('\n'));
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32LE(rows, 0);
    header.writeUInt32LE(names.length, 4);
    const block = Buffer.concat([
      header,
      names,
      Buffer.from(this.userIds.buffer, 0, rows * 4),
      Buffer.from(this.trackIndexes.buffer, 0, rows * 4),
      Buffer.from(this.listenTimes.buffer, 0, rows * 8),
    ]);
    this.rows = 0;
    this.newTracks = [];
    this.written++;
    if (this.out.write(block)) return undefined;
    return new Promise((resolve) => this.out.once('drain', resolve));
  }

  async end(): Promise<void> {
    await this.endBlock();
    this.out.end();
  }
}

/** Reads the blocks back from a byte stream; a truncated stream is an error, not a short chunk. */
export async function* readCleanEvents(bytes: Readable, source: string): AsyncGenerator<CleanEventsBlock> {
  const tracks: string[] = [];
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const take = (n: number): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending);
    pending = n < all.length ? [all.subarray(n)] : [];
    pendingBytes -= n;
    return all.subarray(0, n);
  };
  let header: { rows: number; names: number } | undefined;
  for await (const chunk of bytes as AsyncIterable<Buffer>) {
    pending.push(chunk);
    pendingBytes += chunk.length;
    for (;;) {
      if (!header) {
        if (pendingBytes < HEADER_BYTES) break;
        const h = take(HEADER_BYTES);
        header = { rows: h.readUInt32LE(0), names: h.readUInt32LE(4) };
      }
      const size = header.names + header.rows * 16;
      if (pendingBytes < size) break;
      const body = take(size);
      const { rows, names } = header;
      header = undefined;
      const firstNewTrack = tracks.length;
      if (names > 0) for (const id of body.toString('utf8', 0, names).split('\n')) tracks.push(id);
      // Copied out, not viewed: typed arrays need aligned offsets.
      const columns = new Uint8Array(rows * 16);
      columns.set(body.subarray(names));
      yield {
        rows,
        userIds: new Int32Array(columns.buffer, 0, rows),
        trackIndexes: new Int32Array(columns.buffer, rows * 4, rows),
        listenTimes: new Float64Array(columns.buffer, rows * 8, rows),
        tracks,
        firstNewTrack,
      };
    }
  }
  if (header || pendingBytes > 0) throw new Error(`${source}: clean events end inside a block (truncated temporary)`);
}
