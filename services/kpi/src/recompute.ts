import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { jobIds, kpiDateResultSchema, type KpiDateJob, type KpiRecomputeJob, type KpiResult, type RecomputeRange, type RunReport } from '@musicflow/contracts';
import { jobOptions, type ServiceContext } from '@musicflow/flow';
import { joinUrl, type ObjectStore } from '@musicflow/storage';
import { reEnrichDates } from './re-enrich.ts';

/**
 * The KPI job of a recompute run (SPEC 3b: KPIs of a date from all its
 * parts, so the lake alone rebuilds them). It takes a snapshot sequence from
 * Redis' clock before anything is read, lists the lake's listen dates in the
 * range and adds one date job each, the very date jobs of ingest runs (with
 * no part of their own, so nothing counts as duplicate), and waits for them;
 * then hands the loader their rows. Concurrent ingest runs keep SPEC 4.3:
 * whichever snapshot of a date is newer wins the MERGE, and every snapshot
 * reads all of the date's parts. With `reEnrich` the run's catalogue jobs
 * (its children) snapshot the current users and songs first, and the dates'
 * parts are rewritten joined with them before anything is computed.
 */
export function createRecomputeKpiProcessor({ store, config, queues, warehouse }: ServiceContext) {
  return async (job: Job, data: KpiRecomputeJob, log: Logger, token: string | undefined): Promise<KpiResult> => {
    const { run, recompute } = data;
    let dates = data.dates;
    if (!dates) {
      const startedAt = Date.now();
      const failures = Object.entries(await job.getIgnoredChildrenFailures());
      if (failures.length) throw new UnrecoverableError(failures.map(([key, reason]) => `${key.split(':').pop()}: ${reason}`).join('; '));
      // A warehouse that was wiped gets its schema back before the loader needs it.
      await (await warehouse()).recreateSchema();
      if (recompute.reEnrich) await reEnrichDates(store, run, await lakeDatesIn(store, run.lake, recompute), log);
      // Taken before the KPIs read the parts: a concurrent run that reads them later takes a later one and wins.
      const [seconds, micros] = await queues.connection.time();
      const listenDates = await lakeDatesIn(store, run.lake, recompute);
      dates = { snapshotSeq: Number(seconds) * 1_000_000 + Number(micros), startedAt, listenDates };
      const opts = jobOptions(config);
      // Jobs first, then the step: a retry after a crash in between adds the same jobs again (fixed ids), harmlessly.
      await queues.queues.kpi.addBulk(
        listenDates.map((listenDate) => ({
          name: 'kpi',
          data: { run, listenDate, ours: [] } satisfies KpiDateJob,
          opts: { ...opts, jobId: jobIds.kpiDate(run.runId, listenDate), parent: { id: job.id!, queue: queues.queueKey('kpi') }, failParentOnFailure: true },
        })),
      );
      await job.updateData({ ...data, dates } satisfies KpiRecomputeJob);
      log.info({ from: recompute.from, to: recompute.to, dates: listenDates.length }, 'recompute: date jobs added');
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
    }

    // The date jobs' results; with reEnrich the catalogue jobs' are there too.
    const results = Object.entries(await job.getChildrenValues())
      .filter(([key]) => key.startsWith(`${queues.queueKey('kpi')}:`))
      .map(([, v]) => kpiDateResultSchema.parse(v))
      .sort((a, b) => a.listenDate.localeCompare(b.listenDate));
    const missing = dates.listenDates.filter((d) => !results.some((r) => r.listenDate === d));
    if (missing.length) throw new Error(`KPIs of ${missing.join(', ')} are missing although every date job is done`);
    const report: RunReport = {
      runId: run.runId,
      trigger: run.trigger,
      status: 'running',
      startedAt: run.startedAt,
      sources: run.sources,
      files: { total: 0, loaded: [], rejected: [] },
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
      catalogue: { users: 0, songs: 0, rejected: 0 },
      dates: dates.listenDates,
      kpiRows: { genre: results.reduce((n, r) => n + r.genreRows, 0), hourly: results.reduce((n, r) => n + r.hourlyRows, 0) },
      stageMs: { kpi: Date.now() - dates.startedAt },
    };
    await job.updateProgress({ percent: 100, rows: report.rows.read });
    return {
      startedAt: dates.startedAt,
      finishedAt: Date.now(),
      report,
      genreUrls: results.map((r) => r.genreUrl),
      hourlyUrls: results.map((r) => r.hourlyUrl),
      snapshotSeq: dates.snapshotSeq,
      dateEvents: Object.fromEntries(results.map((r) => [r.listenDate, r.events ?? 0])),
    };
  };
}

/** The listen dates with parts under `processed/`, within the range, in order. */
export async function lakeDatesIn(store: ObjectStore, lake: string, range: Pick<RecomputeRange, 'from' | 'to'>): Promise<string[]> {
  const dates = new Set<string>();
  for await (const obj of store.list(joinUrl(lake, 'processed/'))) {
    const date = /\/listen_date=(\d{4}-\d{2}-\d{2})\/[^/]+\.parquet$/.exec(obj.url)?.[1];
    if (date && date >= range.from && (!range.to || date <= range.to)) dates.add(date);
  }
  return [...dates].sort();
}
