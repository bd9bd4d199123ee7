import { StringPool, withRoom } from '@musicflow/kpi';
import type { LakeTrack } from './part-writer.ts';

/**
 * A track's enrichment (`LakeTrack`) as ranges of one buffer of UTF-8 (a
 * catalogue snapshot row): what a transform takes from the snapshot without
 * decoding it.
 */
export interface LakeTrackBytes {
  bytes: Uint8Array;
  nameStart: number;
  nameEnd: number;
  artistsStart: number;
  artistsEnd: number;
  /** `;`-joined. */
  genresStart: number;
  genresEnd: number;
  popularity: number;
  durationMs: number;
}

/** The string columns a track gives its events, in the order of LakeTrackTable's value ids. */
export const TRACK_STRING_COLUMNS = ['track_id', 'track_name', 'artists', 'genres'] as const;
/** Value ids per track in `LakeTrackTable.stringIds`. */
export const STRIDE = TRACK_STRING_COLUMNS.length;

/**
 * A chunk's tracks, by the index its events carry (the validator's hand-off
 * index): the id and the enrichment, looked up once per track, not per event.
 * Each string is held per column as UTF-8, so a row group's dictionaries are
 * built from value ids with typed arrays (no Map per value) and encoded once
 * per chunk, and a long-tail chunk's hundreds of thousands of tracks cost
 * their bytes, not an object each. Names, artists and genres are interned
 * (tracks share them); the track ids are a pool of their own, which a
 * transform's table shares with the keys its catalogue join looks rows up in
 * (`ofTrackIds`).
 */
export class LakeTrackTable {
  private count = 0;
  private readonly names: StringPool;
  private readonly artists: StringPool;
  private readonly genres = new StringPool();
  /** The string columns' values, in TRACK_STRING_COLUMNS order. */
  readonly strings: readonly StringPool[];
  /** Track `t`'s value id in string column `c` at `t * STRIDE + c`; -1 for null (a track not in the catalogue). */
  stringIds: Int32Array;
  popularity: Int32Array;
  durationMs: Int32Array;

  constructor(
    private readonly trackIds = new StringPool(),
    tracks = 1 << 8,
  ) {
    this.names = new StringPool(tracks);
    this.artists = new StringPool(tracks >> 2);
    this.strings = [trackIds, this.names, this.artists, this.genres];
    this.stringIds = new Int32Array(Math.max(16, tracks * STRIDE));
    this.popularity = new Int32Array(Math.max(16, tracks));
    this.durationMs = new Int32Array(Math.max(16, tracks));
  }

  /** A table of every id in `trackIds`, track `t` being id `t`, none catalogued yet (`enrich`). */
  static ofTrackIds(trackIds: StringPool): LakeTrackTable {
    const table = new LakeTrackTable(trackIds, trackIds.size);
    for (let t = 0; t < trackIds.size; t++) table.addEntry(t, undefined);
    return table;
  }

  get size(): number {
    return this.count;
  }

  /** Adds a track not in the table yet (undefined: not in the catalogue) and returns its index. */
  add(trackId: string, track: LakeTrack | undefined): number {
    return this.withStrings(this.addEntry(this.trackIds.intern(trackId), track), track);
  }

  /** The track whose id is `trackId`'s UTF-8 bytes `bytes[start, end)` (its first, if it has variants), or -1. */
  indexOf(bytes: Uint8Array, start: number, end: number): number {
    return this.trackIds.find(bytes, start, end);
  }

  /** Gives track `t`, not catalogued yet, its enrichment from UTF-8 bytes (a transform's snapshot rows): no string, no object. */
  enrich(t: number, track: LakeTrackBytes): void {
    const at = t * STRIDE;
    this.stringIds[at + 1] = this.names.internBytes(track.bytes, track.nameStart, track.nameEnd);
    this.stringIds[at + 2] = this.artists.internBytes(track.bytes, track.artistsStart, track.artistsEnd);
    this.setGenres(t, track.bytes, track.genresStart, track.genresEnd);
    this.popularity[t] = track.popularity;
    this.durationMs[t] = track.durationMs;
  }

  /** Sets catalogued track `t`'s `;`-joined genres to `bytes[start, end)`. */
  setGenres(t: number, bytes: Uint8Array, start: number, end: number): void {
    this.stringIds[t * STRIDE + 3] = this.genres.internBytes(bytes, start, end);
  }

  /** Track `t`'s value in string column `c` (TRACK_STRING_COLUMNS) as UTF-8: a view, valid until the column's next string. */
  bytesOf(t: number, c: number): Uint8Array {
    return this.strings[c]!.bytesOf(this.stringIds[t * STRIDE + c]!);
  }

  /** Track `t`'s enrichment as text; undefined when it is not in the catalogue. */
  trackOf(t: number): LakeTrack | undefined {
    if (t < 0 || !this.catalogued(t)) return undefined;
    const at = t * STRIDE;
    return {
      trackName: this.names.text(this.stringIds[at + 1]!),
      artists: this.artists.text(this.stringIds[at + 2]!),
      genres: this.genres.text(this.stringIds[at + 3]!),
      popularity: this.popularity[t]!,
      durationMs: this.durationMs[t]!,
    };
  }

  /** Adds another enrichment of track `t`'s id (rows of one track that differ) and returns its index. */
  addVariant(t: number, track: LakeTrack | undefined): number {
    return this.withStrings(this.addEntry(this.stringIds[t * STRIDE]!, track), track);
  }

  /** Sets new track `t`'s string values from `track`'s text; returns `t`. */
  private withStrings(t: number, track: LakeTrack | undefined): number {
    if (track) {
      const at = t * STRIDE;
      this.stringIds[at + 1] = this.names.intern(track.trackName);
      this.stringIds[at + 2] = this.artists.intern(track.artists);
      this.stringIds[at + 3] = this.genres.intern(track.genres);
    }
    return t;
  }

  /** A new track: its id's value and its numbers; its other strings' values -1 (not in the catalogue) until set. */
  private addEntry(idValue: number, numbers: { popularity: number; durationMs: number } | undefined): number {
    const t = this.count++;
    if ((t + 1) * STRIDE > this.stringIds.length) this.stringIds = withRoom(this.stringIds, (t + 1) * STRIDE);
    if (t >= this.popularity.length) {
      this.popularity = withRoom(this.popularity, t + 1);
      this.durationMs = withRoom(this.durationMs, t + 1);
    }
    const at = t * STRIDE;
    this.stringIds[at] = idValue;
    this.stringIds[at + 1] = -1;
    this.stringIds[at + 2] = -1;
    this.stringIds[at + 3] = -1;
    this.popularity[t] = numbers?.popularity ?? 0;
    this.durationMs[t] = numbers?.durationMs ?? 0;
    return t;
  }

  /** Whether track `t` is in the catalogue (has an enrichment). */
  catalogued(t: number): boolean {
    return this.stringIds[t * STRIDE + 1]! >= 0;
  }
}
