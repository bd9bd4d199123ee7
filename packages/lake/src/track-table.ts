import { StringPool, withRoom } from '@musicflow/kpi';
import type { LakeTrack } from './part-writer.ts';

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
    return this.addEntry(this.strings[0]!.intern(trackId), track);
  }

  /** Adds another enrichment of track `t`'s id (rows of one track that differ) and returns its index. */
  addVariant(t: number, track: LakeTrack | undefined): number {
    return this.addEntry(this.stringIds[t * STRIDE]!, track);
  }

  private addEntry(idValue: number, track: LakeTrack | undefined): number {
    const t = this.count++;
    this.stringIds = withRoom(this.stringIds, (t + 1) * STRIDE);
    this.popularity = withRoom(this.popularity, t + 1);
    this.durationMs = withRoom(this.durationMs, t + 1);
    const [, names, artists, genres] = this.strings as [StringPool, StringPool, StringPool, StringPool];
    const at = t * STRIDE;
    this.stringIds[at] = idValue;
    this.stringIds[at + 1] = track ? names.intern(track.trackName) : -1;
    this.stringIds[at + 2] = track ? artists.intern(track.artists) : -1;
    this.stringIds[at + 3] = track ? genres.intern(track.genres) : -1;
    this.popularity[t] = track?.popularity ?? 0;
    this.durationMs[t] = track?.durationMs ?? 0;
    return t;
  }

  /** Whether track `t` is in the catalogue (has an enrichment). */
  catalogued(t: number): boolean {
    return this.stringIds[t * STRIDE + 1]! >= 0;
  }
}
