import { PassThrough } from 'node:stream';
import { copyBytes, StringPool } from '@musicflow/kpi';
import type { CatalogueResult, CatalogueShard, CatalogueSnapshots, CatalogueTable, PlanResult, RunContext, SongsSnapshotGroup } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { forEachLine, UserIdSet, type PlainSong, type Song } from '@musicflow/ingest';
import type { LakeTrack } from '../part-writer.ts';
import { LakeTrackTable, type LakeTrackBytes } from '../track-table.ts';
import { readChunkKeys } from './chunk-keys.ts';
import { gatherFileQuarantines } from './quarantine.ts';

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
 * Binary, not JSON: a JSON parse and a string per field of each of its
 * tracks was most of a long-tail transform (measured with the bench's
 * `--profile`); these rows are interned into the transform's track table
 * from their bytes. Readers merge a track's rows (`joinSongRows`).
 *
 * In groups: the keys (or parts) the run's ids came from take groups 0, 1,
 * ... in turn, and a row goes to each group whose keys name its track, so a
 * transform reads the rows of its own group's tracks. One snapshot for the
 * run made every transform read every row: a long-tail day's chunk plays a
 * quarter of them, and a day of more chunks a smaller share. A group is
 * written as objects of whole rows (SONGS_OBJECT_BYTES), one uploading at a
 * time: a streamed upload per group would hold an S3 multipart's 5 MiB parts
 * each.
 */
export class SongsSnapshotWriter {
  private readonly batches: Buffer[];
  private readonly used: number[];
  private readonly objects: number[];
  /** Per group, its last object's upload (the next starts after it). */
  private readonly uploads: Promise<unknown>[];

  constructor(
    private readonly store: ObjectStore,
    /** The snapshot's folder; group g's objects are under `<url>group=<g>/`. */
    readonly url: string,
    groups = 1,
  ) {
    this.batches = Array.from({ length: groups }, () => Buffer.allocUnsafe(SONGS_OBJECT_BYTES));
    this.used = new Array<number>(groups).fill(0);
    this.objects = new Array<number>(groups).fill(0);
    this.uploads = Array.from({ length: groups }, () => Promise.resolve());
  }

  /** Adds a row to the groups of `groups` (bit g: group g). */
  add(trackId: string, genre: string, song: Omit<Song, 'genres'>, groups = 1): Promise<void> | undefined {
    const texts = [trackId, song.trackName, song.artists.join(';'), genre] as const;
    const [id, name, artists, text] = texts.map((t) => Buffer.byteLength(t));
    const size = ROW_HEAD_BYTES + id! + name! + artists! + text!;
    const wait = this.reserve(groups, size);
    const { batch, at } = this.head(groups, id!, name!, artists!, text!, song.popularity, song.durationMs);
    let end = at + ROW_HEAD_BYTES;
    for (const t of texts) end += batch.write(t, end);
    this.commit(groups, size);
    return wait;
  }

  /** `add` of a row the rules' fast path kept (`plainSongRow`): its fields copied from the CSV's bytes. */
  addPlain(bytes: Buffer, song: PlainSong, groups = 1): Promise<void> | undefined {
    const { idStart, idEnd, nameStart, nameEnd, artistsStart, artistsEnd, genreStart, genreEnd } = song;
    const [id, name, artists, genre] = [idEnd - idStart, nameEnd - nameStart, artistsEnd - artistsStart, genreEnd - genreStart];
    const size = ROW_HEAD_BYTES + id + name + artists + genre;
    const wait = this.reserve(groups, size);
    const { batch, at } = this.head(groups, id, name, artists, genre, song.popularity, song.durationMs);
    let end = at + ROW_HEAD_BYTES;
    end += copyBytes(bytes, idStart, idEnd, batch, end);
    end += copyBytes(bytes, nameStart, nameEnd, batch, end);
    end += copyBytes(bytes, artistsStart, artistsEnd, batch, end);
    copyBytes(bytes, genreStart, genreEnd, batch, end);
    this.commit(groups, size);
    return wait;
  }

  /** Sends every group's last object and waits for all of them; `snapshot` then says how many each group has. */
  async close(): Promise<void> {
    for (let g = 0; g < this.batches.length; g++) void this.send(g);
    await Promise.all(this.uploads);
  }

  /**
   * Makes room for a row of `size` bytes in the batch of each group in `groups`, sending full batches; a promise
   * when the caller must wait for an earlier object of a group to be stored before more rows come.
   */
  private reserve(groups: number, size: number): Promise<void> | undefined {
    let waits: Promise<unknown>[] | undefined;
    for (let g = 0; g < this.batches.length; g++) {
      if (((groups >>> g) & 1) === 0 || this.used[g]! + size <= this.batches[g]!.length) continue;
      const wait = this.send(g);
      if (wait) (waits ??= []).push(wait);
      if (size > this.batches[g]!.length) this.batches[g] = Buffer.allocUnsafe(size);
    }
    return waits && Promise.all(waits).then(() => undefined);
  }

  /** Writes the row's fixed part into the first group's batch; the caller writes its fields after it, then `commit`s. */
  private head(groups: number, id: number, name: number, artists: number, genre: number, popularity: number, durationMs: number) {
    const first = firstGroup(groups);
    const batch = this.batches[first]!;
    const at = this.used[first]!;
    batch.writeUInt32LE(id, at);
    batch.writeUInt32LE(name, at + 4);
    batch.writeUInt32LE(artists, at + 8);
    batch.writeUInt32LE(genre, at + 12);
    batch.writeInt32LE(popularity, at + 16);
    batch.writeInt32LE(durationMs, at + 20);
    return { batch, at };
  }

  /** Copies the row of `size` bytes the first group's batch now holds into the other groups' batches. */
  private commit(groups: number, size: number): void {
    const first = firstGroup(groups);
    const from = this.used[first]!;
    for (let g = first + 1; g < this.batches.length; g++) {
      if (((groups >>> g) & 1) === 0) continue;
      this.used[g]! += copyBytes(this.batches[first]!, from, from + size, this.batches[g]!, this.used[g]!);
    }
    this.used[first] = from + size;
  }

  /**
   * Starts storing group `g`'s batch as its next object, after the group's previous one (one upload a group at a
   * time); returns that previous upload for the caller to wait on.
   */
  private send(g: number): Promise<unknown> | undefined {
    const used = this.used[g]!;
    if (!used) return undefined;
    const url = songsObjectUrl(groupUrl(this.url, g), this.objects[g]!++);
    const bytes = this.batches[g]!.subarray(0, used);
    const previous = this.uploads[g]!;
    const upload = previous.then(() => this.store.write(url, bytes));
    // Awaited by the next send or by close; until then a failure must not go unhandled.
    upload.catch(() => undefined);
    this.uploads[g] = upload;
    this.batches[g] = Buffer.allocUnsafe(SONGS_OBJECT_BYTES);
    this.used[g] = 0;
    return previous;
  }

  /** The snapshot as the catalogue job reports it (once closed). */
  get snapshot(): Required<SongsSnapshot> {
    return { url: this.url, groups: [...this.objects] };
  }

  /** Runs `rows` (which adds the rows), then closes the snapshot; a failure of `rows` waits for the uploads under way, then is thrown. */
  async fill(rows: () => Promise<void>): Promise<void> {
    try {
      await rows();
    } catch (err) {
      await Promise.allSettled(this.uploads);
      throw err;
    }
    await this.close();
  }
}

/**
 * Bytes of a songs snapshot object (rows never span two): six groups hold 3 MiB at most, batches and uploads,
 * beside the run's track fingerprints in a catalogue job that peaks near 300 MB on a 5M-track day.
 */
const SONGS_OBJECT_BYTES = 256 * 1024;

/** A songs snapshot as its writer left it (and the songs catalogue job reports it): its folder and each group's count of objects. */
export interface SongsSnapshot {
  url: string;
  groups?: number[];
}

/** The group of a songs snapshot that the `list`-th keys (or part) asked for take. */
export function songsSnapshotGroup({ url, groups }: SongsSnapshot, list: number): SongsSnapshotGroup {
  if (!groups?.length) throw new Error(`songs snapshot ${url}: the catalogue job reported no groups`);
  const g = list % groups.length;
  return { url: groupUrl(url, g), objects: groups[g]! };
}

/** The lowest group of a row's groups (bit g: group g): the batch its fields are written into. */
const firstGroup = (groups: number) => 31 - Math.clz32(groups & -groups);

const groupUrl = (snapshotUrl: string, g: number) => `${snapshotUrl}group=${g}/`;

const songsObjectUrl = (groupUrl: string, k: number) => `${groupUrl}${k}.bin`;

/** Bytes of the users snapshot sent at once: a write per row cost more than the row (measured on the songs' snapshot). */
const USERS_BATCH_BYTES = 64 * 1024;

/** The run's known user ids, each once, as little-endian int32s: streamed to one object as the catalogue is read. */
export class UsersSnapshotWriter {
  private readonly out = new PassThrough();
  private readonly upload: Promise<unknown>;
  private batch = Buffer.allocUnsafe(USERS_BATCH_BYTES);
  private used = 0;
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

  /** Returns a promise only when the caller must wait for the upload to drain. */
  add(userId: number): Promise<void> | undefined {
    if (this.used + 4 > this.batch.length) this.send();
    this.batch.writeInt32LE(userId, this.used);
    this.used += 4;
    const draining = this.draining;
    this.draining = undefined;
    return draining;
  }

  private send(): void {
    if (!this.used) return;
    if (!this.out.write(this.batch.subarray(0, this.used))) this.draining = new Promise((resolve) => this.out.once('drain', resolve));
    this.batch = Buffer.allocUnsafe(USERS_BATCH_BYTES);
    this.used = 0;
  }

  async close(): Promise<void> {
    this.send();
    this.out.end();
    await this.upload;
  }

  /** Runs `rows` (which adds the users), then closes the object; a failure of `rows` aborts it, and no object appears. */
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

/** A songs snapshot row as ranges of the read that holds it: its track id, and its enrichment as a lake track table takes it. */
interface SongRowBytes extends LakeTrackBytes {
  idStart: number;
  idEnd: number;
}

/**
 * Calls `f` with each row (`SongsSnapshotWriter`) of a group of a songs
 * snapshot, one record reused for every row, its ranges in the object that
 * holds it (the next object is read while one is walked); an object that
 * ends inside a row is an error naming it.
 */
async function forEachSongRow(store: ObjectStore, group: SongsSnapshotGroup, f: (row: SongRowBytes) => void): Promise<void> {
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
  const read = (k: number) => store.readBuffer(songsObjectUrl(group.url, k));
  let next = group.objects > 0 ? read(0) : undefined;
  for (let k = 0; k < group.objects; k++) {
    const bytes = await next!;
    next = k + 1 < group.objects ? read(k + 1) : undefined;
    // Read ahead, awaited at the next turn: an error there must not be left unhandled if this one throws.
    next?.catch(() => undefined);
    const truncated = () => new Error(`${songsObjectUrl(group.url, k)}: not a songs snapshot object (it ends inside a row)`);
    let at = 0;
    while (at < bytes.length) {
      if (at + ROW_HEAD_BYTES > bytes.length) throw truncated();
      const name = at + ROW_HEAD_BYTES + bytes.readUInt32LE(at);
      const artists = name + bytes.readUInt32LE(at + 4);
      const genre = artists + bytes.readUInt32LE(at + 8);
      const end = genre + bytes.readUInt32LE(at + 12);
      if (end > bytes.length) throw truncated();
      row.bytes = bytes;
      row.idStart = at + ROW_HEAD_BYTES;
      row.idEnd = row.nameStart = name;
      row.nameEnd = row.artistsStart = artists;
      row.artistsEnd = row.genresStart = genre;
      row.genresEnd = end;
      row.popularity = bytes.readInt32LE(at + 16);
      row.durationMs = bytes.readInt32LE(at + 20);
      f(row);
      at = end;
    }
  }
}

/**
 * Joins the snapshot's rows (`SongsSnapshotWriter`) to the tracks of `table`
 * (`LakeTrackTable.ofTrackIds`) as they stream past: a track's first row
 * gives its name, artists and numbers, its rows' genres are `;`-joined in
 * order, each once. Nothing is kept of a row but what the table interns (a
 * long-tail chunk joins hundreds of thousands of tracks: holding their rows
 * until asked was about 30 MB of a transform's peak and a copy of each).
 */
async function joinSongRows(store: ObjectStore, group: SongsSnapshotGroup, table: LakeTrackTable): Promise<void> {
  /** The genre fields of the snapshot (a few hundred), and those of each track seen in more than one row so far (one in seven). */
  const genreFields = new StringPool();
  const genresOf = new Map<number, number[]>();
  await forEachSongRow(store, group, (row) => {
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

/** Of `users`, the ones the snapshots (`UsersSnapshotWriter`, one a shard) know. */
export async function readKnownUsers(store: ObjectStore, urls: readonly string[], users: UserIdSet): Promise<UserIdSet> {
  const known = new UserIdSet();
  for (const url of urls) {
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
  }
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
  snapshots: CatalogueSnapshots,
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
  // A track's rows are all in one shard (its id's), so each shard's group is joined on its own.
  const joinSongs = async () => {
    for (const group of snapshots.songs) await joinSongRows(store, group, tracks);
  };
  const [, users] = await Promise.all([joinSongs(), readKnownUsers(store, snapshots.usersUrls, wantedUsers)]);
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
export async function readChunkCatalogue(store: ObjectStore, keysUrl: string, snapshots: CatalogueSnapshots): Promise<KeysCatalogue> {
  const keys = await readChunkKeys(store, keysUrl);
  return readKeysCatalogue(store, snapshots, keys.trackIdBytes, keys.userIds);
}

/** The run's catalogue snapshots (SPEC 2.2, 2.3): only the users and songs its events name. */
export const CATALOGUE_SNAPSHOTS: Record<CatalogueTable, RunArtifact> = {
  songs: {
    path: 'tmp/run=<run>/catalogue/songs/shard=<s>/group=<g>/<k>.bin',
    format:
      "one binary row per catalogue row of a track of the shard that the group's keys name: u32 byte lengths of id, name, artists, genre; i32 popularity, i32 duration ms; then those four UTF-8 strings (artists ;-joined); objects of whole rows",
    version: 4,
    writers: ['catalogue'],
    readers: ['transform', 'recompute'],
  },
  users: {
    path: 'tmp/run=<run>/catalogue/users/shard=<s>.bin',
    format: 'the known user ids of the shard, each once, as little-endian int32',
    version: 2,
    writers: ['catalogue'],
    readers: ['transform', 'recompute'],
  },
};

/** The writer of a shard of the run's songs snapshot; its `url` is what the catalogue job reports. */
export const songsSnapshotOf = (store: ObjectStore, run: RunContext, groups: number, shard: CatalogueShard) =>
  new SongsSnapshotWriter(store, LAKE_LAYOUT.catalogueSongs(run.lake, run.runId, shard.index), groups);
/** The writer of a shard of the run's users snapshot. */
export const usersSnapshotOf = (store: ObjectStore, run: RunContext, shard: CatalogueShard) =>
  new UsersSnapshotWriter(store, LAKE_LAYOUT.catalogueUsers(run.lake, run.runId, shard.index));

/** The run's catalogue as its jobs found it: each table's snapshots in shard order, and their counts summed as a run's report has them. */
export interface RunCatalogue {
  songs: SongsSnapshot[];
  usersUrls: string[];
  counts: PlanResult['catalogue'];
}

/**
 * The catalogue jobs' results joined (the job that waited for them calls it once they are all done): an error
 * naming the table when a shard's result is missing, each table's shard quarantines gathered into its one
 * quarantine (`catalogueQuarantineOf`) as a big file's segments are. Undefined when there was no catalogue job.
 */
export async function joinCatalogueShards(store: ObjectStore, run: RunContext, results: readonly CatalogueResult[]): Promise<RunCatalogue | undefined> {
  if (!results.length) return undefined;
  const shardsOf = (table: CatalogueTable) => {
    const shards = results.filter((r) => r.table === table).sort((a, b) => a.shard.index - b.shard.index);
    const count = shards[0]?.shard.count ?? 1;
    if (shards.length !== count || shards.some((r, i) => r.shard.index !== i || r.shard.count !== count)) {
      throw new Error(`catalogue of run ${run.runId} is incomplete: ${shards.length} of ${count} ${table} job(s) found`);
    }
    return shards;
  };
  const users = shardsOf('users');
  const songs = shardsOf('songs');
  await gatherFileQuarantines(
    store,
    run,
    [users, songs].map((shards) => ({
      fileId: shards[0]!.table,
      segments: shards.length,
      urls: shards.flatMap((r) => (r.quarantineUrl ? [r.quarantineUrl] : [])),
    })),
  );
  const cleaned: Record<string, number> = {};
  for (const r of songs) for (const [fix, n] of Object.entries(r.cleaned ?? {})) cleaned[fix] = (cleaned[fix] ?? 0) + n;
  const sum = (shards: readonly CatalogueResult[], f: (r: CatalogueResult) => number) => shards.reduce((n, r) => n + f(r), 0);
  return {
    songs: songs.map((r) => ({ url: r.url, groups: r.groups })),
    usersUrls: users.map((r) => r.url),
    counts: {
      users: sum(users, (r) => r.kept),
      songs: sum(songs, (r) => r.kept),
      rejected: sum([...users, ...songs], (r) => r.rejected),
      cleaned: songs.some((r) => r.cleaned) ? cleaned : undefined,
    },
  };
}

/** What the `list`-th keys (or part) of the run joins: its group of each shard's songs snapshot, and every users snapshot. */
export const catalogueSnapshotsFor = (catalogue: Pick<RunCatalogue, 'songs' | 'usersUrls'>, list: number): CatalogueSnapshots => ({
  songs: catalogue.songs.map((shard) => songsSnapshotGroup(shard, list)),
  usersUrls: catalogue.usersUrls,
});
