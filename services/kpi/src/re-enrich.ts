import type { Logger } from '@musicflow/config';
import type { CatalogueSnapshots, RunContext } from '@musicflow/contracts';
import { UserIdSet } from '@musicflow/ingest';
import { catalogueSnapshotsFor, openLakePart, readKeysCatalogue, reEnrichPart, type RunCatalogue } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';

/**
 * Rewrites every part in `partUrls` joined with the run's catalogue snapshot
 * (the current users and songs): plays of tracks catalogued since their
 * events arrived get their genres, artists and numbers (`rewritePart`: a part
 * is always either the old or the new one, and a retry rewrites it again to
 * the same content). Each part reads its own group of each shard's songs
 * snapshot (the `i`-th part: `catalogueSnapshotsFor(catalogue, i)`) for its
 * own tracks and users only.
 */
export async function reEnrichDates(
  store: ObjectStore,
  run: RunContext,
  partUrls: readonly string[],
  catalogue: Pick<RunCatalogue, 'songs' | 'usersUrls'>,
  log: Logger,
): Promise<{ parts: number; rows: number }> {
  let parts = 0;
  let rows = 0;
  for (const [i, url] of partUrls.entries()) {
    const { trackOf, users } = await partCatalogue(store, url, catalogueSnapshotsFor(catalogue, i));
    const rewritten = await reEnrichPart(store, run, url, { trackOf, userKnown: (userId: number) => users.has(userId) });
    if (rewritten.rows === 0) continue;
    parts++;
    rows += rewritten.rows;
  }
  log.info({ parts, rows }, 're-enriched lake parts with the current catalogue');
  return { parts, rows };
}

/** The catalogue of one part's tracks and users. */
async function partCatalogue(store: ObjectStore, url: string, snapshots: CatalogueSnapshots) {
  const part = await openLakePart(store, url);
  const trackIds = new Set<string>();
  const users = new UserIdSet();
  for (let g = 0; g < part.rowGroups; g++) {
    const group = await part.readGroup(g, ['track_id', 'user_id']);
    for (const id of Array.from(group.track_id)) trackIds.add(id);
    for (const id of Array.from(group.user_id)) users.add(id);
  }
  return readKeysCatalogue(store, snapshots, Buffer.from([...trackIds].join('\n')), users.values());
}
