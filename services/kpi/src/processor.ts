import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import {
  childResults,
  jobIds,
  type KpiDateJob,
  type FileDuplicatesArtifact,
  type KpiDateResult,
  type KpiJob,
  type KpiPassJob,
  type KpiPassResult,
  type KpiResult,
  type RunContext,
} from '@musicflow/contracts';
import { PARTIAL_SHARDS, PartialFormatError, type KpiTables } from '@musicflow/kpi';
import { mergeKpiPartials, readDateParts, writeDateParts, writeFileDuplicates, writeKpiPartial, writeKpiRows } from '@musicflow/lake';
import { CancelWatch, enterStep, ignoredFailures, nextSnapshotSeq, readQueueWorkers, type ServiceContext, type StageProcessors } from '@musicflow/flow';
import { biggestDatesFirst, buildReport, dateResults, kpiResultOf } from './outcome.ts';
import { countPass, openDateParts, passesForSlots, passesNeeded } from './date-pass.ts';
import { createRecomputeKpiProcessor } from './recompute.ts';

/**
 * The KPI queue's kinds of job. `kpi`, an ingest run's KPI job, once every
 * chunk is transformed, adds the run's lake commit (the `commit` job, which
 * decides each file and publishes accepted files' parts), then one `kpi-date`
 * job per listen date it published; date jobs compute a date's KPIs from all
 * of that date's parts (SPEC 3b, 4.3), in parallel on any KPI worker, so late
 * and re-delivered files give the same rows as one run over everything. A
 * date too big for one job is split into `kpi-pass` jobs over shares of its
 * users, which run in parallel too; the date job merges what they counted.
 * The KPI job then runs again and combines the dates for the loader.
 */
export function createKpiProcessors(ctx: ServiceContext): StageProcessors<'kpi'> {
  return {
    kpi: createRunKpiProcessor(ctx),
    'kpi-date': createDateKpiProcessor(ctx),
    'kpi-pass': createPassKpiProcessor(ctx),
    recompute: createRecomputeKpiProcessor(ctx),
  };
}

function createRunKpiProcessor(ctx: ServiceContext) {
  const { queues } = ctx;

  /** Once the plan and the transforms are done: the run's lake commit. */
  async function commit(job: Job, token: string | undefined, data: KpiJob): Promise<KpiJob> {
    const { run } = data;
    const failures = await ignoredFailures(job);
    if (failures.length) {
      throw new UnrecoverableError(`${failures.length} step(s) failed after retries: ${failures.map((f) => `${f.jobId}: ${f.reason}`).join('; ')}`);
    }
    return enterStep(ctx, job, token, { ...data, step: 'commit', startedAt: Date.now() } satisfies KpiJob, {
      kind: 'commit',
      jobs: [{ id: jobIds.commit(run.runId), data: { run } }],
      onFailure: 'fail',
    });
  }

  /** Once the commit is done: one date job per listen date it published. */
  async function computeDates(job: Job, token: string | undefined, data: KpiJob): Promise<KpiJob> {
    const { run } = data;
    const [committed] = childResults(await job.getChildrenValues(), 'commit');
    if (!committed) throw new Error(`kpi ${job.id}: the commit job left no result`);
    const listenDates = [...new Set(committed.parts.map((p) => p.listenDate))].sort();
    // A counter orders concurrent runs: a later snapshot of a date's parts never loses to an earlier one.
    const dates = { snapshotSeq: await nextSnapshotSeq(queues.connection, queues.prefix), startedAt: data.startedAt ?? committed.startedAt, listenDates };
    await job.updateProgress({ percent: 20, rows: 0 });
    return enterStep(ctx, job, token, { ...data, step: 'kpi-date', dates } satisfies KpiJob, {
      kind: 'kpi-date',
      jobs: biggestDatesFirst(committed.parts).map((listenDate) => ({
        id: jobIds.kpiDate(run.runId, listenDate),
        data: { run, listenDate, ours: committed.parts.filter((p) => p.listenDate === listenDate).map((p) => p.url) },
      })),
      onFailure: 'fail',
    });
  }

  /** Once every date is computed: the report, the file list and the dates' rows for the loader. */
  async function handOver(job: Job, data: KpiJob, log: Logger): Promise<KpiResult> {
    const { run } = data;
    const values = await job.getChildrenValues();
    const [plan] = childResults(values, 'plan');
    if (!plan) throw new Error(`kpi ${job.id}: the plan job left no result`);
    const [committed] = childResults(values, 'commit');
    if (!committed) throw new Error(`kpi ${job.id}: the commit job left no result`);
    const transforms = childResults(values, 'transform');
    const dates = data.dates!;
    const results = dateResults(values, dates);
    const duplicate = results.reduce((n, r) => n + r.duplicate, 0);
    log.info({ dates: dates.listenDates, duplicate }, 'KPIs computed');

    // The commit wrote the file list and counted it as it decided the files; the load joins their duplicates.
    const report = buildReport(run, plan, committed.files.tally, { duplicate, dates: dates.listenDates, kpiStartedAt: dates.startedAt }, transforms);
    report.kpiRows = { genre: results.reduce((n, r) => n + r.genreRows, 0), hourly: results.reduce((n, r) => n + r.hourlyRows, 0) };
    // The date jobs report the rows they counted: this job adds none.
    await job.updateProgress({ percent: 100, rows: 0 });
    return kpiResultOf(dates, report, committed.files.url, results);
  }

  return async (job: Job, data: KpiJob, log: Logger, token: string | undefined): Promise<KpiResult> => {
    // The step-job pattern: a step ends by entering the next (which waits for its children) or by returning.
    for (;;) {
      switch (data.step ?? 'start') {
        case 'start':
          data = await commit(job, token, data);
          break;
        case 'commit':
          data = await computeDates(job, token, data);
          break;
        case 'kpi-date':
          return handOver(job, data, log);
      }
    }
  };
}

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
    const needed = passesNeeded(rows, tracks, { events: config.KPI_EVENTS_PER_PASS, tracks: config.KPI_TRACKS_PER_PASS });
    // The workers are listed (CLIENT LIST) only for a date that is split: most dates are one pass.
    const count = needed > 1 ? passesForSlots(needed, await kpiSlots(log)) : 1;
    if (count > 1) {
      const passes = { count, rows, startedAt };
      const pass = { run, listenDate, count, shards: partialShards(rows) };
      // Passes open the parts from what the date job read of them: the footers are read once.
      await writeDateParts(store, run, listenDate, parts);
      log.info({ listenDate, rows, tracks, passes: count }, 'date split into passes');
      await enterStep(ctx, job, token, { ...data, step: 'kpi-pass', passes } satisfies KpiDateJob, {
        kind: 'kpi-pass',
        jobs: Array.from({ length: count }, (_, p) => ({ id: jobIds.kpiPass(run.runId, listenDate, p, count), data: { ...pass, pass: p } })),
        onFailure: 'fail',
      });
      return mergePasses(job, { ...data, passes }, log);
    }
    const watch = new CancelWatch(ctx.queues, run.runId);
    const { accumulator, duplicate, duplicateByFile, events } = await countPass(parts, 0, 1, () => watch.check());
    const duplicates = await writeFileDuplicates(store, run, { listenDate, pass: 0, count: 1 }, duplicateByFile);
    const duplicateFiles = duplicates ? [duplicates] : [];
    return writeDateKpis(job, { run, listenDate, startedAt, tables: accumulator.result(), duplicate, duplicateFiles, rows, passes: 1, events }, log);
  };

  /**
   * Jobs the KPI queue's workers run at once: the processes connected to it,
   * each with this process's WORKER_CONCURRENCY. 1 when Redis will not list
   * its clients (a managed Redis may refuse CLIENT LIST): the passes are then
   * not rounded.
   */
  async function kpiSlots(log: Logger): Promise<number> {
    try {
      return (await readQueueWorkers(ctx.queues.queues.kpi)).length * config.WORKER_CONCURRENCY;
    } catch (err) {
      log.warn({ err }, 'KPI workers not listed: passes not rounded to them');
      return 1;
    }
  }

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
    const duplicateFiles = results.flatMap((r) => (r.duplicateFiles ? [r.duplicateFiles] : []));
    const events = results.reduce((n, r) => n + (r.events ?? 0), 0);
    return writeDateKpis(job, { run: data.run, listenDate: data.listenDate, startedAt, tables, duplicate, duplicateFiles, rows, passes: count, events }, log);
  }

  async function writeDateKpis(
    job: Job,
    date: {
      run: RunContext;
      listenDate: string;
      startedAt: number;
      tables: KpiTables;
      duplicate: number;
      duplicateFiles: FileDuplicatesArtifact[];
      rows: number;
      passes: number;
      /** Distinct events of the date. */
      events: number;
    },
    log: Logger,
  ): Promise<KpiDateResult> {
    const { run, listenDate, tables, duplicate, duplicateFiles, rows, passes } = date;
    const { genreUrl, hourlyUrl } = await writeKpiRows(store, run, listenDate, tables);
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
      duplicateFiles,
      rows,
      passes,
      events: date.events,
    };
  }
}

function createPassKpiProcessor({ store, queues }: ServiceContext) {
  return async (job: Job, { run, listenDate, pass, count, shards }: KpiPassJob, log: Logger): Promise<KpiPassResult> => {
    const startedAt = Date.now();
    const readers = await readDateParts(store, run, listenDate);
    const watch = new CancelWatch(queues, run.runId);
    const { accumulator, duplicateByFile, ...counted } = await countPass(readers, pass, count, () => watch.check());
    const partial = await writeKpiPartial(store, run, { listenDate, pass, count }, accumulator.encodePartial(shards));
    const duplicateFiles = await writeFileDuplicates(store, run, { listenDate, pass, count }, duplicateByFile);
    log.info(
      { listenDate, pass, count, tracks: accumulator.tracks, partialBytes: partial.bytes, duplicateFiles: duplicateByFile.size, ...counted },
      'pass counted',
    );
    await job.updateProgress({ percent: 100, rows: counted.rows });
    return { kind: 'kpi-pass', startedAt, finishedAt: Date.now(), pass, count, partialUrl: partial.url, duplicateFiles, ...counted };
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
export const MERGE_GROUP_BYTES = 8 * 1024 * 1024;

/**
 * Track shards of a date's partials: each shard holds at most about 200k
 * track entries over all passes (a pass's distinct tracks are at most its
 * rows), some 12 MB, so one shard always fits a merge group.
 */
const partialShards = (rows: number) => Math.max(PARTIAL_SHARDS, Math.ceil(rows / 200_000));
