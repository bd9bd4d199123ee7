import pMap from 'p-map';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Config, Logger } from '@musicflow/config';
import {
  childResults,
  isStreamFile,
  jobIds,
  type CatalogueJob,
  type CatalogueResult,
  type PlanJob,
  type PlanResult,
  type Chunk,
  type ChunkRef,
  type RejectedFile,
  type RunContext,
} from '@musicflow/contracts';
import { fileBoundsOf, SourceFormatError, UNREADABLE_REASON } from '@musicflow/ingest';
import {
  addChildJobs,
  CancelWatch,
  catalogueJobs,
  catalogueShardCounts,
  enterStep,
  ignoredFailures,
  runSources,
  type ServiceContext,
  type StageProcessors,
} from '@musicflow/flow';
import {
  catalogueSnapshotsFor,
  HeaderTally,
  joinCatalogueShards,
  mergeStreamHeaderTallies,
  plannedOutFilesWriter,
  writeChunkSegments,
  writeStreamHeaderTally,
} from '@musicflow/lake';
import type { ObjectInfo, ObjectStore, SkippedEntry } from '@musicflow/storage';
import { extractCatalogueTable } from './catalogue.ts';
import { ChunkPacker, listStreamFiles, planFromListing, planStreamFile, type PlanBounds, type PlannedFile } from './streams.ts';

/**
 * Stream files scanned at once while planning: the files the plan reads (those over WHOLE_READ_BYTES or cut
 * into several chunks, and `.gz` ones) are mostly waiting on the store.
 */
const PLAN_CONCURRENCY = 32;
/** Files planned before the chunks they close are handed to the validators: what the plan holds of the listing. */
const PLAN_WINDOW = 512;

/** A chunk as its jobs carry it: its segments written to the run's temporaries. */
async function chunkRefOf(store: ObjectStore, run: RunContext, chunk: Chunk): Promise<ChunkRef> {
  const segmentsUrl = await writeChunkSegments(store, run, chunk.chunkId, chunk.segments);
  return { chunkId: chunk.chunkId, segmentsUrl, segments: chunk.segments.length, bytes: chunk.segments.reduce((n, s) => n + s.end - s.start, 0) };
}

/**
 * The extract queue's two kinds of job. `plan` is the run's first job: it
 * plans the stream files into chunks and validates them (its children),
 * then looks up the catalogue for exactly the tracks and users the clean
 * events name (`catalogue` children, users and songs apart so two workers
 * read them at once, and each in several jobs by a hash of the id when the
 * run names more ids than one job may hold), then adds one transform job per
 * chunk under the run's KPI job.
 */
export function createExtractProcessors(ctx: ServiceContext): StageProcessors<'extract'> {
  return { plan: createPlanProcessor(ctx), catalogue: createCatalogueProcessor(ctx) };
}

function createCatalogueProcessor({ store, config, queues }: ServiceContext) {
  // A catalogue CSV is held to the stream files' record bounds: a record past them fails the run, naming it.
  const bounds = fileBoundsOf(config);
  return async (job: Job, { run, table, keysUrls, partUrls, shard }: CatalogueJob, log: Logger): Promise<CatalogueResult> => {
    const startedAt = Date.now();
    const cancel = new CancelWatch(queues, run.runId);
    const snapshot = await extractCatalogueTable(store, config, run, table, { keysUrls, partUrls }, shard, bounds, cancel).catch((err: Error) => {
      // A source that is there but unusable will not get better by retrying.
      throw err instanceof SourceFormatError ? new UnrecoverableError(err.message) : err;
    });
    log.info({ table, shard, wanted: snapshot.wanted, kept: snapshot.kept, rejected: snapshot.rejected }, 'catalogue table extracted');
    await job.updateProgress({ percent: 100, rows: snapshot.rowsRead });
    return {
      kind: 'catalogue',
      startedAt,
      finishedAt: Date.now(),
      table,
      shard,
      url: snapshot.url,
      quarantineUrl: snapshot.quarantineUrl,
      groups: snapshot.groups,
      wanted: snapshot.wanted,
      kept: snapshot.kept,
      rejected: snapshot.rejected,
      cleaned: snapshot.cleaned,
    };
  };
}

/** Why an entry of the streams folder was left out, and what to do about it. */
/** The chunks' keys in the order the catalogue jobs take them, the order that gives each chunk its songs snapshot group. */
const keysInOrder = (validations: readonly { keysUrl: string }[]) => validations.map((v) => v.keysUrl).sort();

function skippedReason(entry: SkippedEntry, links: Config['FILE_LINKS']): string {
  if (entry.kind === 'name_not_utf8')
    return 'name_not_utf8: its name is not valid UTF-8 (its bytes are percent-encoded here), nor is what a folder of that name holds read: rename it to load it';
  if (entry.kind === 'special_file') return 'skipped_special_file: a FIFO, socket or device, not a regular file';
  if (entry.kind === 'unreadable') return UNREADABLE_REASON;
  return links === 'skip'
    ? 'skipped_symlink: a symbolic link, never followed (FILE_LINKS=skip): move the file itself into the folder, or set FILE_LINKS=inside for links to files under it'
    : "skipped_symlink: a symbolic link to a folder, or to a file outside the folder's real path (FILE_LINKS=inside)";
}

function createPlanProcessor(ctx: ServiceContext) {
  const { store, config, queues } = ctx;
  const bounds: PlanBounds = { ...fileBoundsOf(config), maxKeyBytes: config.MAX_FILE_KEY_BYTES };
  /**
   * Lists and plans the stream files, adds one validate job per chunk under
   * the plan job. The pack size is set from the day's size when it has fewer
   * than PACK_SIZED_FILES files (held from the listing until it ends), else
   * it is CHUNK_BYTES and the files are planned as they are listed
   * (`listStreamFiles`): the folder is listed once, and the first chunks are
   * validated while the rest is listed. Files are planned a window at a
   * time. A small file is planned from its listing entry alone (its
   * validator reads its header), so a day of 100k small files costs the plan
   * one listing, not 100k reads. Files the plan rejects go to the
   * planned-out-files artifact as they are found; the headers it read, to its
   * stream-header tally.
   */
  async function planAndValidate(job: Job, data: PlanJob, log: Logger): Promise<PlanJob> {
    const { run } = data;
    const { streams } = runSources(config, run);
    const startedAt = Date.now();
    const only = data.files && new Set(data.files);
    const wanted = (file: ObjectInfo) => isStreamFile(file.url) && (!only || only.has(file.url));
    // What was left out is told, as a rejected file: a link or a name that is not UTF-8 (either may be a folder of
    // stream files), a FIFO, socket or device named as a stream file. Heard while listing, told between windows.
    let skipped: SkippedEntry[] = [];
    const listing = await listStreamFiles(store, streams, {
      links: config.FILE_LINKS,
      wanted,
      skipped: (entry) => skipped.push(entry),
      chunkBytes: config.CHUNK_BYTES,
    });
    const packer = new ChunkPacker(listing.packBytes);

    const plannedOut = plannedOutFilesWriter(store, run);
    const rejectFile = async (rejected: RejectedFile, message: string) => {
      log.warn({ file: rejected.file, reasons: rejected.reasons }, message);
      await plannedOut.add(rejected);
    };
    const tellSkipped = async () => {
      const told = skipped.filter((entry) => entry.kind !== 'special_file' || isStreamFile(entry.url));
      skipped = [];
      for (const entry of told)
        await rejectFile({ file: entry.url, reasons: [skippedReason(entry, config.FILE_LINKS)] }, 'entry of the streams folder skipped');
      return told.length;
    };
    let files = 0;
    let skippedTold = 0;
    let segments = 0;
    let chunks = 0;
    const headers = new HeaderTally();
    const addValidateJobs = async (closed: Chunk[]) => {
      const refs = await pMap(closed, (chunk) => chunkRefOf(store, run, chunk), { concurrency: PLAN_CONCURRENCY });
      await addChildJobs(
        config,
        queues,
        { id: job.id!, kind: 'plan' },
        { kind: 'validate', jobs: refs.map((chunk) => ({ id: jobIds.validate(run.runId, chunk.chunkId), data: { run, chunk } })), onFailure: 'ignore' },
      );
      chunks += closed.length;
    };
    // Files are planned a window at a time, and each window's closed chunks go to the validators at once:
    // on a day of thousands of small files, validation runs while the rest is still being read.
    const planWindow = async (window: ObjectInfo[]) => {
      // Small files are planned from their listing entries; only the others are read, PLAN_CONCURRENCY at once.
      const plans = window.map((file) => planFromListing(streams, file, config.CHUNK_BYTES, bounds));
      const toRead = [...plans.keys()].filter((i) => !plans[i]);
      await pMap(
        toRead,
        async (i) => {
          plans[i] = await planStreamFile(store, streams, window[i]!, config.CHUNK_BYTES, bounds);
        },
        { concurrency: PLAN_CONCURRENCY },
      );
      const closed: Chunk[] = [];
      for (const plan of plans as PlannedFile[]) {
        if ('rejected' in plan) {
          await rejectFile(plan.rejected, 'file rejected');
          if (plan.header) headers.add(plan.header, plan.rejected.file);
          continue;
        }
        const [first] = plan.segments;
        if (first!.header) headers.add(first!.header, first!.fileUrl);
        segments += plan.segments.length;
        for (const segment of plan.segments) closed.push(...packer.add(segment));
      }
      if (closed.length) await addValidateJobs(closed);
      skippedTold += await tellSkipped();
    };
    try {
      let window: ObjectInfo[] = [];
      for await (const file of listing.files) {
        files++;
        window.push(file);
        if (window.length === PLAN_WINDOW) {
          await planWindow(window);
          window = [];
        }
      }
      await planWindow(window);
      const last = packer.finish();
      if (last.length) await addValidateJobs(last);
    } catch (err) {
      plannedOut.abort(err as Error);
      throw err;
    }
    await plannedOut.end();
    const headersUrl = headers.size ? await writeStreamHeaderTally(store, run, 'plan', headers) : undefined;
    log.info({ files, segments, chunks, rejected: plannedOut.count }, 'stream files planned');
    return {
      ...data,
      step: 'validate',
      startedAt,
      plannedOut: { count: plannedOut.count, url: plannedOut.url },
      filesTotal: files + skippedTold,
      headersUrl,
    };
  }

  /** Fails the run, naming each step that failed after its retries (a chunk that cannot be read, a catalogue source). */
  async function checkChildren(job: Job, what: string): Promise<void> {
    const failures = await ignoredFailures(job);
    if (failures.length) throw new UnrecoverableError(`${what}: ${failures.map((f) => f.reason).join('; ')}`);
  }

  /**
   * Once every chunk is validated: the run's stream headers (the plan's and the validators' tallies) for schema
   * drift, and the catalogue jobs for the ids the clean events name (none when there is no chunk).
   */
  async function lookUpCatalogue(job: Job, token: string | undefined, data: PlanJob, log: Logger): Promise<PlanJob> {
    await checkChildren(job, 'validation');
    const validations = childResults(await job.getChildrenValues(), 'validate').sort((a, b) => a.chunkId.localeCompare(b.chunkId));
    const tallies = [data.headersUrl, ...validations.map((v) => v.headersUrl)].filter((url): url is string => url !== undefined);
    await mergeStreamHeaderTallies(store, data.run, tallies);
    const keysUrls = keysInOrder(validations);
    if (!keysUrls.length) return { ...data, step: 'catalogue' };
    await job.updateProgress({ percent: 60, rows: 0 });
    const distinct = { tracks: 0, users: 0 };
    for (const v of validations) {
      distinct.tracks += v.distinct.tracks;
      distinct.users += v.distinct.users;
    }
    const shards = catalogueShardCounts(config, distinct);
    if (shards.songs > 1 || shards.users > 1) log.info({ ...distinct, shards }, 'catalogue looked up in shards');
    return enterStep(ctx, job, token, { ...data, step: 'catalogue' } satisfies PlanJob, {
      kind: 'catalogue',
      jobs: catalogueJobs(data.run, { keysUrls, partUrls: [] }, shards),
      onFailure: 'ignore',
    });
  }

  /** Once the catalogue is looked up: one transform job per chunk under the run's KPI job, and the plan's result. */
  async function transformChunks(job: Job, data: PlanJob): Promise<PlanResult> {
    const { run } = data;
    await checkChildren(job, 'catalogue');
    const values = await job.getChildrenValues();
    const validations = childResults(values, 'validate');
    const catalogue = await joinCatalogueShards(store, run, childResults(values, 'catalogue'));
    if (validations.length && !catalogue) throw new Error(`catalogue of run ${run.runId} is incomplete: no catalogue job's result found`);
    if (catalogue) {
      // The chunks' keys in the order the catalogue jobs took them: it gives each its songs snapshot group.
      const keysOrder = new Map(keysInOrder(validations).map((url, i) => [url, i]));
      await addChildJobs(
        config,
        queues,
        { id: jobIds.kpi(run.runId), kind: 'kpi' },
        {
          kind: 'transform',
          jobs: validations.map((validation) => ({
            id: jobIds.transform(run.runId, validation.chunkId),
            data: { run, validation, catalogue: catalogueSnapshotsFor(catalogue, keysOrder.get(validation.keysUrl)!) },
          })),
          onFailure: 'ignore',
        },
      );
    }
    await job.updateProgress({ percent: 100, rows: 0 });
    return {
      kind: 'plan',
      // The stage's time includes its children's.
      startedAt: data.startedAt ?? Date.now(),
      finishedAt: Date.now(),
      filesTotal: data.filesTotal ?? 0,
      chunks: validations.length,
      plannedOut: data.plannedOut!,
      catalogue: catalogue?.counts ?? { users: 0, songs: 0, rejected: 0 },
    };
  }

  return async (job: Job, data: PlanJob, log: Logger, token: string | undefined): Promise<PlanResult> => {
    // The step-job pattern: a step ends by entering the next (which waits for its children) or by returning.
    for (;;) {
      switch (data.step ?? 'plan') {
        case 'plan':
          data = await planAndValidate(job, data, log);
          await job.updateProgress({ percent: 30, rows: 0 });
          data = await enterStep(ctx, job, token, data);
          break;
        case 'validate':
          data = await lookUpCatalogue(job, token, data, log);
          break;
        case 'catalogue':
          return transformChunks(job, data);
      }
    }
  };
}
