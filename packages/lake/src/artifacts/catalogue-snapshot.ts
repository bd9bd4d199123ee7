import { PassThrough, type Readable } from 'node:stream';
import { StringPool, withRoom } from '@musicflow/kpi';
import type { CatalogueTable, RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { forEachLine, UserIdSet, type Song } from '@musicflow/ingest';
import { readChunkKeys } from './chunk-keys.ts';

const BATCH_BYTES = 64 * 1024;

/**
 * Streams batches of about BATCH_BYTES to one object: one write per row costs
 * more than the row (measured on 28k songs). The snapshot writers below add
 * their rows' encoding.
 */
class BatchedUpload {
  private readonly out = new PassThrough();
  private readonly upload: Promise<unknown>;
  private batch: Buffer[] = [];
  private batchBytes = 0;

  constructor(
    store: ObjectStore,
    readonly url: string,
  ) {
    this.upload = store.write(url, this.out);
    this.upload.catch(() => undefined);
    // An abort before the store reads the stream (a catalogue that cannot be read fails at once) errors a
    // stream nobody listens to yet, which would throw; the upload's promise carries the error instead.
    this.out.on('error', () => undefined);
  }

  /** Returns a promise only when the caller must wait for the upload to drain. */
  protected addBytes(bytes: Buffer): Promise<void> | undefined {
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
    if (this.batchBytes < BATCH_BYTES) return undefined;
    const drained = this.out.write(Buffer.concat(this.batch));
    this.batch = [];
    this.batchBytes = 0;
    return drained ? undefined : new Promise((resolve) => this.out.once('drain', resolve));
  }

  async close(): Promise<void> {
    if (this.batch.length) this.out.write(Buffer.concat(this.batch));
    this.out.end();
    await this.upload;
  }

  /** Runs `rows` (which adds the rows), then closes the object; a failure of `rows` aborts it, and no object appears. */
  async fill(rows: () => Promise<void>): Promise<void> {
    try {
      await rows();
    } catch (err) {
      this.out.destroy(err as Error);
      throw err;
    }
    await this.close();
  }
}

/** A song row of the snapshot: the first row of a track gives its name, artists and numbers, every row a genre. */
type SongRow = Omit<Song, 'genres' | 'trackId'> & { genre: string };

/**
 * The run's songs as the catalogue job finds them, one line per catalogue row
 * the run needs: `trackId<TAB>{"trackName",...,"genre"}`, streamed as the
 * catalogue is read, so the job holds no song (a long-tail day needs
 * hundreds of thousands). Readers merge a track's rows (`readSongRows`).
 */
export class SongsSnapshotWriter extends BatchedUpload {
  add(trackId: string, genre: string, song: Omit<Song, 'genres'>): Promise<void> | undefined {
    const row: SongRow = { trackName: song.trackName, artists: song.artists, popularity: song.popularity, durationMs: song.durationMs, genre };
    // Track ids hold no whitespace (SPEC 2.1): a reader finds the key without parsing the line.
    return this.addBytes(Buffer.from(`${trackId}\t${JSON.stringify(row)}\n`));
  }
}

/** The run's known user ids, each once, as little-endian int32s: written as the catalogue is read. */
export class UsersSnapshotWriter extends BatchedUpload {
  add(userId: number): Promise<void> | undefined {
    const bytes = Buffer.allocUnsafe(4);
    bytes.writeInt32LE(userId, 0);
    return this.addBytes(bytes);
  }
}

/** Calls `f` with each `\n`-terminated line of a stream as a byte range of its reads, no string per line. */
async function forEachLineOf(bytes: Readable, f: (bytes: Buffer, start: number, end: number) => void): Promise<void> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const read of bytes as AsyncIterable<Buffer>) {
    const chunk = rest.length ? Buffer.concat([rest, read]) : read;
    const last = chunk.lastIndexOf(10);
    forEachLine(chunk.subarray(0, last + 1), f);
    rest = chunk.subarray(last + 1);
  }
  if (rest.length) f(rest, 0, rest.length);
}

const decoder = new TextDecoder();

/**
 * The snapshot rows of some tracks, kept as their JSON's bytes in one buffer
 * (a long-tail chunk has hundreds of thousands of tracks: a Song object each
 * took more than the rest of its transform) and parsed when a track is asked
 * for.
 */
class SongRows {
  private bytes = new Uint8Array(1 << 16);
  private used = 0;
  /** Per track: its first row's bytes, `[start, end)` (end 0: none). */
  private starts = new Int32Array(0);
  private ends = new Int32Array(0);
  /** The later rows of the few tracks listed under several genres. */
  private readonly later = new Map<number, [number, number][]>();

  add(t: number, row: Buffer, start: number, end: number): void {
    const at = this.used;
    this.bytes = withRoom(this.bytes, at + end - start);
    this.bytes.set(row.subarray(start, end), at);
    this.used += end - start;
    this.starts = withRoom(this.starts, t + 1);
    this.ends = withRoom(this.ends, t + 1);
    if (this.ends[t] === 0) {
      this.starts[t] = at;
      this.ends[t] = this.used;
    } else {
      const rows = this.later.get(t) ?? [];
      rows.push([at, this.used]);
      this.later.set(t, rows);
    }
  }

  /** Track `t`'s song: its first row's name, artists and numbers, its rows' genres in order, each once. */
  song(t: number, trackId: string): Song | undefined {
    if (t >= this.ends.length || this.ends[t] === 0) return undefined;
    const row = (at: number, end: number) => JSON.parse(decoder.decode(this.bytes.subarray(at, end))) as SongRow;
    const { genre, ...first } = row(this.starts[t]!, this.ends[t]!);
    const genres = [genre];
    for (const [at, end] of this.later.get(t) ?? []) {
      const next = row(at, end).genre;
      if (!genres.includes(next)) genres.push(next);
    }
    return { trackId, ...first, genres };
  }
}

/**
 * The snapshot rows (`SongsSnapshotWriter`) of the tracks in `tracks`: a
 * transform reads the run's snapshot for its chunk's tracks only, so it
 * holds what its chunk plays, not the run's catalogue.
 */
async function readSongRows(store: ObjectStore, url: string, tracks: StringPool): Promise<SongRows> {
  const rows = new SongRows();
  await forEachLineOf(await store.read(url), (bytes, start, end) => {
    const tab = bytes.indexOf(9, start);
    if (tab < 0 || tab > end) return;
    const t = tracks.find(bytes, start, tab);
    if (t >= 0) rows.add(t, bytes, tab + 1, end);
  });
  return rows;
}

/** Of `users`, the ones the snapshot (`UsersSnapshotWriter`) knows. */
export async function readKnownUsers(store: ObjectStore, url: string, users: UserIdSet): Promise<UserIdSet> {
  const known = new UserIdSet();
  let rest: Buffer = Buffer.alloc(0);
  for await (const read of (await store.read(url)) as AsyncIterable<Buffer>) {
    const chunk = rest.length ? Buffer.concat([rest, read]) : read;
    const whole = chunk.length - (chunk.length % 4);
    for (let at = 0; at < whole; at += 4) {
      const id = chunk.readInt32LE(at);
      if (users.has(id)) known.add(id);
    }
    rest = chunk.subarray(whole);
  }
  if (rest.length) throw new Error(`${url}: not a users snapshot (${rest.length} trailing bytes)`);
  return known;
}

/** The run's catalogue as one set of keys sees it: the songs of its tracks and which of its users are known. */
export interface KeysCatalogue {
  songOf(trackId: string): Song | undefined;
  users: UserIdSet;
}

/** The catalogue of the tracks and users in `trackIds` (`\n`-separated) and `userIds`, from the run's snapshots. */
export async function readKeysCatalogue(
  store: ObjectStore,
  snapshots: { songsUrl: string; usersUrl: string },
  trackIds: Buffer,
  userIds: Iterable<number>,
): Promise<KeysCatalogue> {
  const tracks = new StringPool();
  forEachLine(trackIds, (bytes, start, end) => tracks.internBytes(bytes, start, end));
  const wantedUsers = new UserIdSet();
  for (const id of userIds) wantedUsers.add(id);
  const [songs, users] = await Promise.all([readSongRows(store, snapshots.songsUrl, tracks), readKnownUsers(store, snapshots.usersUrl, wantedUsers)]);
  return {
    songOf: (trackId) => {
      const bytes = Buffer.from(trackId);
      const t = tracks.find(bytes, 0, bytes.length);
      return t < 0 ? undefined : songs.song(t, trackId);
    },
    users,
  };
}

/** The catalogue of one chunk (its keys, `readChunkKeys`): what its transform joins. */
export async function readChunkCatalogue(store: ObjectStore, keysUrl: string, snapshots: { songsUrl: string; usersUrl: string }): Promise<KeysCatalogue> {
  const keys = await readChunkKeys(store, keysUrl);
  return readKeysCatalogue(store, snapshots, keys.trackIdBytes, keys.userIds);
}

/** The run's catalogue snapshots (SPEC 2.2, 2.3): only the users and songs its events name. */
export const CATALOGUE_SNAPSHOTS: Record<CatalogueTable, RunArtifact> = {
  songs: {
    path: 'tmp/run=<run>/catalogue/songs.ndjson',
    format: 'one line per catalogue row: track id, tab, JSON {trackName, artists, popularity, durationMs, genre}',
    version: 1,
    writers: ['catalogue'],
    readers: ['transform', 'recompute'],
  },
  users: {
    path: 'tmp/run=<run>/catalogue/users.txt',
    format: 'the known user ids, each once, as little-endian int32',
    version: 1,
    writers: ['catalogue'],
    readers: ['transform', 'recompute'],
  },
};

/** The writer of the run's songs snapshot; its `url` is what the catalogue job reports. */
export const songsSnapshotOf = (store: ObjectStore, run: RunContext) => new SongsSnapshotWriter(store, LAKE_LAYOUT.catalogueSongs(run.lake, run.runId));
/** The writer of the run's users snapshot. */
export const usersSnapshotOf = (store: ObjectStore, run: RunContext) => new UsersSnapshotWriter(store, LAKE_LAYOUT.catalogueUsers(run.lake, run.runId));
