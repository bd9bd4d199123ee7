import {
  CatalogueFixCounts,
  QuarantineWriter,
  readCatalogueSource,
  readRunTrackIds,
  readRunUserIds,
  RunTrackKeys,
  RunUserKeys,
  SONG_COLUMNS,
  SongCatalogueBuilder,
  USER_COLUMNS,
  UserIdSet,
  validateSongRow,
  validateUserRow,
  writeSongsSnapshot,
  writeUsersSnapshot,
} from '@musicflow/ingest';
import { basename, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT, openLakePart } from '@musicflow/lake';
import type { CatalogueTable, RunContext } from '@musicflow/contracts';
import { catalogueTarget, type Config } from '@musicflow/config';

export interface TableSnapshot {
  url: string;
  /** Distinct ids the run's events name. */
  wanted: number;
  /** Of those, the users or songs (tracks) the catalogue has. */
  kept: number;
  /** Rows quarantined. */
  rejected: number;
  /** Rows read from the source. */
  rowsRead: number;
  /** Songs: rows whose text was made to fit the warehouse, by `field.fix`. */
  cleaned?: Record<string, number>;
}

/** Where a run's ids are: the chunk keys of an ingest run, the lake parts of a recompute that re-enriches them. */
export interface RunIdSources {
  keysUrls: readonly string[];
  partUrls: readonly string[];
}

async function runTrackIds(store: ObjectStore, { keysUrls, partUrls }: RunIdSources): Promise<Set<string>> {
  const tracks = await readRunTrackIds(store, keysUrls);
  for (const url of partUrls) {
    const part = await openLakePart(store, url);
    for (let g = 0; g < part.rowGroups; g++) for (const id of Array.from((await part.readGroup(g, ['track_id'])).track_id)) tracks.add(id);
  }
  return tracks;
}

async function runUserIds(store: ObjectStore, { keysUrls, partUrls }: RunIdSources): Promise<UserIdSet> {
  const users = await readRunUserIds(store, keysUrls);
  for (const url of partUrls) {
    const part = await openLakePart(store, url);
    for (let g = 0; g < part.rowGroups; g++) for (const id of Array.from((await part.readGroup(g, ['user_id'])).user_id)) users.add(id);
  }
  return users;
}

const sourceName = (url: string) => (/^postgres/.test(url) ? 'rds' : basename(url));

/**
 * One catalogue table for one run: only the rows of the tracks or users the
 * run's clean events name, so memory follows the run, not the catalogue (a
 * CSV source is streamed once; the RDS table is looked up by key in
 * batches). Rows that break SPEC 2.2 (users) or 2.3 (songs) are quarantined;
 * the table's part of the run's snapshot is written for the transformers.
 */
export async function extractCatalogueTable(
  store: ObjectStore,
  config: Config,
  run: RunContext,
  table: CatalogueTable,
  named: RunIdSources,
): Promise<TableSnapshot> {
  const source = run.sources[table];
  const from = /^postgres/.test(source) ? catalogueTarget(config, table, source) : source;
  const quarantine = new QuarantineWriter(store, LAKE_LAYOUT.quarantine(run.lake, run.runId, table), sourceName(source));
  let rowsRead: number;
  let wanted: number;
  let kept: number;
  let url: string;
  let cleaned: Record<string, number> | undefined;
  if (table === 'users') {
    const keys = new RunUserKeys(await runUserIds(store, named));
    wanted = keys.wanted.size;
    // Last row wins for a repeated user_id, and only the id matters to a KPI: a set keeps one entry per id.
    const users = new UserIdSet();
    const rows = readCatalogueSource(store, from, table, USER_COLUMNS, keys);
    for await (const { values, record, line } of rows) {
      if (keys.skips(values.user_id)) continue;
      const result = validateUserRow(values);
      if ('userId' in result) {
        if (keys.wanted.has(result.userId)) users.add(result.userId);
      } else await quarantine.add(line, result.code, result.field, result.value, record);
    }
    rowsRead = rows.rowsRead;
    url = LAKE_LAYOUT.catalogueUsers(run.lake, run.runId);
    await writeUsersSnapshot(store, url, users.values());
    kept = users.size;
  } else {
    const keys = new RunTrackKeys(await runTrackIds(store, named));
    wanted = keys.wanted.size;
    const songs = new SongCatalogueBuilder();
    const fixes = new CatalogueFixCounts();
    const rows = readCatalogueSource(store, from, table, SONG_COLUMNS, keys);
    for await (const { values, record, line } of rows) {
      if (keys.skips(values.track_id)) continue;
      const result = validateSongRow(values);
      if ('song' in result) {
        if (!keys.wanted.has(result.trackId)) continue;
        songs.add(result.trackId, result.genre, result.song);
        fixes.add(result.fixes);
      } else await quarantine.add(line, result.code, result.field, result.value, record);
    }
    rowsRead = rows.rowsRead;
    cleaned = fixes.counts;
    url = LAKE_LAYOUT.catalogueSongs(run.lake, run.runId);
    await writeSongsSnapshot(store, url, songs.values());
    kept = songs.size;
  }
  await quarantine.close();
  return { url, wanted, kept, rejected: quarantine.count, rowsRead, cleaned };
}
