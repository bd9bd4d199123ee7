import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import type { LakePart, SegmentOutcome, TransformJob, TransformResult } from '@musicflow/contracts';
import { fileRejectionReasons, segmentRejection } from '@musicflow/ingest';
import {
  openCleanEvents,
  packPartsWriter,
  readChunkCatalogue,
  readSegmentValidations,
  segmentPartsWriter,
  writePackFiles,
  writeSegmentOutcomes,
} from '@musicflow/lake';
import { WritesInFlight } from '@musicflow/storage';
import { CancelWatch, RowProgress, type ServiceContext } from '@musicflow/flow';

/** Segments whose parts are still being uploaded while the next one is read: small files are mostly waiting on the store. */
const CLOSES_IN_FLIGHT = 8;

/**
 * Cleans and enriches one validated chunk: each event gets its track's name,
 * artists, genres, popularity and duration (null for tracks not in the
 * catalogue) and whether its user is known, and lands as Parquet, one part
 * per listen date of each segment (a big file's range), or of the whole chunk
 * when it packs small files, staged under the run's temporaries.
 */
export function createTransformProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, { run, validation, catalogue }: TransformJob, log: Logger): Promise<TransformResult> => {
    const startedAt = Date.now();
    // Only the chunk's tracks and users: a transform holds what its chunk plays, not the run's catalogue.
    // The table's indexes are the hand-off's track indexes, which number the chunk's keys: the join ran once per distinct
    // track of the chunk, not once per event.
    const { tracks: trackTable, users } = await readChunkCatalogue(store, validation.keysUrl, catalogue);
    const validations = await readSegmentValidations(store, validation.validationsUrl);
    const rowsValid = validations.reduce((n, s) => n + s.rowsValid, 0);
    const events = await openCleanEvents(store, validation.validUrl);
    const closing = new WritesInFlight(CLOSES_IN_FLIGHT);
    const segments: SegmentOutcome[] = [];
    let packParts: LakePart[] | undefined;
    // Small files packed into one chunk (whole files, one segment each) share one part per date.
    const pack = validations.length > 1 && validations.every((s) => s.count === 1);
    const packWriter = pack ? packPartsWriter(store, run, validation.chunkId, trackTable) : undefined;
    const progress = new RowProgress(job, new CancelWatch(queues, run.runId));
    let rows = 0;
    try {
      for (const segment of validations) {
        // A segment that cannot be parsed (or breaks a bound) rejects its file: its events are read past, not written. A packed
        // file is decided here already (it is whole), so a pack holds only files the publish step accepts.
        const written = pack ? fileRejectionReasons([segment], config.REJECT_THRESHOLD).length === 0 : !segmentRejection(segment);
        const writer = !written ? undefined : (packWriter ?? segmentPartsWriter(store, run, segment, trackTable));
        let orphanTracks = 0;
        let orphanUsers = 0;
        try {
          for (let left = segment.events; left > 0;) {
            const taken = events.piece(left, segment.events, segment.fileUrl);
            const { block, start, end } = 'then' in taken ? await taken : taken;
            if (block.tracks > trackTable.size)
              throw new Error(`${validation.validUrl}: a block names ${block.tracks} tracks, its chunk's keys (${validation.keysUrl}) ${trackTable.size}`);
            if (writer) {
              const { userIds, trackIndexes, listenTimes } = block;
              for (let i = start; i < end; i++) {
                const userId = userIds[i]!;
                const t = trackIndexes[i]!;
                const userKnown = users.has(userId);
                if (!trackTable.catalogued(t)) orphanTracks++;
                if (!userKnown) orphanUsers++;
                const flushing = writer.add(segment.fileId, userId, t, listenTimes[i]!, userKnown);
                if (flushing) await flushing;
              }
              rows += end - start;
            }
            left -= end - start;
            const reporting = progress.report(rows, (100 * rows) / Math.max(1, rowsValid));
            if (reporting) await reporting;
          }
        } catch (err) {
          writer?.abort(err as Error);
          throw err;
        }
        const outcome: SegmentOutcome = { validation: segment, parts: [], orphanTracks, orphanUsers };
        segments.push(outcome);
        if (writer && !pack) await closing.add(writer.close().then((parts) => (outcome.parts = parts)));
      }
      packParts = await packWriter?.close();
    } catch (err) {
      packWriter?.abort(err as Error);
      throw err;
    } finally {
      await events.close();
    }
    await closing.drain();
    // A pack's files are whole: decided here, so the commit appends them to the run's file list as they are.
    const outcomes = packWriter
      ? { pack: { ...(await writePackFiles(store, run, validation.chunkId, segments, config.REJECT_THRESHOLD)), parts: packParts! } }
      : { outcomesUrl: await writeSegmentOutcomes(store, run, validation.chunkId, segments) };
    const parts = packParts?.length ?? segments.reduce((n, s) => n + s.parts.length, 0);
    log.info({ rows, segments: segments.length, parts }, 'chunk transformed');
    await progress.done(rows);
    return {
      kind: 'transform',
      startedAt,
      finishedAt: Date.now(),
      validation: { startedAt: validation.startedAt, finishedAt: validation.finishedAt },
      chunkId: validation.chunkId,
      ...outcomes,
      segments: segments.length,
    };
  };
}
