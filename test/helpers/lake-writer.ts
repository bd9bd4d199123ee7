import { LakePartWriter, LakeTrackTable, type LakeEvent } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';

/**
 * A part writer fed events as the transformer feeds it: each event's track as
 * an index into a track table, one entry per distinct track id and enrichment.
 */
export class EventWriter {
  private readonly table = new LakeTrackTable();
  /** By track id and enrichment, and by track id alone. */
  private readonly index = new Map<string, number>();
  private readonly firstOfId = new Map<string, number>();
  private readonly writer: LakePartWriter;

  constructor(store: ObjectStore, urlFor: (listenDate: string) => string, bufferRows?: number) {
    this.writer = new LakePartWriter(store, urlFor, this.table, bufferRows);
  }

  add(e: LakeEvent) {
    const key = JSON.stringify([e.trackId, e.trackName, e.artists, e.genres, e.popularity, e.durationMs]);
    let track = this.index.get(key);
    if (track === undefined) {
      const enrichment =
        e.trackName === null
          ? undefined
          : { trackName: e.trackName, artists: e.artists!, genres: e.genres!, popularity: e.popularity!, durationMs: e.durationMs! };
      const first = this.firstOfId.get(e.trackId);
      track = first === undefined ? this.table.add(e.trackId, enrichment) : this.table.addVariant(first, enrichment);
      this.index.set(key, track);
      if (first === undefined) this.firstOfId.set(e.trackId, track);
    }
    return this.writer.add(e.sourceFile, e.userId, track, e.listenTime, e.userKnown);
  }

  close() {
    return this.writer.close();
  }
}
