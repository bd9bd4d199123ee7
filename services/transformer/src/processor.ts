import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { validateResultSchema, type ChunkJob, type RunContext, type TransformResult } from '@musicflow/contracts';
import { readCleanEvents, readSongsSnapshot, readUsersSnapshot, type Song } from '@musicflow/ingest';
import { LAKE_LAYOUT, LakePartWriter, lakeTrackOf, partFileName, type LakeTrack } from '@musicflow/lake';
import { joinUrl, type ObjectStore } from '@musicflow/storage';
import type { ServiceContext } from '@musicflow/flow';

interface Catalogue {
  songs: Map<string, Song>;
  users: Set<number>;
}

/**
 * Cleans and enriches one validated chunk: each event gets its track's name,
 * artists, genres, popularity and duration (null for tracks not in the
 * catalogue) and whether its user is known, and lands as Parquet, one part per
 * listen date, staged under the run's temporaries.
 */
export function createTransformProcessor({ store }: ServiceContext) {
  // The catalogue snapshot is read once per run per process, not once per chunk.
  const catalogues = new Map<string, Promise<Catalogue>>();
  const catalogueOf = async (run: RunContext): Promise<Catalogue> => {
    let loading = catalogues.get(run.runId);
    if (!loading) {
      loading = loadCatalogue(store, run);
      loading.catch(() => catalogues.delete(run.runId));
      catalogues.set(run.runId, loading);
      while (catalogues.size > 2) catalogues.delete(catalogues.keys().next().value!);
    }
    return loading;
  };

  return async (job: Job, { run, chunk }: ChunkJob, log: Logger): Promise<TransformResult> => {
    const startedAt = Date.now();
    const [validated] = Object.values(await job.getChildrenValues());
    const validation = validateResultSchema.parse(validated);
    if (validation.parseError) return { startedAt, finishedAt: Date.now(), validation, parts: [], orphanTracks: 0, orphanUsers: 0 };

    const { songs, users } = await catalogueOf(run);
    const tmp = LAKE_LAYOUT.runTemp(run.lake, run.runId);
    const name = partFileName(chunk.fileId, chunk.index, chunk.count);
    const writer = new LakePartWriter(store, (date) => joinUrl(tmp, 'parts', `listen_date=${date}`, name));
    // The catalogue join runs once per distinct track of the chunk, not once per event.
    const trackInfo: (LakeTrack | undefined)[] = [];
    let rows = 0;
    let orphanTracks = 0;
    let orphanUsers = 0;
    try {
      for await (const block of readCleanEvents(await store.read(validation.validUrl), validation.validUrl)) {
        for (let t = block.firstNewTrack; t < block.tracks.length; t++) trackInfo.push(lakeTrackOf(songs.get(block.tracks[t]!)));
        const { userIds, trackIndexes, listenTimes, tracks } = block;
        for (let i = 0; i < block.rows; i++) {
          const userId = userIds[i]!;
          const t = trackIndexes[i]!;
          const track = trackInfo[t];
          const userKnown = users.has(userId);
          if (!track) orphanTracks++;
          if (!userKnown) orphanUsers++;
          const flushing = writer.add(userId, tracks[t]!, listenTimes[i]!, userKnown, track);
          if (flushing) await flushing;
        }
        rows += block.rows;
        await job.updateProgress({ rows, percent: Math.min(99, (100 * rows) / Math.max(1, validation.rowsValid)) });
      }
    } catch (err) {
      writer.abort(err as Error);
      throw err;
    }
    const parts = await writer.close();
    log.info({ rows, parts: parts.length, orphanTracks, orphanUsers }, 'chunk transformed');
    await job.updateProgress({ rows, percent: 100 });
    return { startedAt, finishedAt: Date.now(), validation, parts, orphanTracks, orphanUsers };
  };
}

async function loadCatalogue(store: ObjectStore, run: RunContext): Promise<Catalogue> {
  const [songs, users] = await Promise.all([
    readSongsSnapshot(store, LAKE_LAYOUT.catalogueSongs(run.lake, run.runId)),
    readUsersSnapshot(store, LAKE_LAYOUT.catalogueUsers(run.lake, run.runId)),
  ]);
  return { songs, users };
}
