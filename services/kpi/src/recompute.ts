import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { childResults, emptyRunReport, jobIds, type KpiRecomputeJob, type KpiResult, type RunReport } from '@musicflow/contracts';
import {
  catalogueJobs,
  catalogueShardCounts,
  claimRunCommit,
  enterStep,
  ignoredFailures,
  runCancelledError,
  nextSnapshotSeq,
  type ServiceContext,
} from '@musicflow/flow';
import { joinCatalogueShards, lakeDatesIn, lakePartsIn, partKeysAtMost, writeRunFiles } from '@musicflow/lake';
import { dateResults, kpiResultOf } from './outcome.ts';
import { reEnrichDates } from './re-enrich.ts';

/**
 * The KPI job of a recompute run (SPEC 3b: KPIs of a date from all its
 * parts, so the lake alone rebuilds them), in steps. With `reEnrich` it first
 * adds the extractor's catalogue jobs for the ids of the range's parts, and
 * rewrites the parts joined with what they found. It takes a snapshot sequence
 * from Redis' clock before anything is counted, lists the lake's listen dates
 * in the range and adds one date job each, the very date jobs of ingest runs
 * (with no part of their own, so nothing counts as duplicate), and waits for
 * them; then hands the loader their rows as an ingest run's KPI job does. Concurrent
 * ingest runs keep SPEC 4.3: whichever snapshot of a date is newer wins the
 * MERGE, and every snapshot reads all of the date's parts.
 */
export function createRecomputeKpiProcessor(ctx: ServiceContext) {
  const { store, queues, warehouse, config } = ctx;

  /** With reEnrich: the catalogue jobs for the ids of the range's parts. */
  async function lookUpCatalogue(job: Job, token: string | undefined, data: KpiRecomputeJob): Promise<KpiRecomputeJob> {
    const { run, recompute } = data;
    const partUrls = (await lakePartsIn(store, run.lake, recompute)).map((p) => p.url);
    const shards = catalogueShardCounts(config, await partKeysAtMost(store, partUrls));
    return enterStep(ctx, job, token, { ...data, step: 'catalogue', catalogue: { partUrls } } satisfies KpiRecomputeJob, {
      kind: 'catalogue',
      jobs: catalogueJobs(run, { keysUrls: [], partUrls }, shards),
      onFailure: 'ignore',
    });
  }

  /** The parts joined with the catalogue looked up (re-enrich), then one date job per listen date of the range. */
  async function computeDates(job: Job, token: string | undefined, data: KpiRecomputeJob, startedAt: number, log: Logger): Promise<KpiRecomputeJob> {
    const { run, recompute } = data;
    // A warehouse that was wiped gets its schema back before the loader needs it.
    await (await warehouse()).recreateSchema();
    if (data.catalogue) {
      // Re-enriching rewrites the lake's parts: a run cancelled before this point leaves them as they were.
      if (!(await claimRunCommit(queues, run.runId))) throw runCancelledError(run.runId);
      const catalogue = await joinCatalogueShards(store, run, childResults(await job.getChildrenValues(), 'catalogue'));
      if (!catalogue) throw new Error(`recompute ${run.runId}: no catalogue job's result found`);
      await reEnrichDates(store, run, data.catalogue.partUrls, catalogue, log);
    }
    // Taken before the KPIs read the parts: a concurrent run that reads them later takes a later one and wins.
    const snapshotSeq = await nextSnapshotSeq(queues.connection, queues.prefix);
    const listenDates = await lakeDatesIn(store, run.lake, recompute);
    log.info({ from: recompute.from, to: recompute.to, dates: listenDates.length }, 'recompute: date jobs added');
    return enterStep(ctx, job, token, { ...data, step: 'kpi-date', dates: { snapshotSeq, startedAt, listenDates } } satisfies KpiRecomputeJob, {
      kind: 'kpi-date',
      jobs: listenDates.map((listenDate) => ({ id: jobIds.kpiDate(run.runId, listenDate), data: { run, listenDate, ours: [] } })),
      onFailure: 'fail',
    });
  }

  /** Once every date is computed: their rows for the loader, as an ingest run's KPI job hands them. */
  async function handOver(job: Job, data: KpiRecomputeJob): Promise<KpiResult> {
    const { run } = data;
    const dates = data.dates!;
    const results = dateResults(await job.getChildrenValues(), dates);
    const report: RunReport = {
      ...emptyRunReport(run, 'running'),
      // Events read from the lake, and how many of them were distinct.
      rows: {
        read: results.reduce((n, r) => n + r.rows, 0),
        valid: results.reduce((n, r) => n + (r.events ?? 0), 0),
        rejected: 0,
        rejectedByReason: {},
        duplicate: 0,
        orphanTracks: 0,
        orphanUsers: 0,
      },
      dates: dates.listenDates,
      kpiRows: { genre: results.reduce((n, r) => n + r.genreRows, 0), hourly: results.reduce((n, r) => n + r.hourlyRows, 0) },
      stageMs: { kpi: Date.now() - dates.startedAt },
    };
    // No stream file: the run's file list is empty.
    const filesUrl = await writeRunFiles(store, run, []);
    await job.updateProgress({ percent: 100, rows: 0 });
    return kpiResultOf(dates, report, filesUrl, results);
  }

  return async (job: Job, data: KpiRecomputeJob, log: Logger, token: string | undefined): Promise<KpiResult> => {
    const failures = await ignoredFailures(job);
    if (failures.length) throw new UnrecoverableError(failures.map((f) => `${f.jobId}: ${f.reason}`).join('; '));
    const startedAt = Date.now();
    // The step-job pattern: a step ends by entering the next (which waits for its children) or by returning.
    for (;;) {
      switch (data.step ?? 'start') {
        case 'start':
          data = data.recompute.reEnrich ? await lookUpCatalogue(job, token, data) : await computeDates(job, token, data, startedAt, log);
          break;
        case 'catalogue':
          data = await computeDates(job, token, data, startedAt, log);
          break;
        case 'kpi-date':
          return handOver(job, data);
      }
    }
  };
}
