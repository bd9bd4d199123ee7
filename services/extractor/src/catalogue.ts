import {
  CatalogueFixCounts,
  inShard,
  plainSongRow,
  plainSongScratch,
  plainUserRow,
  readCatalogueSource,
  RunTrackKeys,
  RunUserKeys,
  SONG_COLUMNS,
  USER_COLUMNS,
  UserIdSet,
  validateSongRow,
  validateUserRow,
  type CatalogueRows,
  type RecordBounds,
  type TrackIdList,
} from '@musicflow/ingest';
import { basename, type ObjectStore } from '@musicflow/storage';
import {
  catalogueQuarantineOf,
  openLakePart,
  readChunkKeys,
  readRunUserIds,
  songsSnapshotOf,
  usersSnapshotOf,
  writeSourceHeaders,
  type QuarantineWriter,
} from '@musicflow/lake';
import { TRACK_GROUPS, type CatalogueShard, type CatalogueTable, type RunContext } from '@musicflow/contracts';
import { catalogueTarget, type Config, type PostgresTarget } from '@musicflow/config';
import { runSources, type CancelWatch } from '@musicflow/flow';

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
  /** Songs: objects per snapshot group (`songsSnapshotGroup`). */
  groups?: number[];
  /** The shard's bad rows when the table is looked up in several jobs (`catalogueQuarantineOf`), if any. */
  quarantineUrl?: string;
}

/** Where a run's ids are: the chunk keys of an ingest run, the lake parts of a recompute that re-enriches them. */
export interface RunIdSources {
  keysUrls: readonly string[];
  partUrls: readonly string[];
}

/** How many groups the songs snapshot of these sources has: one per chunk's keys (or part), up to TRACK_GROUPS. */
const snapshotGroups = ({ keysUrls, partUrls }: RunIdSources) => Math.max(1, Math.min(TRACK_GROUPS, keysUrls.length + partUrls.length));

/**
 * The run's track ids as `\n`-separated lists: each chunk's keys, then each part's row groups; the `i`-th
 * source's ids are in snapshot group `i % groups` (`songsSnapshotGroup`).
 */
async function* trackIdLists(store: ObjectStore, sources: RunIdSources): AsyncGenerator<TrackIdList> {
  const groups = snapshotGroups(sources);
  const { keysUrls, partUrls } = sources;
  for (const [i, url] of keysUrls.entries()) yield { ids: (await readChunkKeys(store, url)).trackIdBytes, group: i % groups };
  for (const [i, url] of partUrls.entries()) {
    const part = await openLakePart(store, url);
    const group = (keysUrls.length + i) % groups;
    for (let g = 0; g < part.rowGroups; g++) yield { ids: Buffer.from(Array.from((await part.readGroup(g, ['track_id'])).track_id).join('\n')), group };
  }
}

/** The run's user ids of `shard`. */
async function runUserIds(store: ObjectStore, { keysUrls, partUrls }: RunIdSources, shard: CatalogueShard): Promise<UserIdSet> {
  const users = await readRunUserIds(store, keysUrls, shard);
  for (const url of partUrls) {
    const part = await openLakePart(store, url);
    for (let g = 0; g < part.rowGroups; g++) for (const id of Array.from((await part.readGroup(g, ['user_id'])).user_id)) if (inShard(id, shard)) users.add(id);
  }
  return users;
}

const sourceName = (url: string) => (/^postgres/.test(url) ? 'rds' : basename(url));

/**
 * One shard of a catalogue table for one run: only the rows of the tracks or
 * users of `shard` the run's clean events name (a CSV source is streamed
 * once a job; the RDS table is looked up by key in batches). The kept rows
 * stream into the shard's snapshot as they are read, so the job holds the
 * shard's ids (a fingerprint per track, an int32 per user) and no row. Rows
 * that break SPEC 2.2 (users) or 2.3 (songs) are quarantined, each by one
 * job (`RunTrackKeys.quarantines`).
 */
export async function extractCatalogueTable(
  store: ObjectStore,
  config: Config,
  run: RunContext,
  table: CatalogueTable,
  named: RunIdSources,
  shard: CatalogueShard,
  bounds?: RecordBounds,
  /** Looked at between rows: a job of a cancelled run stops there. */
  cancel?: Pick<CancelWatch, 'check'>,
): Promise<TableSnapshot> {
  const source = runSources(config, run)[table];
  const quarantine = catalogueQuarantineOf(store, run, table, sourceName(source), shard);
  // A database source carries the setting it came from and, when it is the configured one, its password file.
  const from = /^postgres/.test(source) ? catalogueTarget(config, table, source) : source;
  const read: ReadSource = {};
  try {
    const counts =
      table === 'users'
        ? await extractUsers(store, run, from, named, shard, quarantine, read, bounds, cancel)
        : await extractSongs(store, run, from, named, shard, quarantine, read, bounds, cancel);
    const quarantined = await quarantine.close();
    return { ...counts, rejected: quarantine.count, quarantineUrl: shard.count > 1 ? quarantined : undefined };
  } finally {
    // Also when the source is refused (a missing column): the change is what the run's schema drift tells.
    const columns = read.rows?.columns;
    if (columns?.length) await writeSourceHeaders(store, run, { source: table, url: source, headers: [{ columns: [...columns], files: 1, examples: [] }] });
  }
}

/** The source's rows as the table's extraction opened them, for their columns. */
interface ReadSource {
  rows?: CatalogueRows;
}

async function extractUsers(
  store: ObjectStore,
  run: RunContext,
  source: string | PostgresTarget,
  named: RunIdSources,
  shard: CatalogueShard,
  quarantine: QuarantineWriter,
  read: ReadSource,
  bounds?: RecordBounds,
  cancel?: Pick<CancelWatch, 'check'>,
) {
  const keys = new RunUserKeys(await runUserIds(store, named, shard), shard);
  const snapshot = usersSnapshotOf(store, run, shard);
  let kept = 0;
  // Last row wins for a repeated user_id, and only the id matters to a KPI: each user is written once.
  const keep = (userId: number) => {
    if (!keys.wanted.has(userId) || !keys.wanted.mark(userId)) return undefined;
    kept++;
    return snapshot.add(userId);
  };
  const rows = (read.rows = readCatalogueSource(store, source, 'users', USER_COLUMNS, keys, bounds));
  await snapshot.fill(async () => {
    for await (const batch of rows) {
      await cancel?.check();
      for (const row of batch) {
        // A plain row is decided from its bytes (`plainUserRow`); any other by the rules on its text.
        let userId = row.csv ? plainUserRow(row.csv) : 0;
        if (!userId) {
          if (keys.skips(row.values.user_id)) continue;
          const result = validateUserRow(row.values);
          if (!('userId' in result)) {
            if (keys.quarantines(row.values.user_id)) await quarantine.add(row.line, result.code, result.field, result.value, row.record());
            continue;
          }
          userId = result.userId;
        }
        const draining = keep(userId);
        if (draining) await draining;
      }
    }
  });
  return { url: snapshot.url, wanted: keys.wanted.size, kept, rowsRead: rows.rowsRead };
}

async function extractSongs(
  store: ObjectStore,
  run: RunContext,
  source: string | PostgresTarget,
  named: RunIdSources,
  shard: CatalogueShard,
  quarantine: QuarantineWriter,
  read: ReadSource,
  bounds?: RecordBounds,
  cancel?: Pick<CancelWatch, 'check'>,
) {
  const keys = await RunTrackKeys.of(() => trackIdLists(store, named), shard);
  const snapshot = songsSnapshotOf(store, run, snapshotGroups(named), shard);
  const fixes = new CatalogueFixCounts();
  const plain = plainSongScratch();
  let kept = 0;
  const rows = (read.rows = readCatalogueSource(store, source, 'songs', SONG_COLUMNS, keys, bounds));
  await snapshot.fill(async () => {
    for await (const batch of rows) {
      await cancel?.check();
      for (const row of batch) {
        let draining: Promise<void> | undefined;
        // A plain row is decided from its bytes (`plainSongRow`); any other by the rules on its text.
        if (row.csv && plainSongRow(row.csv, plain)) {
          const slot = keys.wanted.find(row.csv.bytes, plain.idStart, plain.idEnd);
          if (slot < 0) continue;
          if (keys.keep(slot)) kept++;
          draining = snapshot.addPlain(row.csv.bytes, plain, keys.wanted.groupsOf(slot));
        } else {
          if (keys.skips(row.values.track_id)) continue;
          const result = validateSongRow(row.values);
          if (!('song' in result)) {
            if (keys.quarantines(row.values.track_id)) await quarantine.add(row.line, result.code, result.field, result.value, row.record());
            continue;
          }
          const slot = keys.slotOf(result.trackId);
          if (slot < 0) continue;
          if (keys.keep(slot)) kept++;
          fixes.add(result.fixes);
          draining = snapshot.add(result.trackId, result.genre, result.song, keys.wanted.groupsOf(slot));
        }
        if (draining) await draining;
      }
    }
  });
  return { ...snapshot.snapshot, wanted: keys.wanted.size, kept, rowsRead: rows.rowsRead, cleaned: fixes.counts };
}
