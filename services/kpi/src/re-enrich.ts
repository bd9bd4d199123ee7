import type { Logger } from '@musicflow/config';
import type { RunContext } from '@musicflow/contracts';
import { readSongsSnapshot, readUsersSnapshot } from '@musicflow/ingest';
import { LAKE_LAYOUT, lakeTrackOf, rewritePart, type LakeTrack } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';

/**
 * Rewrites every part in `partUrls` joined with the run's catalogue snapshot
 * (the current users and songs): plays of tracks catalogued since their
 * events arrived get their genres, artists and numbers (`rewritePart`: a part
 * is always either the old or the new one, and a retry rewrites it again to
 * the same content).
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
  const enrich = { trackOf, userKnown: (userId: number) => users.has(userId) };
  let parts = 0;
  let rows = 0;
  for (const url of partUrls) {
    const rewritten = await rewritePart(store, url, LAKE_LAYOUT.rewrittenPart(run.lake, run.runId, 're-enrich', url), { enrich });
    if (rewritten.rows === 0) continue;
    parts++;
    rows += rewritten.rows;
  }
  log.info({ parts, rows }, 're-enriched lake parts with the current catalogue');
  return { parts, rows };
}
