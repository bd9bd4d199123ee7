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
import type { RunContext } from '@musicflow/contracts';

export interface CatalogueSnapshot {
  usersUrl: string;
  songsUrl: string;
  users: number;
  songs: number;
  rejected: number;
}

const sourceName = (url: string) => (/^postgres/.test(url) ? 'rds' : basename(url));

/**
 * Reads users and songs from their sources (CSV objects or the RDS tables),
 * quarantines rows that break SPEC 2.2/2.3, and writes the run's snapshot.
 */
export async function extractCatalogue(store: ObjectStore, run: RunContext): Promise<CatalogueSnapshot> {
  let rejected = 0;

  const userQuarantine = new QuarantineWriter(store, LAKE_LAYOUT.quarantine(run.lake, run.runId, 'users'), sourceName(run.sources.users));
  // Last row wins for a repeated user_id: a Set keeps one entry per id.
  const users = new Set<number>();
  for await (const { values, record, line } of readCatalogueSource(store, run.sources.users, 'users', USER_COLUMNS)) {
    const result = validateUserRow(values);
    if ('userId' in result) users.add(result.userId);
    else await userQuarantine.add(line, 'invalid_' + result.field, result.field, result.value, record);
  }
  rejected += userQuarantine.count;
  await userQuarantine.close();

  const songQuarantine = new QuarantineWriter(store, LAKE_LAYOUT.quarantine(run.lake, run.runId, 'songs'), sourceName(run.sources.songs));
  const songs = new SongCatalogueBuilder();
  for await (const { values, record, line } of readCatalogueSource(store, run.sources.songs, 'songs', SONG_COLUMNS)) {
    const result = validateSongRow(values);
    if ('song' in result) songs.add(result.trackId, result.genre, result.song);
    else await songQuarantine.add(line, 'invalid_' + result.field, result.field, result.value, record);
  }
  rejected += songQuarantine.count;
  await songQuarantine.close();

  const usersUrl = LAKE_LAYOUT.catalogueUsers(run.lake, run.runId);
  const songsUrl = LAKE_LAYOUT.catalogueSongs(run.lake, run.runId);
  await writeUsersSnapshot(store, usersUrl, users);
  await writeSongsSnapshot(store, songsUrl, songs.values());
  return { usersUrl, songsUrl, users: users.size, songs: songs.size, rejected };
}
