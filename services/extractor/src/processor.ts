import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import {
  catalogueResultSchema,
  type CatalogueJob,
  type CatalogueResult,
  type Chunk,
  type ExtractResult,
  type ExtractRunJob,
  type RejectedFile,
} from '@musicflow/contracts';
import { SourceFormatError } from '@musicflow/ingest';
import { spawnChunkJobs, type ServiceContext } from '@musicflow/flow';
import { extractCatalogueTable } from './catalogue.ts';
import { isStreamFile, planStreamFile } from './streams.ts';

/**
 * The first step of a run, as a parent and its two children on the extract
 * queue: the children snapshot the catalogue, users and songs apart so two
 * workers read them at once; the parent then lists and plans the stream files
 * and adds one validate → transform chain per chunk under the KPI job.
 */
export function createExtractProcessor(ctx: ServiceContext) {
  const extractTable = createCatalogueProcessor(ctx);
  const planStreams = createPlanProcessor(ctx);
  return (job: Job, data: CatalogueJob | ExtractRunJob, log: Logger): Promise<CatalogueResult | ExtractResult> =>
    'table' in data ? extractTable(job, data, log) : planStreams(job, data, log);
}

function createCatalogueProcessor({ store }: ServiceContext) {
  return async (job: Job, { run, table }: CatalogueJob, log: Logger): Promise<CatalogueResult> => {
    const startedAt = Date.now();
    const snapshot = await extractCatalogueTable(store, run, table).catch((err: Error) => {
      // A source that is there but unusable will not get better by retrying.
      throw err instanceof SourceFormatError ? new UnrecoverableError(err.message) : err;
    });
    log.info({ table, kept: snapshot.kept, rejected: snapshot.rejected }, 'catalogue table extracted');
    await job.updateProgress({ percent: 100, rows: snapshot.kept + snapshot.rejected });
    return { startedAt, finishedAt: Date.now(), table, ...snapshot };
  };
}

function createPlanProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, { run }: ExtractRunJob, log: Logger): Promise<ExtractResult> => {
    const failures = Object.values(await job.getIgnoredChildrenFailures());
    if (failures.length) throw new UnrecoverableError(`catalogue: ${failures.join('; ')}`);
    const tables = Object.values(await job.getChildrenValues()).map((v) => catalogueResultSchema.parse(v));
    const users = tables.find((t) => t.table === 'users');
    const songs = tables.find((t) => t.table === 'songs');
    if (!users || !songs) throw new Error(`catalogue of run ${run.runId} is incomplete: ${tables.length} of 2 tables extracted`);

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
      // The stage's time includes its children's.
      startedAt: Math.min(users.startedAt, songs.startedAt),
      finishedAt: Date.now(),
      usersUrl: users.url,
      songsUrl: songs.url,
      users: users.kept,
      songs: songs.kept,
      catalogueRejected: users.rejected + songs.rejected,
      files,
      rejectedFiles,
    };
  };
}
