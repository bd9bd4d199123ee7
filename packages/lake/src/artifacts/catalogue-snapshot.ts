import { PassThrough, type Readable } from 'node:stream';
import { StringPool, withRoom } from '@musicflow/kpi';
import type { CatalogueTable, RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { forEachLine, UserIdSet, type PlainSong, type Song } from '@musicflow/ingest';
import { lakeTrackBytes, type LakeTrackBytes, type LakeTrackTable } from '../track-table.ts';
import { readChunkKeys } from './chunk-keys.ts';

const BATCH_BYTES = 64 * 1024;

/**
 * Streams batches of about BATCH_BYTES to one object: one write per row costs
 * more than the row (measured on 28k songs). The snapshot writers below
 * write their rows' encoding straight into the batch (`room`).
 */
class BatchedUpload {
  private readonly out = new PassThrough();
  private readonly upload: Promise<unknown>;
  protected batch = Buffer.allocUnsafe(BATCH_BYTES);
  protected used = 0;
  private draining: Promise<void> | undefined;

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

  /**
   * Makes room for `bytes` more in `batch` at `used` (sending the batch when
   * it is full: a row never spans two). The caller writes them, moves `used`
   * on, and returns `drained()`.
   */
  protected room(bytes: number): void {
    if (this.used + bytes <= this.batch.length) return;
    this.send();
    if (bytes > this.batch.length) this.batch = Buffer.allocUnsafe(bytes);
  }

  /** A promise only when the caller must wait for the upload to drain. */
  protected drained(): Promise<void> | undefined {
    const draining = this.draining;
    this.draining = undefined;
    return draining;
  }

  private send(): void {
    if (!this.used) return;
    if (!this.out.write(this.batch.subarray(0, this.used))) this.draining = new Promise((resolve) => this.out.once('drain', resolve));
    this.batch = Buffer.allocUnsafe(BATCH_BYTES);
    this.used = 0;
  }

  async close(): Promise<void> {
    this.send();
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

/** A songs snapshot row's fixed part: u32 id, name, artists and genre byte lengths, i32 popularity, i32 duration ms. */
const ROW_HEAD_BYTES = 24;

/**
 * The run's songs as the catalogue job finds them, one binary row per
 * catalogue row the run needs, streamed as the catalogue is read, so the job
 * holds no song (a long-tail day needs hundreds of thousands):
 *
 *   u32 id bytes | u32 name bytes | u32 artists bytes | u32 genre bytes |
 *   i32 popularity | i32 duration ms | id | name | artists (`;`-joined) | genre   (UTF-8)
 *
 * Binary, not JSON: every transform reads the whole snapshot, and a JSON
 * parse and a string per field of each of its tracks was most of a long-tail
 * transform (measured with the bench's `--profile`); these rows are interned
 * into the transform's track table from their bytes. Readers merge a track's
 * rows (`readSongRows`).
 */
export class SongsSnapshotWriter extends BatchedUpload {
  add(trackId: string, genre: string, song: Omit<Song, 'genres'>): Promise<void> | undefined {
    const artists = song.artists.join(';');
    const texts = [trackId, song.trackName, artists, genre] as const;
    const lengths = texts.map((text) => Buffer.byteLength(text));
    const at = this.head(lengths[0]!, lengths[1]!, lengths[2]!, lengths[3]!, song.popularity, song.durationMs);
    let end = at + ROW_HEAD_BYTES;
    for (const text of texts) end += this.batch.write(text, end);
    this.used = end;
    return this.drained();
  }

  /** `add` of a row the rules' fast path kept (`plainSongRow`): its fields copied from the CSV's bytes. */
  addPlain(bytes: Buffer, song: PlainSong): Promise<void> | undefined {
    const { idStart, idEnd, nameStart, nameEnd, artistsStart, artistsEnd, genreStart, genreEnd } = song;
    const at = this.head(idEnd - idStart, nameEnd - nameStart, artistsEnd - artistsStart, genreEnd - genreStart, song.popularity, song.durationMs);
    let end = at + ROW_HEAD_BYTES;
    end += bytes.copy(this.batch, end, idStart, idEnd);
    end += bytes.copy(this.batch, end, nameStart, nameEnd);
    end += bytes.copy(this.batch, end, artistsStart, artistsEnd);
    end += bytes.copy(this.batch, end, genreStart, genreEnd);
    this.used = end;
    return this.drained();
  }

  /** Makes room for a row of these lengths and writes its fixed part; returns where the row starts. */
  private head(id: number, name: number, artists: number, genre: number, popularity: number, durationMs: number): number {
    this.room(ROW_HEAD_BYTES + id + name + artists + genre);
    const at = this.used;
    const batch = this.batch;
    batch.writeUInt32LE(id, at);
    batch.writeUInt32LE(name, at + 4);
    batch.writeUInt32LE(artists, at + 8);
    batch.writeUInt32LE(genre, at + 12);
    batch.writeInt32LE(popularity, at + 16);
    batch.writeInt32LE(durationMs, at + 20);
    return at;
  }
}

/** The run's known user ids, each once, as little-endian int32s: written as the catalogue is read. */
export class UsersSnapshotWriter extends BatchedUpload {
  add(userId: number): Promise<void> | undefined {
    this.room(4);
    this.batch.writeInt32LE(userId, this.used);
    this.used += 4;
    return this.drained();
  }
}

/**
 * Calls `f` with each whole row (`SongsSnapshotWriter`) of a songs snapshot
 * as a byte range of its reads (a row cut by a read is joined to the next);
 * a stream ending inside a row is an error naming `url`.
 */
async function forEachSongRow(bytes: Readable, url: string, f: (bytes: Buffer, start: number) => void): Promise<void> {
  let rest: Buffer = Buffer.alloc(0);
  for await (const read of bytes as AsyncIterable<Buffer>) {
    const chunk = rest.length ? Buffer.concat([rest, read]) : read;
    let at = 0;
    while (at + ROW_HEAD_BYTES <= chunk.length) {
      const end = at + ROW_HEAD_BYTES + chunk.readUInt32LE(at) + chunk.readUInt32LE(at + 4) + chunk.readUInt32LE(at + 8) + chunk.readUInt32LE(at + 12);
      if (end > chunk.length) break;
      f(chunk, at);
      at = end;
    }
    rest = chunk.subarray(at);
  }
  if (rest.length) throw new Error(`${url}: not a songs snapshot (it ends inside a row)`);
}

const decoder = new TextDecoder();
const GENRE_SEPARATOR = Buffer.from(';');

/**
 * The snapshot rows of some tracks, kept as their bytes in one buffer (a
 * long-tail chunk has hundreds of thousands of tracks: a Song object each
 * took more than the rest of its transform), by the track's number in the
 * keys asked for.
 */
class SongRows {
  private bytes = new Uint8Array(1 << 16);
  private view = new DataView(this.bytes.buffer);
  private used = 0;
  /** Per track: its first row's offset in `bytes`, -1 for none. */
  private readonly firstRow: Int32Array;
  /** The later rows of the tracks listed under several genres (one in seven in a big catalogue). */
  private readonly later = new Map<number, number[]>();

  constructor(tracks: number) {
    this.firstRow = new Int32Array(tracks).fill(-1);
  }

  add(t: number, row: Buffer, start: number, end: number): void {
    const at = this.used;
    if (at + end - start > this.bytes.length) {
      this.bytes = withRoom(this.bytes, at + end - start);
      this.view = new DataView(this.bytes.buffer);
    }
    row.copy(this.bytes, at, start, end);
    this.used += end - start;
    if (this.firstRow[t] === -1) this.firstRow[t] = at;
    else {
      const rows = this.later.get(t) ?? [];
      rows.push(at);
      this.later.set(t, rows);
    }
  }

  /** Field `k` (0 id, 1 name, 2 artists, 3 genre) of the row at `row`, as a view. */
  private field(row: number, k: number): Uint8Array {
    let at = row + ROW_HEAD_BYTES;
    for (let i = 0; i < k; i++) at += this.view.getUint32(row + 4 * i, true);
    return this.bytes.subarray(at, at + this.view.getUint32(row + 4 * k, true));
  }

  /** Track `t`'s genres: its rows' in order, each once. */
  private genresOf(t: number, first: number): Uint8Array[] {
    const genres = [this.field(first, 3)];
    for (const row of this.later.get(t) ?? []) {
      const genre = this.field(row, 3);
      if (!genres.some((g) => Buffer.compare(g, genre) === 0)) genres.push(genre);
    }
    return genres;
  }

  /**
   * Track `t`'s catalogue enrichment as the lake carries it (`lakeTrackOf`),
   * as ranges of the rows' UTF-8 bytes, into `out` (false: not in the
   * catalogue): its first row's name, artists and numbers, its rows' genres
   * `;`-joined. Nothing is made per track but for a track of several genres.
   */
  trackBytes(t: number, out: LakeTrackBytes): boolean {
    const first = this.firstRow[t] ?? -1;
    if (first < 0) return false;
    const view = this.view;
    const name = first + ROW_HEAD_BYTES + view.getUint32(first, true);
    const artists = name + view.getUint32(first + 4, true);
    const genre = artists + view.getUint32(first + 8, true);
    out.bytes = this.bytes;
    out.nameStart = name;
    out.nameEnd = artists;
    out.artistsStart = artists;
    out.artistsEnd = genre;
    if (this.later.has(t)) {
      out.genres = Buffer.concat(this.genresOf(t, first).flatMap((g, i) => (i ? [GENRE_SEPARATOR, g] : [g])));
      out.genresStart = 0;
      out.genresEnd = out.genres.length;
    } else {
      out.genres = this.bytes;
      out.genresStart = genre;
      out.genresEnd = genre + view.getUint32(first + 12, true);
    }
    out.popularity = view.getInt32(first + 16, true);
    out.durationMs = view.getInt32(first + 20, true);
    return true;
  }

  /** Track `t`'s song, as strings. */
  song(t: number): Song | undefined {
    const first = this.firstRow[t] ?? -1;
    if (first < 0) return undefined;
    const artists = decoder.decode(this.field(first, 2));
    return {
      trackId: decoder.decode(this.field(first, 0)),
      trackName: decoder.decode(this.field(first, 1)),
      artists: artists ? artists.split(';') : [],
      popularity: this.view.getInt32(first + 16, true),
      durationMs: this.view.getInt32(first + 20, true),
      genres: this.genresOf(t, first).map((g) => decoder.decode(g)),
    };
  }
}

/**
 * The snapshot rows (`SongsSnapshotWriter`) of the tracks in `tracks`: a
 * transform reads the run's snapshot for its chunk's tracks only, so it
 * holds what its chunk plays, not the run's catalogue.
 */
async function readSongRows(store: ObjectStore, url: string, tracks: StringPool): Promise<SongRows> {
  const rows = new SongRows(tracks.size);
  await forEachSongRow(await store.read(url), url, (bytes, start) => {
    const idBytes = bytes.readUInt32LE(start);
    const rowEnd = start + ROW_HEAD_BYTES + idBytes + bytes.readUInt32LE(start + 4) + bytes.readUInt32LE(start + 8) + bytes.readUInt32LE(start + 12);
    const t = tracks.find(bytes, start + ROW_HEAD_BYTES, start + ROW_HEAD_BYTES + idBytes);
    if (t >= 0) rows.add(t, bytes, start, rowEnd);
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
  /**
   * Adds the keys' track number `t` (its line in the keys asked for; for a
   * chunk's keys, its hand-off index) to `table`, with its enrichment, from
   * the snapshot's bytes: no string and no object per track. Returns its
   * index in `table`.
   */
  addTrackTo(table: LakeTrackTable, t: number): number;
  users: UserIdSet;
}

/** The catalogue of the tracks and users in `trackIds` (`\n`-separated, each once) and `userIds`, from the run's snapshots. */
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
  const track = lakeTrackBytes();
  return {
    songOf: (trackId) => {
      const bytes = Buffer.from(trackId);
      const t = tracks.find(bytes, 0, bytes.length);
      return t < 0 ? undefined : songs.song(t);
    },
    addTrackTo: (table, t) => {
      if (t >= tracks.size) throw new RangeError(`track ${t} of keys that list ${tracks.size}`);
      return table.addBytes(tracks.bytesOf(t), songs.trackBytes(t, track) ? track : undefined);
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
    path: 'tmp/run=<run>/catalogue/songs.bin',
    format:
      'one binary row per catalogue row: u32 byte lengths of id, name, artists, genre; i32 popularity, i32 duration ms; then those four UTF-8 strings (artists ;-joined)',
    version: 2,
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
