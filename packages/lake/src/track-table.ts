import { StringPool, Utf8Column, withRoom } from '@musicflow/kpi';
import type { LakeTrack } from './part-writer.ts';

/**
 * A track's enrichment (`LakeTrack`) as ranges of UTF-8 bytes: what a
 * transform takes from the catalogue snapshot without decoding it, one
 * reused for every track (`lakeTrackBytes`). Name and artists are in
 * `bytes`, the `;`-joined genres in `genres`.
 */
export interface LakeTrackBytes {
  bytes: Uint8Array;
  nameStart: number;
  nameEnd: number;
  artistsStart: number;
  artistsEnd: number;
  genres: Uint8Array;
  genresStart: number;
  genresEnd: number;
  popularity: number;
  durationMs: number;
}

const NONE = new Uint8Array(0);

export const lakeTrackBytes = (): LakeTrackBytes => ({
  bytes: NONE,
  nameStart: 0,
  nameEnd: 0,
  artistsStart: 0,
  artistsEnd: 0,
  genres: NONE,
  genresStart: 0,
  genresEnd: 0,
  popularity: 0,
  durationMs: 0,
});

const utf8 = new TextEncoder();

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
 * (tracks share them); a track id is added once (its variants share its
 * value), so it is appended, not looked up.
 */
export class LakeTrackTable {
  private count = 0;
  private readonly trackIds = new Utf8Column();
  private readonly names = new StringPool();
  private readonly artists = new StringPool();
  private readonly genres = new StringPool();
  /** The string columns' values, in TRACK_STRING_COLUMNS order. */
  readonly strings: readonly (Utf8Column | StringPool)[] = [this.trackIds, this.names, this.artists, this.genres];
  /** Track `t`'s value id in string column `c` at `t * STRIDE + c`; -1 for null (a track not in the catalogue). */
  stringIds = new Int32Array(1 << 10);
  popularity = new Int32Array(1 << 8);
  durationMs = new Int32Array(1 << 8);

  get size(): number {
    return this.count;
  }

  /** Adds a track not in the table yet (undefined: not in the catalogue) and returns its index. */
  add(trackId: string, track: LakeTrack | undefined): number {
    const id = utf8.encode(trackId);
    return this.withStrings(this.addEntry(this.trackIds.add(id, 0, id.length), track), track);
  }

  /** `add` from UTF-8 bytes (a transform's catalogue snapshot rows): no string and no object per track. */
  addBytes(trackId: Uint8Array, track: LakeTrackBytes | undefined): number {
    const t = this.addEntry(this.trackIds.add(trackId, 0, trackId.length), track);
    if (track) {
      const at = t * STRIDE;
      this.stringIds[at + 1] = this.names.internBytes(track.bytes, track.nameStart, track.nameEnd);
      this.stringIds[at + 2] = this.artists.internBytes(track.bytes, track.artistsStart, track.artistsEnd);
      this.stringIds[at + 3] = this.genres.internBytes(track.genres, track.genresStart, track.genresEnd);
    }
    return t;
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
