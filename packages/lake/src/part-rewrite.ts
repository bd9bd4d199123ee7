import type { ObjectStore } from '@musicflow/storage';
import { openLakePart, type LakeColumns } from './part-reader.ts';
import { LakePartWriter, type LakeTrack } from './part-writer.ts';
import { LakeTrackTable } from './track-table.ts';

/** A new catalogue for the rows a part keeps: plays of tracks catalogued since get their enrichment. */
export interface PartEnrichment {
  trackOf: (trackId: string) => LakeTrack | undefined;
  userKnown: (userId: number) => boolean;
}

/**
 * Rewrites the lake part at `url` without the rows of the source files in
 * `drop`, and with `enrich`'s catalogue if given. The part is written whole
 * at `stagedUrl`, then moved over the original under the same name (or the
 * original deleted when no row is left), so a reader sees the old part or the
 * new one, and doing it again gives the same part.
 */
export async function rewritePart(
  store: ObjectStore,
  url: string,
  stagedUrl: string,
  { drop, enrich }: { drop?: ReadonlySet<string>; enrich?: PartEnrichment },
): Promise<{ rows: number; kept: number }> {
  const reader = await openLakePart(store, url);
  const files = reader.format.sourceFiles;
  // A part whose rows do not say their file holds one file's rows.
  const ownFile = files[0]!;
  if (!enrich && !files.some((f) => drop?.has(f))) return { rows: reader.rows, kept: reader.rows };
  const table = new LakeTrackTable();
  const writer = new LakePartWriter(store, () => stagedUrl, table);
  // Rows of a track carry the same enrichment (one catalogue per writing): one table entry per track, unless a row differs.
  const tracks = new Map<string, number>();
  // Each entry's enrichment as added, to compare rows with (the table holds it as interned columns).
  const entries: (LakeTrack | undefined)[] = [];
  const addEntry = (t: number, track: LakeTrack | undefined) => {
    entries[t] = track;
    return t;
  };
  let kept = 0;
  try {
    for (let g = 0; g < reader.rowGroups; g++) {
      const group = await reader.readGroup(g);
      for (let i = 0; i < group.rows; i++) {
        const sourceFile = group.source_file?.[i] ?? ownFile;
        if (drop?.has(sourceFile)) continue;
        const userId = group.user_id[i]!;
        const trackId = group.track_id[i]!;
        let track = tracks.get(trackId);
        if (enrich) {
          if (track === undefined) tracks.set(trackId, (track = table.add(trackId, enrich.trackOf(trackId))));
        } else if (track === undefined) {
          const inPart = trackInPart(group, i);
          tracks.set(trackId, (track = addEntry(table.add(trackId, inPart), inPart)));
        } else if (!sameTrack(entries[track], group, i)) {
          const inPart = trackInPart(group, i);
          tracks.set(trackId, (track = addEntry(table.addVariant(track, inPart), inPart)));
        }
        const userKnown = enrich ? enrich.userKnown(userId) : group.user_known[i]!;
        const flushing = writer.add(sourceFile, userId, track, group.listen_time[i]!, userKnown);
        if (flushing) await flushing;
        kept++;
      }
    }
  } catch (err) {
    writer.abort(err as Error);
    throw err;
  }
  await writer.close();
  if (kept > 0) await store.move(stagedUrl, url);
  else await store.delete(url);
  return { rows: reader.rows, kept };
}

type TrackColumns = Pick<LakeColumns, 'track_name' | 'artists' | 'genres' | 'popularity' | 'duration_ms'>;

const sameTrack = (track: LakeTrack | undefined, group: TrackColumns, i: number) =>
  track
    ? track.trackName === group.track_name[i] &&
      track.artists === (group.artists[i] ?? '') &&
      track.genres === (group.genres[i] ?? '') &&
      track.popularity === (group.popularity[i] ?? 0) &&
      track.durationMs === (group.duration_ms[i] ?? 0)
    : group.track_name[i] == null;

function trackInPart(group: TrackColumns, i: number): LakeTrack | undefined {
  const trackName = group.track_name[i];
  if (trackName == null) return undefined;
  return {
    trackName,
    artists: group.artists[i] ?? '',
    genres: group.genres[i] ?? '',
    popularity: group.popularity[i] ?? 0,
    durationMs: group.duration_ms[i] ?? 0,
  };
}
