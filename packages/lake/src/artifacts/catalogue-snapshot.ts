import { PassThrough, type Readable } from 'node:stream';
import { StringPool } from '@musicflow/kpi';
import type { CatalogueTable, RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { forEachLine, UserIdSet, type PlainSong, type Song } from '@musicflow/ingest';
import type { LakeTrack } from '../part-writer.ts';
import { LakeTrackTable, type LakeTrackBytes } from '../track-table.ts';
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
 * rows (`joinSongRows`).
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

/** A songs snapshot row as ranges of the read that holds it: its track id, and its enrichment as a lake track table takes it. */
interface SongRowBytes extends LakeTrackBytes {
  idStart: number;
  idEnd: number;
}

/**
 * Calls `f` with each whole row (`SongsSnapshotWriter`) of a songs snapshot,
 * one record reused for every row, its ranges in one of the reads (a row
 * cut by a read is joined to the next); a stream ending inside a row is an
 * error naming `url`.
 */
async function forEachSongRow(bytes: Readable, url: string, f: (row: SongRowBytes) => void): Promise<void> {
  const row: SongRowBytes = {
    bytes: Buffer.alloc(0),
    idStart: 0,
    idEnd: 0,
    nameStart: 0,
    nameEnd: 0,
    artistsStart: 0,
    artistsEnd: 0,
    genresStart: 0,
    genresEnd: 0,
    popularity: 0,
    durationMs: 0,
  };
  let rest: Buffer = Buffer.alloc(0);
  for await (const read of bytes as AsyncIterable<Buffer>) {
    const chunk = rest.length ? Buffer.concat([rest, read]) : read;
    let at = 0;
    while (at + ROW_HEAD_BYTES <= chunk.length) {
      const name = at + ROW_HEAD_BYTES + chunk.readUInt32LE(at);
      const artists = name + chunk.readUInt32LE(at + 4);
      const genre = artists + chunk.readUInt32LE(at + 8);
      const end = genre + chunk.readUInt32LE(at + 12);
      if (end > chunk.length) break;
      row.bytes = chunk;
      row.idStart = at + ROW_HEAD_BYTES;
      row.idEnd = row.nameStart = name;
      row.nameEnd = row.artistsStart = artists;
      row.artistsEnd = row.genresStart = genre;
      row.genresEnd = end;
      row.popularity = chunk.readInt32LE(at + 16);
      row.durationMs = chunk.readInt32LE(at + 20);
      f(row);
      at = end;
    }
    rest = chunk.subarray(at);
  }
  if (rest.length) throw new Error(`${url}: not a songs snapshot (it ends inside a row)`);
}

/**
 * Joins the snapshot's rows (`SongsSnapshotWriter`) to the tracks of `table`
 * (`LakeTrackTable.ofTrackIds`) as they stream past: a track's first row
 * gives its name, artists and numbers, its rows' genres are `;`-joined in
 * order, each once. Nothing is kept of a row but what the table interns (a
 * long-tail chunk joins hundreds of thousands of tracks: holding their rows
 * until asked was about 30 MB of a transform's peak and a copy of each).
 */
async function joinSongRows(store: ObjectStore, url: string, table: LakeTrackTable): Promise<void> {
  /** The genre fields of the snapshot (a few hundred), and those of each track seen in more than one row so far (one in seven). */
  const genreFields = new StringPool();
  const genresOf = new Map<number, number[]>();
  await forEachSongRow(await store.read(url), url, (row) => {
    const t = table.indexOf(row.bytes, row.idStart, row.idEnd);
    if (t < 0) return;
    if (!table.catalogued(t)) {
      table.enrich(t, row);
      return;
    }
    // A later row of the track: its genre, if new, is listed after the others. Until then the table's value is the first row's.
    let fields = genresOf.get(t);
    if (!fields) {
      const first = table.bytesOf(t, 3);
      genresOf.set(t, (fields = [genreFields.internBytes(first, 0, first.length)]));
    }
    const next = genreFields.internBytes(row.bytes, row.genresStart, row.genresEnd);
    if (fields.includes(next)) return;
    fields.push(next);
    const joined = Buffer.concat(fields.flatMap((f, i) => (i ? [SEPARATOR, genreFields.bytesOf(f)] : [genreFields.bytesOf(f)])));
    table.setGenres(t, joined, 0, joined.length);
  });
}

const SEPARATOR = Uint8Array.of(0x3b); // ;

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

/** The run's catalogue as one set of keys sees it: its tracks with their songs' enrichment, and which of its users are known. */
export interface KeysCatalogue {
  /** The keys' tracks, track `t` being line `t` of the keys asked for (for a chunk's keys, its hand-off index). */
  tracks: LakeTrackTable;
  users: UserIdSet;
  /** The enrichment of `trackId`; undefined when it was not asked for or is not in the catalogue. */
  trackOf(trackId: string): LakeTrack | undefined;
}

/** The catalogue of the tracks in `trackIds` (`\n`-separated, each once) and of the users in `userIds`, from the run's snapshots. */
export async function readKeysCatalogue(
  store: ObjectStore,
  snapshots: { songsUrl: string; usersUrl: string },
  trackIds: Buffer,
  userIds: Iterable<number>,
): Promise<KeysCatalogue> {
  let lines = 0;
  forEachLine(trackIds, () => lines++);
  const ids = new StringPool(lines, trackIds.length);
  forEachLine(trackIds, (bytes, start, end) => ids.internBytes(bytes, start, end));
  ids.buildFilter();
  const tracks = LakeTrackTable.ofTrackIds(ids);
  const wantedUsers = new UserIdSet();
  for (const id of userIds) wantedUsers.add(id);
  const [, users] = await Promise.all([joinSongRows(store, snapshots.songsUrl, tracks), readKnownUsers(store, snapshots.usersUrl, wantedUsers)]);
  return {
    tracks,
    users,
    trackOf: (trackId) => {
      const bytes = Buffer.from(trackId);
      return tracks.trackOf(tracks.indexOf(bytes, 0, bytes.length));
    },
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
