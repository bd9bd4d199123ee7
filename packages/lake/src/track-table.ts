import type { LakeTrack } from './part-writer.ts';

const utf8 = new TextEncoder();

/** A growable typed column. */
export function grown<T extends Int32Array | Float64Array | Uint8Array>(array: T, need: number): T {
  if (need <= array.length) return array;
  const next = new (array.constructor as new (n: number) => T)(Math.max(need, array.length * 2));
  next.set(array);
  return next;
}

/**
 * The distinct values of one string column, each encoded to UTF-8 once, end
 * to end in one buffer (an array per value would cost more than its bytes).
 */
export class StringValues {
  private readonly ids = new Map<string, number>();
  /** Value `v` is `bytes[starts[v] .. starts[v + 1])`. */
  bytes = new Uint8Array(1 << 12);
  starts = new Int32Array(1 << 8);
  count = 0;

  /** The id of `value`, added if new. */
  idOf(value: string): number {
    const id = this.ids.get(value);
    if (id !== undefined) return id;
    this.ids.set(value, this.count);
    return this.append(value);
  }

  /** Adds `value` as a new id, not looked up: for values known to be new. */
  append(value: string): number {
    const id = this.count++;
    const start = this.starts[id]!;
    // A UTF-8 byte sequence is at most 3 bytes per UTF-16 code unit.
    this.bytes = grown(this.bytes, start + value.length * 3);
    const { written } = utf8.encodeInto(value, this.bytes.subarray(start));
    this.starts = grown(this.starts, id + 2);
    this.starts[id + 1] = start + written;
    return id;
  }
}

/** The string columns a track gives its events, in the order of LakeTrackTable's value ids. */
export const TRACK_STRING_COLUMNS = ['track_id', 'track_name', 'artists', 'genres'] as const;
/** Value ids per track in `LakeTrackTable.stringIds`. */
export const STRIDE = TRACK_STRING_COLUMNS.length;

/**
 * A chunk's tracks, by the index its events carry (the validator's hand-off
 * index): the id and the enrichment, looked up once per track, not per event.
 * Each enrichment string is interned per column (track ids are distinct
 * already), so a row group's dictionaries are built from these ids with typed
 * arrays (no Map per value), and encoded once per chunk.
 */
export class LakeTrackTable {
  private readonly tracks: (LakeTrack | undefined)[] = [];
  readonly strings = TRACK_STRING_COLUMNS.map(() => new StringValues());
  /** Track `t`'s value id in string column `c` at `t * STRIDE + c`; -1 for null (a track not in the catalogue). */
  stringIds = new Int32Array(1 << 10);
  popularity = new Int32Array(1 << 8);
  durationMs = new Int32Array(1 << 8);

  get size(): number {
    return this.tracks.length;
  }

  /** Adds a track not in the table yet (undefined: not in the catalogue) and returns its index. */
  add(trackId: string, track: LakeTrack | undefined): number {
    return this.addEntry(this.strings[0]!.append(trackId), track);
  }

  /** Adds another enrichment of track `t`'s id (rows of one track that differ) and returns its index. */
  addVariant(t: number, track: LakeTrack | undefined): number {
    return this.addEntry(this.stringIds[t * STRIDE]!, track);
  }

  private addEntry(idValue: number, track: LakeTrack | undefined): number {
    const t = this.tracks.push(track) - 1;
    this.stringIds = grown(this.stringIds, (t + 1) * STRIDE);
    this.popularity = grown(this.popularity, t + 1);
    this.durationMs = grown(this.durationMs, t + 1);
    const [, names, artists, genres] = this.strings as [StringValues, StringValues, StringValues, StringValues];
    const at = t * STRIDE;
    this.stringIds[at] = idValue;
    this.stringIds[at + 1] = track ? names.idOf(track.trackName) : -1;
    this.stringIds[at + 2] = track ? artists.idOf(track.artists) : -1;
    this.stringIds[at + 3] = track ? genres.idOf(track.genres) : -1;
    this.popularity[t] = track?.popularity ?? 0;
    this.durationMs[t] = track?.durationMs ?? 0;
    return t;
  }

  /** Track `t`'s enrichment, undefined for a track not in the catalogue. */
  track(t: number): LakeTrack | undefined {
    return this.tracks[t];
  }
}
