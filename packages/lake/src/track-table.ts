import { StringPool, withRoom } from '@musicflow/kpi';
import type { LakeTrack } from './part-writer.ts';

/** A track's enrichment (`LakeTrack`) as UTF-8 bytes: what a transform takes from the catalogue snapshot without decoding it. */
export interface LakeTrackBytes {
  name: Uint8Array;
  artists: Uint8Array;
  genres: Uint8Array;
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
 * Each string is interned per column into a UTF-8 pool, so a row group's
 * dictionaries are built from these ids with typed arrays (no Map per value)
 * and encoded once per chunk, and a long-tail chunk's hundreds of thousands
 * of tracks cost their bytes, not an object each.
 */
export class LakeTrackTable {
  private count = 0;
  readonly strings = TRACK_STRING_COLUMNS.map(() => new StringPool());
  /** Track `t`'s value id in string column `c` at `t * STRIDE + c`; -1 for null (a track not in the catalogue). */
  stringIds = new Int32Array(1 << 10);
  popularity = new Int32Array(1 << 8);
  durationMs = new Int32Array(1 << 8);

  get size(): number {
    return this.count;
  }

  /** Adds a track not in the table yet (undefined: not in the catalogue) and returns its index. */
  add(trackId: string, track: LakeTrack | undefined): number {
    return this.addEntry(this.pools[0].intern(trackId), track && this.internTrack(track), track);
  }

  /** `add` from UTF-8 bytes (a transform's catalogue snapshot rows): no string per track. */
  addBytes(trackId: Uint8Array, track: LakeTrackBytes | undefined): number {
    const [ids, names, artists, genres] = this.pools;
    const intern = (pool: StringPool, bytes: Uint8Array) => pool.internBytes(bytes, 0, bytes.length);
    return this.addEntry(intern(ids, trackId), track && [intern(names, track.name), intern(artists, track.artists), intern(genres, track.genres)], track);
  }

  /** Adds another enrichment of track `t`'s id (rows of one track that differ) and returns its index. */
  addVariant(t: number, track: LakeTrack | undefined): number {
    return this.addEntry(this.stringIds[t * STRIDE]!, track && this.internTrack(track), track);
  }

  private internTrack(track: LakeTrack): [number, number, number] {
    const [, names, artists, genres] = this.pools;
    return [names.intern(track.trackName), artists.intern(track.artists), genres.intern(track.genres)];
  }

  private get pools(): [StringPool, StringPool, StringPool, StringPool] {
    return this.strings as [StringPool, StringPool, StringPool, StringPool];
  }

  /** A new track: its id's value, its name's, artists' and genres' values (undefined: not in the catalogue), its numbers. */
  private addEntry(
    idValue: number,
    values: readonly [number, number, number] | undefined,
    numbers: { popularity: number; durationMs: number } | undefined,
  ): number {
    const t = this.count++;
    this.stringIds = withRoom(this.stringIds, (t + 1) * STRIDE);
    this.popularity = withRoom(this.popularity, t + 1);
    this.durationMs = withRoom(this.durationMs, t + 1);
    const at = t * STRIDE;
    this.stringIds[at] = idValue;
    this.stringIds[at + 1] = values ? values[0] : -1;
    this.stringIds[at + 2] = values ? values[1] : -1;
    this.stringIds[at + 3] = values ? values[2] : -1;
    this.popularity[t] = numbers?.popularity ?? 0;
    this.durationMs[t] = numbers?.durationMs ?? 0;
    return t;
  }

  /** Whether track `t` is in the catalogue (has an enrichment). */
  catalogued(t: number): boolean {
    return this.stringIds[t * STRIDE + 1]! >= 0;
  }
}
