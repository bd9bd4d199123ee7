import { Readable } from 'node:stream';
import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { CATALOGUE_TABLES, childResults, jobIds, type KpiRecomputeJob, type PublishResult, type RunReport } from '@musicflow/contracts';
import { addChildJobs, claimRunCommit, ignoredFailures, parentOf, runCancelledError, type ServiceContext } from '@musicflow/flow';
import { LAKE_LAYOUT, lakeDatesIn, lakePartsIn } from '@musicflow/lake';
import { dateResults, publishResultOf } from './outcome.ts';
import { reEnrichDates } from './re-enrich.ts';

/**
 * The KPI job of a recompute run (SPEC 3b: KPIs of a date from all its
 * parts, so the lake alone rebuilds them), in steps. With `reEnrich` it first
 * adds the extractor's catalogue jobs for the ids of the range's parts, and
 * rewrites the parts joined with what they found. It takes a snapshot sequence
 * from Redis' clock before anything is counted, lists the lake's listen dates
 * in the range and adds one date job each, the very date jobs of ingest runs
 * (with no part of their own, so nothing counts as duplicate), and waits for
 * them; then hands the loader their rows as a publish step would. Concurrent
 * ingest runs keep SPEC 4.3: whichever snapshot of a date is newer wins the
 * MERGE, and every snapshot reads all of the date's parts.
 */
export function createRecomputeKpiProcessor({ store, config, queues, warehouse }: ServiceContext) {
  return async (job: Job, data: KpiRecomputeJob, log: Logger, token: string | undefined): Promise<PublishResult> => {
    const { run, recompute } = data;
    const failures = await ignoredFailures(job);
    if (failures.length) throw new UnrecoverableError(failures.map((f) => `${f.jobId}: ${f.reason}`).join('; '));
    let dates = data.dates;
    if (!dates) {
      const startedAt = Date.now();
      // A warehouse that was wiped gets its schema back before the loader needs it.
      await (await warehouse()).recreateSchema();
      if (recompute.reEnrich && !data.catalogue) {
        const partUrls = (await lakePartsIn(store, run.lake, recompute)).map((p) => p.url);
        // Jobs first, then the step: a retry after a crash in between adds the same jobs again (fixed ids), harmlessly.
        await addChildJobs(
          config,
          queues,
          parentOf(job, 'kpi'),
          'catalogue',
          CATALOGUE_TABLES.map((table) => ({ id: jobIds.catalogue(run.runId, table), data: { run, table, keysUrls: [], partUrls } })),
          'ignore',
        );
        data = { ...data, catalogue: { partUrls } };
        await job.updateData(data);
        if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
      }
      if (data.catalogue) {
        // Re-enriching rewrites the lake's parts: a run cancelled before this point leaves them as they were.
        if (!(await claimRunCommit(queues, run.runId))) throw runCancelledError(run.runId);
        const tables = childResults(await job.getChildrenValues(), 'catalogue');
        const songs = tables.find((t) => t.table === 'songs');
        const users = tables.find((t) => t.table === 'users');
        if (!songs || !users) throw new Error(`recompute ${run.runId}: the catalogue of ${tables.length} of 2 tables was looked up`);
        await reEnrichDates(store, run, data.catalogue.partUrls, { songsUrl: songs.url, usersUrl: users.url }, log);
      }
      // Taken before the KPIs read the parts: a concurrent run that reads them later takes a later one and wins.
      const [seconds, micros] = await queues.connection.time();
      const listenDates = await lakeDatesIn(store, run.lake, recompute);
      dates = { snapshotSeq: Number(seconds) * 1_000_000 + Number(micros), startedAt, listenDates };
      await addChildJobs(
        config,
        queues,
        parentOf(job, 'kpi'),
        'kpi-date',
        listenDates.map((listenDate) => ({ id: jobIds.kpiDate(run.runId, listenDate), data: { run, listenDate, ours: [] } })),
        'fail',
      );
      await job.updateData({ ...data, dates } satisfies KpiRecomputeJob);
      log.info({ from: recompute.from, to: recompute.to, dates: listenDates.length }, 'recompute: date jobs added');
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
    }

    const results = dateResults(await job.getChildrenValues(), dates);
    const report: RunReport = {
      runId: run.runId,
      trigger: run.trigger,
      status: 'running',
      startedAt: run.startedAt,
      sources: run.sources,
      files: { total: 0, loaded: 0, rejected: 0, firstRejected: [] },
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
    // No stream file: the run's file list is empty.
    const filesUrl = LAKE_LAYOUT.runFiles(run.lake, run.runId);
    await store.write(filesUrl, Readable.from([]));
    await job.updateProgress({ percent: 100, rows: 0 });
    return publishResultOf(dates, report, filesUrl, results);
  };
}
