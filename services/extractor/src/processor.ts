import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import type { Chunk, ExtractResult, RejectedFile, RunContext } from '@musicflow/contracts';
import { SourceFormatError } from '@musicflow/ingest';
import { spawnChunkJobs, type ServiceContext } from '@musicflow/flow';
import { extractCatalogue } from './catalogue.ts';
import { isStreamFile, planStreamFile } from './streams.ts';

/**
 * The first step of a run: snapshot the catalogue, list and plan the stream
 * files, then add one validate → transform chain per chunk under the KPI job.
 */
export function createExtractProcessor(ctx: ServiceContext) {
  const { store, config, queues } = ctx;
  return async (job: Job, { run }: { run: RunContext }, log: Logger): Promise<ExtractResult> => {
    const startedAt = Date.now();
    const catalogue = await extractCatalogue(store, run).catch((err: Error) => {
      // A source that is there but unusable will not get better by retrying.
      throw err instanceof SourceFormatError ? new UnrecoverableError(`catalogue: ${err.message}`) : err;
    });
    log.info({ users: catalogue.users, songs: catalogue.songs, rejected: catalogue.rejected }, 'catalogue extracted');
    await job.updateProgress({ percent: 30, rows: catalogue.users + catalogue.songs });

    const files: ExtractResult['files'] = [];
    const rejectedFiles: RejectedFile[] = [];
    const chunks: Chunk[] = [];
    for await (const file of store.list(run.sources.streams)) {
      if (!isStreamFile(file.url)) continue;
      const plan = await planStreamFile(store, run.sources.streams, file, config.CHUNK_BYTES);
      if ('rejected' in plan) {
        log.warn({ file: file.url, reasons: plan.rejected.reasons }, 'file rejected');
        rejectedFiles.push(plan.rejected);
        files.push({ fileId: '', url: file.url, size: file.size, chunks: 0 });
        continue;
      }
      files.push({ fileId: plan.chunks[0]!.fileId, url: file.url, size: file.size, chunks: plan.chunks.length });
      chunks.push(...plan.chunks);
    }
    log.info({ files: files.length, chunks: chunks.length, rejected: rejectedFiles.length }, 'stream files planned');

    await spawnChunkJobs(config, queues, run, chunks);
    return {
      startedAt,
      finishedAt: Date.now(),
      usersUrl: catalogue.usersUrl,
      songsUrl: catalogue.songsUrl,
      users: catalogue.users,
      songs: catalogue.songs,
      catalogueRejected: catalogue.rejected,
      files,
      rejectedFiles,
    };
  };
}
