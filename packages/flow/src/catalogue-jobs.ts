import type { Config } from '@musicflow/config';
import { CATALOGUE_TABLES, jobIds, type CatalogueJob, type CatalogueTable, type RunContext } from '@musicflow/contracts';
import type { ChildJob } from './children.ts';

/** Jobs a table is looked up in at most: past this, a job holds more ids than its setting asks. */
export const MAX_CATALOGUE_SHARDS = 256;

/**
 * How many jobs look up each table: the run's distinct ids (summed over the chunks or parts that name them, an
 * upper bound) over what one job may hold (CATALOGUE_TRACKS_PER_JOB, CATALOGUE_USERS_PER_JOB).
 */
export function catalogueShardCounts(
  config: Pick<Config, 'CATALOGUE_TRACKS_PER_JOB' | 'CATALOGUE_USERS_PER_JOB'>,
  distinct: { tracks: number; users: number },
): Record<CatalogueTable, number> {
  const shards = (ids: number, perJob: number) => Math.min(MAX_CATALOGUE_SHARDS, Math.max(1, Math.ceil(ids / perJob)));
  return { users: shards(distinct.users, config.CATALOGUE_USERS_PER_JOB), songs: shards(distinct.tracks, config.CATALOGUE_TRACKS_PER_JOB) };
}

/** The run's catalogue jobs: one a shard of each table, each looking up the ids of its shard among those `sources` name. */
export function catalogueJobs(
  run: RunContext,
  sources: Pick<CatalogueJob, 'keysUrls' | 'partUrls'>,
  shards: Record<CatalogueTable, number>,
): ChildJob<'catalogue'>[] {
  return CATALOGUE_TABLES.flatMap((table) =>
    Array.from({ length: shards[table] }, (_, index) => {
      const shard = { index, count: shards[table] };
      return { id: jobIds.catalogue(run.runId, table, shard), data: { run, table, ...sources, shard } };
    }),
  );
}
