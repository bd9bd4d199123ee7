import {
  QuarantineWriter,
  readCatalogueSource,
  SONG_COLUMNS,
  SongCatalogueBuilder,
  USER_COLUMNS,
  validateSongRow,
  validateUserRow,
  writeSongsSnapshot,
  writeUsersSnapshot,
} from '@musicflow/ingest';
import { basename, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '@musicflow/lake';
import type { CatalogueTable, RunContext } from '@musicflow/contracts';

export interface TableSnapshot {
  url: string;
  /** Distinct users, or songs (tracks), kept. */
  kept: number;
  rejected: number;
}

const sourceName = (url: string) => (/^postgres/.test(url) ? 'rds' : basename(url));

/**
 * Reads one catalogue table from its source (a CSV object or the RDS table),
 * quarantines rows that break SPEC 2.2 (users) or 2.3 (songs), and writes the
 * table's part of the run's snapshot.
 */
export async function extractCatalogueTable(store: ObjectStore, run: RunContext, table: CatalogueTable): Promise<TableSnapshot> {
  const source = run.sources[table];
  const quarantine = new QuarantineWriter(store, LAKE_LAYOUT.quarantine(run.lake, run.runId, table), sourceName(source));
  let kept: number;
  let url: string;
  if (table === 'users') {
    // Last row wins for a repeated user_id: a Set keeps one entry per id.
    const users = new Set<number>();
    for await (const { values, record, line } of readCatalogueSource(store, source, table, USER_COLUMNS)) {
      const result = validateUserRow(values);
      if ('userId' in result) users.add(result.userId);
      else await quarantine.add(line, 'invalid_' + result.field, result.field, result.value, record);
    }
    url = LAKE_LAYOUT.catalogueUsers(run.lake, run.runId);
    await writeUsersSnapshot(store, url, users);
    kept = users.size;
  } else {
    const songs = new SongCatalogueBuilder();
    for await (const { values, record, line } of readCatalogueSource(store, source, table, SONG_COLUMNS)) {
      const result = validateSongRow(values);
      if ('song' in result) songs.add(result.trackId, result.genre, result.song);
      else await quarantine.add(line, 'invalid_' + result.field, result.field, result.value, record);
    }
    url = LAKE_LAYOUT.catalogueSongs(run.lake, run.runId);
    await writeSongsSnapshot(store, url, songs.values());
    kept = songs.size;
  }
  await quarantine.close();
  return { url, kept, rejected: quarantine.count };
}
