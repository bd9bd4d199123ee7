import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { kpiResultSchema, type RunContext, type RunReport } from '@musicflow/contracts';
import { activeKey, alertOnRun, type ServiceContext } from '@musicflow/flow';
import { LAKE_LAYOUT } from '@musicflow/lake';
import { joinUrl, readConcatenated, relativeKey, type ObjectStore } from '@musicflow/storage';
import { runDataChecks } from '@musicflow/warehouse';

/**
 * The last step of every run, also of failed ones: upsert the KPI rows and
 * record the run in one warehouse transaction, archive the ingested stream
 * files, delete the run's temporaries. A failed run is recorded with its
 * error; its sources stay where they were and no KPI row is written.
 */
export function createLoadProcessor({ store, queues, warehouse, config }: ServiceContext) {
  return async (job: Job, { run }: { run: RunContext }, log: Logger): Promise<RunReport> => {
    const startedAt = Date.now();
    const failures = Object.values(await job.getIgnoredChildrenFailures());
    const kpi = Object.values(await job.getChildrenValues())[0];
    const db = await warehouse();

    let report: RunReport;
    if (failures.length || !kpi) {
      report = failedReport(run, failures.join('; ') || 'the KPI step produced no result');
      await db.recordRun(report);
      log.error({ error: report.error }, 'run failed');
    } else {
      const result = kpiResultSchema.parse(kpi);
      const loaded = result.report.files.loaded.length;
      const status = result.report.files.total > 0 && loaded === 0 ? 'failed' : result.report.files.rejected.length ? 'partial' : 'succeeded';
      report = {
        ...result.report,
        status,
        error: status === 'failed' ? 'no stream file could be loaded' : undefined,
        finishedAt: new Date().toISOString(),
        stageMs: { ...result.report.stageMs, load: 0 },
      };
      const { genreUrls, hourlyUrls } = result;
      report.kpiRows = await db.loadRun(
        {
          runId: run.runId,
          snapshotSeq: result.snapshotSeq,
          updatedAt: new Date(),
          genre: genreUrls.length ? () => readConcatenated(store, genreUrls) : undefined,
          hourly: hourlyUrls.length ? () => readConcatenated(store, hourlyUrls) : undefined,
        },
        report,
      );
      // Checked after the commit, so they see what analysts see; a failed check makes the run partial, naming it.
      report.checks = await runDataChecks(db, report.dates.map((listenDate) => ({ listenDate, events: result.dateEvents?.[listenDate] })), result.snapshotSeq);
      const failedChecks = report.checks.filter((c) => !c.passed);
      if (failedChecks.length) {
        if (report.status === 'succeeded') report.status = 'partial';
        report.error = [report.error, `data check(s) failed: ${failedChecks.map((c) => `${c.name} (${c.detail})`).join('; ')}`].filter(Boolean).join('; ');
        log.warn({ checks: failedChecks }, 'data checks failed');
      }
      await archive(store, run, report.files.loaded);
      report.stageMs.load = Date.now() - startedAt;
      await db.recordRun(report);
      log.info({ status: report.status, files: loaded, kpiRows: report.kpiRows }, 'run loaded');
    }
    await alertOnRun(config, queues, report, log);

    await store.deleteFolder(LAKE_LAYOUT.runTemp(run.lake, run.runId));
    const key = activeKey(queues.prefix, run.sources);
    if ((await queues.connection.get(key)) === run.runId) await queues.connection.del(key);
    return report;
  };
}

function failedReport(run: RunContext, error: string): RunReport {
  return {
    runId: run.runId,
    trigger: run.trigger,
    status: 'failed',
    startedAt: run.startedAt,
    finishedAt: new Date().toISOString(),
    sources: run.sources,
    files: { total: 0, loaded: [], rejected: [] },
    rows: { read: 0, valid: 0, rejected: 0, rejectedByReason: {}, duplicate: 0, orphanTracks: 0, orphanUsers: 0 },
    catalogue: { users: 0, songs: 0, rejected: 0 },
    dates: [],
    kpiRows: { genre: 0, hourly: 0 },
    stageMs: {},
    error,
  };
}

/** Moves ingested files to `<archive>/<yyyy>/<mm>/<dd>/` of the run date; a repeat skips what already moved. */
async function archive(store: ObjectStore, run: RunContext, files: string[]): Promise<void> {
  const [yyyy, mm, dd] = run.startedAt.slice(0, 10).split('-') as [string, string, string];
  for (const url of files) {
    const target = joinUrl(run.archive, yyyy, mm, dd, relativeKey(run.sources.streams, url));
    if (await store.head(url)) await store.move(url, target);
  }
}
