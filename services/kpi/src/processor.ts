import { Readable } from 'node:stream';
import pMap from 'p-map';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import {
  childResults,
  jobIds,
  type KpiDateJob,
  type KpiDateResult,
  type KpiPassJob,
  type KpiPassResult,
  type PublishJob,
  type PublishResult,
  type RunContext,
} from '@musicflow/contracts';
import { QUARANTINE_HEADER } from '@musicflow/ingest';
import { PARTIAL_SHARDS, PartialFormatError, type KpiTables } from '@musicflow/kpi';
import { LAKE_LAYOUT, mergeKpiPartials, rewritePart, USER_BUCKETS, writeKpiPartial } from '@musicflow/lake';
import { basename, joinUrl, moveOnce, readConcatenated, type ObjectStore } from '@musicflow/storage';
import { kpiRowsToCsv } from '@musicflow/warehouse';
import { claimRunCommit, enterStep, ignoredFailures, runCancelledError, nextSnapshotSeq, type ServiceContext, type StageProcessors } from '@musicflow/flow';
import { biggestDatesFirst, buildReport, dateResults, decideFiles, publishResultOf, runFileLines, type FileOutcome } from './outcome.ts';
import { countPass, openDateParts, openParts } from './date-pass.ts';
import { createRecomputeKpiProcessor } from './recompute.ts';

/**
 * The KPI queue's three kinds of job. `publish`, the run's commit step, once
 * every chunk is done, decides each file, publishes accepted files' parts to
 * the lake and adds one `kpi-date` job per listen date they touch; date jobs
 * compute a date's KPIs from all of that date's parts (SPEC 3b, 4.3), in
 * parallel on any KPI worker, so late and re-delivered files give the same
 * rows as one run over everything. A date too big for one job is split into
 * `kpi-pass` jobs over shares of its users, which run in parallel too; the
 * date job merges what they counted. The publish job then runs again and
 * combines the dates for the loader.
 */
export function createKpiProcessors(ctx: ServiceContext): StageProcessors<'kpi'> {
  return {
    publish: createPublishProcessor(ctx),
    'kpi-date': createDateKpiProcessor(ctx),
    'kpi-pass': createPassKpiProcessor(ctx),
    recompute: createRecomputeKpiProcessor(ctx),
  };
}

function createPublishProcessor(ctx: ServiceContext) {
  const { store, config, queues } = ctx;
  return async (job: Job, data: PublishJob, log: Logger, token: string | undefined): Promise<PublishResult> => {
    const { run } = data;
    const failures = await ignoredFailures(job);
    if (failures.length) {
      throw new UnrecoverableError(`${failures.length} step(s) failed after retries: ${failures.map((f) => `${f.jobId}: ${f.reason}`).join('; ')}`);
    }
    let values = await job.getChildrenValues();
    const [plan] = childResults(values, 'plan');
    if (!plan) throw new Error(`publish ${job.id}: the plan job left no result`);
    const transforms = childResults(values, 'transform');
    const files = decideFiles(transforms, config.REJECT_THRESHOLD);

    if (!data.step) {
      const startedAt = Date.now();
      // From here on the lake changes: a run cancelled before this point leaves it as it was.
      if (!(await claimRunCommit(queues, run.runId))) throw runCancelledError(run.runId);
      const accepted = files.filter((f) => f.rejectedReasons.length === 0);
      await gatherQuarantine(store, run, files);
      const published = await publishParts(store, run, accepted);
      const listenDates = [...new Set(published.map((p) => p.listenDate))].sort();
      // A counter orders concurrent runs: a later snapshot of a date's parts never loses to an earlier one.
      const dates = { snapshotSeq: await nextSnapshotSeq(queues.connection, queues.prefix), startedAt, listenDates };
      await job.updateProgress({ percent: 20, rows: 0 });
      data = await enterStep(ctx, job, token, { ...data, step: 'kpi-date', dates } satisfies PublishJob, {
        kind: 'kpi-date',
        jobs: biggestDatesFirst(published).map((listenDate) => ({
          id: jobIds.kpiDate(run.runId, listenDate),
          data: { run, listenDate, ours: published.filter((p) => p.listenDate === listenDate).map((p) => p.url) },
        })),
        onFailure: 'fail',
      });
      // Read again: the date jobs were added by this very call (and were all done already, or there are none).
      values = await job.getChildrenValues();
    }
    const dates = data.dates!;
    const results = dateResults(values, dates);
    const duplicateByFile = sumByKey(results.map((r) => r.duplicateByFile));
    const duplicate = results.reduce((n, r) => n + r.duplicate, 0);
    log.info({ dates: dates.listenDates, duplicate }, 'KPIs computed');

    const report = buildReport(run, plan, files, { duplicate, dates: dates.listenDates, kpiStartedAt: dates.startedAt }, transforms);
    report.kpiRows = { genre: results.reduce((n, r) => n + r.genreRows, 0), hourly: results.reduce((n, r) => n + r.hourlyRows, 0) };
    const filesUrl = LAKE_LAYOUT.runFiles(run.lake, run.runId);
    await store.write(filesUrl, Readable.from(runFileLines(plan, files, duplicateByFile)));
    // The date jobs report the rows they counted: this job adds none.
    await job.updateProgress({ percent: 100, rows: 0 });
    return publishResultOf(dates, report, filesUrl, results);
  };
}

const sumByKey = (maps: Record<string, number>[]) => {
  const sum: Record<string, number> = {};
  for (const m of maps) for (const [k, n] of Object.entries(m)) sum[k] = (sum[k] ?? 0) + n;
  return sum;
};

function createDateKpiProcessor(ctx: ServiceContext) {
  const { store, config } = ctx;
  return async (job: Job, data: KpiDateJob, log: Logger, token: string | undefined): Promise<KpiDateResult> => {
    if (data.step === 'kpi-pass') return mergePasses(job, { ...data, passes: data.passes! }, log);
    const { run, listenDate } = data;
    const startedAt = Date.now();
    const parts = await openDateParts(store, run.lake, listenDate, new Set(data.ours));
    const rows = parts.reduce((n, p) => n + p.reader.rows, 0);
    // A track in several parts counts in each: an upper bound.
    const tracks = parts.reduce((n, p) => n + p.reader.format.distinctTracksAtMost, 0);
    // A pass takes at least one user bucket.
    const count = Math.min(USER_BUCKETS, Math.max(Math.ceil(rows / config.KPI_EVENTS_PER_PASS), Math.ceil(tracks / config.KPI_TRACKS_PER_PASS)));
    if (count > 1) {
      const passes = { count, rows, startedAt };
      const pass = { run, listenDate, ours: data.ours, parts: parts.map((p) => p.url), count, shards: partialShards(rows) };
      log.info({ listenDate, rows, tracks, passes: count }, 'date split into passes');
      await enterStep(ctx, job, token, { ...data, step: 'kpi-pass', passes } satisfies KpiDateJob, {
        kind: 'kpi-pass',
        jobs: Array.from({ length: count }, (_, p) => ({ id: jobIds.kpiPass(run.runId, listenDate, p, count), data: { ...pass, pass: p } })),
        onFailure: 'fail',
      });
      return mergePasses(job, { ...data, passes }, log);
    }
    const { accumulator, duplicate, duplicateByFile, events } = await countPass(parts, 0, 1);
    return writeDateKpis(job, { run, listenDate, startedAt, tables: accumulator.result(), duplicate, duplicateByFile, rows, passes: 1, events }, log);
  };

  /** The date's KPIs from its pass jobs' partials, once they are all done. */
  async function mergePasses(job: Job, data: KpiDateJob & { passes: NonNullable<KpiDateJob['passes']> }, log: Logger): Promise<KpiDateResult> {
    const { count, rows, startedAt } = data.passes;
    const results = childResults(await job.getChildrenValues(), 'kpi-pass').filter((r) => r.count === count);
    const missing = Array.from({ length: count }, (_, p) => p).filter((p) => !results.some((r) => r.pass === p));
    if (missing.length) throw new Error(`${data.listenDate}: pass(es) ${missing.join(', ')} missing although every pass job is done`);
    const urls = results.sort((a, b) => a.pass - b.pass).map((r) => r.partialUrl);
    const tables = await mergeKpiPartials(store, urls, MERGE_GROUP_BYTES).catch((err: unknown) => {
      throw err instanceof PartialFormatError ? new UnrecoverableError(err.message) : err;
    });
    const duplicate = results.reduce((n, r) => n + r.duplicate, 0);
    const duplicateByFile = sumByKey(results.map((r) => r.duplicateByFile));
    const events = results.reduce((n, r) => n + (r.events ?? 0), 0);
    return writeDateKpis(job, { run: data.run, listenDate: data.listenDate, startedAt, tables, duplicate, duplicateByFile, rows, passes: count, events }, log);
  }

  async function writeDateKpis(
    job: Job,
    date: {
      run: RunContext;
      listenDate: string;
      startedAt: number;
      tables: KpiTables;
      duplicate: number;
      duplicateByFile: Record<string, number>;
      rows: number;
      passes: number;
      /** Distinct events of the date. */
      events: number;
    },
    log: Logger,
  ): Promise<KpiDateResult> {
    const { run, listenDate, tables, duplicate, duplicateByFile, rows, passes } = date;
    const csv = kpiRowsToCsv(tables);
    const genreUrl = LAKE_LAYOUT.kpiRows(run.lake, run.runId, 'genre', listenDate);
    const hourlyUrl = LAKE_LAYOUT.kpiRows(run.lake, run.runId, 'hourly', listenDate);
    await store.write(genreUrl, csv.genre);
    await store.write(hourlyUrl, csv.hourly);
    log.info({ listenDate, rows, passes, duplicate, genreRows: tables.genre.length, hourlyRows: tables.hourly.length }, 'date KPIs computed');
    // Pass jobs report the rows they counted; a date job that merged them adds none.
    await job.updateProgress({ percent: 100, rows: passes > 1 ? 0 : rows });
    return {
      kind: 'kpi-date',
      startedAt: date.startedAt,
      finishedAt: Date.now(),
      listenDate,
      genreUrl,
      hourlyUrl,
      genreRows: tables.genre.length,
      hourlyRows: tables.hourly.length,
      duplicate,
      duplicateByFile,
      rows,
      passes,
      events: date.events,
    };
  }
}

function createPassKpiProcessor({ store }: ServiceContext) {
  return async (job: Job, { run, listenDate, parts, ours, pass, count, shards }: KpiPassJob, log: Logger): Promise<KpiPassResult> => {
    const startedAt = Date.now();
    const readers = await openParts(store, parts, new Set(ours));
    const { accumulator, ...counted } = await countPass(readers, pass, count);
    const partialUrl = LAKE_LAYOUT.kpiPartial(run.lake, run.runId, listenDate, pass, count);
    const partialBytes = await writeKpiPartial(store, partialUrl, accumulator.encodePartial(shards));
    log.info({ listenDate, pass, count, tracks: accumulator.tracks, partialBytes, ...counted }, 'pass counted');
    await job.updateProgress({ percent: 100, rows: counted.rows });
    return { kind: 'kpi-pass', startedAt, finishedAt: Date.now(), pass, count, partialUrl, ...counted };
  };
}

/**
 * Partial bytes a date job's merge reads at once (its passes' slices of one
 * group of track shards): with `partialShards`, what bounds the merge's
 * memory whatever the date's distinct tracks. Each group is merged in one
 * synchronous step: small enough that the job's lock is renewed between
 * groups on a busy machine (a 32 MB group blocked the event loop for 44 s
 * on a 2-core machine at load 30, and the job stalled).
 */
const MERGE_GROUP_BYTES = 8 * 1024 * 1024;

/**
 * Track shards of a date's partials: each shard holds at most about 200k
 * track entries over all passes (a pass's distinct tracks are at most its
 * rows), some 12 MB, so one shard always fits a merge group.
 */
const partialShards = (rows: number) => Math.max(PARTIAL_SHARDS, Math.ceil(rows / 200_000));

/** Objects moved, deleted or gathered at once: thousands of small files are mostly waiting on the store. */
const STORE_CONCURRENCY = 16;

/**
 * One CSV per source file under `quarantine/run=<id>/`, gathered from its
 * segments; a file of one segment has its quarantine whole already (header
 * included) and is moved, not copied: a day of small files is hundreds of them.
 */
async function gatherQuarantine(store: ObjectStore, run: RunContext, files: FileOutcome[]): Promise<void> {
  await pMap(
    files,
    async (file) => {
      const urls = file.segments
        .map((s) => s.validation.quarantineUrl)
        .filter((u): u is string => !!u)
        .sort();
      if (!urls.length) return;
      const target = LAKE_LAYOUT.quarantine(run.lake, run.runId, file.fileId);
      if (file.segments[0]!.validation.count === 1) return moveOnce(store, urls[0]!, target);
      await store.write(target, readConcatenated(store, urls, `${QUARANTINE_HEADER.join(',')}\n`));
    },
    { concurrency: STORE_CONCURRENCY },
  );
}

interface PublishedPart {
  listenDate: string;
  url: string;
  rows: number;
}

/**
 * Moves accepted files' staged parts into `processed/listen_date=…/`, first
 * taking those files' earlier rows out of the dates they touch: parts an
 * earlier ingestion left under other names are deleted, packs holding them
 * are rewritten without them. Safe to repeat: a part already moved is
 * skipped, a pack already rewritten holds none of them.
 */
async function publishParts(store: ObjectStore, run: RunContext, accepted: FileOutcome[]): Promise<PublishedPart[]> {
  // A pack's parts are listed by each of its files: publish each once.
  const staged = [...new Map(accepted.flatMap((f) => f.segments.flatMap((s) => s.parts)).map((p) => [p.url, p])).values()];
  const ingested = new Set(accepted.map((f) => f.fileId));
  const dates = [...new Set(staged.map((p) => p.listenDate))];
  const earlier = await pMap(
    dates,
    async (date) => {
      const fresh = new Set(staged.filter((p) => p.listenDate === date).map((p) => basename(p.url)));
      const urls: string[] = [];
      for await (const obj of store.list(LAKE_LAYOUT.processedDate(run.lake, date))) {
        const name = basename(obj.url);
        if (!fresh.has(name) && (LAKE_LAYOUT.isPack(name) || ingested.has(LAKE_LAYOUT.fileIdOfPart(name)))) urls.push(obj.url);
      }
      return urls;
    },
    { concurrency: STORE_CONCURRENCY },
  );
  await pMap(
    earlier.flat(),
    async (url) => {
      if (!LAKE_LAYOUT.isPack(basename(url))) return store.delete(url);
      await rewritePart(store, url, LAKE_LAYOUT.rewrittenPart(run.lake, run.runId, 'repack', url), { drop: ingested });
    },
    { concurrency: STORE_CONCURRENCY },
  );
  return pMap(
    staged,
    async (part) => {
      const target = joinUrl(LAKE_LAYOUT.processedDate(run.lake, part.listenDate), basename(part.url));
      await moveOnce(store, part.url, target);
      return { listenDate: part.listenDate, url: target, rows: part.rows };
    },
    { concurrency: STORE_CONCURRENCY },
  );
}
