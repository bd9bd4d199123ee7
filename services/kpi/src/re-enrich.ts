import type { Logger } from '@musicflow/config';
import type { RunContext } from '@musicflow/contracts';
import { readSongsSnapshot, readUsersSnapshot } from '@musicflow/ingest';
import { LAKE_LAYOUT, LakePartWriter, lakeTrackOf, openLakePart, type LakeTrack } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';

/**
 * Rewrites every part in `partUrls` joined with the run's catalogue snapshot
 * (the current users and songs): plays of tracks catalogued since their
 * events arrived get their genres, artists and numbers. Each part is written
 * whole under the run's temporaries, then moved over the original under the
 * same name, so a part is always either the old or the new one, and a retry
 * rewrites it again to the same content.
 */
export async function reEnrichDates(
  store: ObjectStore,
  run: RunContext,
  partUrls: readonly string[],
  catalogue: { songsUrl: string; usersUrl: string },
  log: Logger,
): Promise<{ parts: number; rows: number }> {
  const [songs, users] = await Promise.all([readSongsSnapshot(store, catalogue.songsUrl), readUsersSnapshot(store, catalogue.usersUrl)]);
  const tracks = new Map<string, LakeTrack | undefined>();
  const trackOf = (trackId: string) => {
    if (!tracks.has(trackId)) tracks.set(trackId, lakeTrackOf(songs.get(trackId)));
    return tracks.get(trackId);
  };
  let parts = 0;
  let rows = 0;
  for (const url of partUrls) {
    const reader = await openLakePart(store, url);
    if (reader.rows === 0) continue;
    const staged = LAKE_LAYOUT.reEnrichedPart(run.lake, run.runId, url);
    const writer = new LakePartWriter(store, () => staged);
    try {
      for await (const group of reader.columns(['user_id', 'track_id', 'listen_time'])) {
        for (let i = 0; i < group.rows; i++) {
          const userId = group.user_id[i]!;
          const trackId = group.track_id[i]!;
          const flushing = writer.add(userId, trackId, group.listen_time[i]!, users.has(userId), trackOf(trackId));
          if (flushing) await flushing;
        }
      }
    } catch (err) {
      writer.abort(err as Error);
      throw err;
    }
    await writer.close();
    await store.move(staged, url);
    parts++;
    rows += reader.rows;
  }
  log.info({ parts, rows }, 're-enriched lake parts with the current catalogue');
  return { parts, rows };
}
