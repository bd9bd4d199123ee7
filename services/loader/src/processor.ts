import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { childResults, emptyRunReport, runReportSchema, runTraceId, type LoadJob, type RunBuild, type RunReport } from '@musicflow/contracts';
import {
  activeKey,
  alertOnRun,
  claimRunCommit,
  emitRunEnd,
  enterStep,
  ignoredFailures,
  markRunEnded,
  runBuild,
  wakeBackfill,
  type ServiceContext,
} from '@musicflow/flow';
import { LAKE_LAYOUT, readKpiRows, readSourceHeaders, runFilesWithDuplicates } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';
import { checkSettings, fitRunRecord, recordSchemaDrift, WarehouseDataError, type Warehouse } from '@musicflow/warehouse';
import { archiveJobs } from './archive.ts';

/**
 * The last step of every run, also of failed ones, in steps: upsert the KPI
 * rows and record the run in one warehouse transaction, then add the archive
 * jobs that move the ingested stream files and wait for them, then record the
 * run's end and delete its temporaries. A failed run is recorded with its
 * error; its sources stay where they were and no KPI row is written.
 */
export function createLoadProcessor(ctx: ServiceContext) {
  const { store, queues, warehouse, config } = ctx;
  // Every run this loader records carries its build and KPI settings (analytics.etl_runs' version columns).
  const build = runBuild(config);

  /** Once the run is loaded and its files archived (or it never loaded): its record, alerts, lineage, the temporaries. */
  const end = async (job: Job, run: LoadJob['run'], db: Warehouse, report: RunReport, log: Logger): Promise<RunReport> => {
    await db.recordRun(report);
    if (report.status === 'succeeded' || report.status === 'partial') {
      log.info({ status: report.status, files: report.files.loaded, kpiRows: report.kpiRows }, 'run loaded');
      if (config.RUN_FILES_KEEP_DAYS > 0) {
        const pruned = await db.pruneRunFiles(new Date(Date.now() - config.RUN_FILES_KEEP_DAYS * 86_400_000));
        if (pruned) log.info({ pruned, keepDays: config.RUN_FILES_KEEP_DAYS }, 'per-file rows of old runs deleted (RUN_FILES_KEEP_DAYS)');
      }
    }
    await alertOnRun(config, queues, report, log);
    await emitRunEnd(config, run, report, log);
    await releaseRun(store, queues, run, job);
    return report;
  };

  /** Once every archive job is done: the run as the load recorded it, with the archive's time (and its failed slices). */
  const archived = async (job: Job, { run, archive }: LoadJob, db: Warehouse, log: Logger): Promise<RunReport> => {
    const recorded = await db.getRun(run.runId);
    if (!recorded || !archive) throw new Error(`load ${job.id}: the run's record or its archive step is missing`);
    const slices = childResults(await job.getChildrenValues(), 'archive');
    // Its kpi child succeeded (else there is no archive step): every failure is an archive slice's.
    const failed = await ignoredFailures(job, queues);
    const report: RunReport = {
      ...recorded,
      finishedAt: new Date().toISOString(),
      stageMs: {
        ...recorded.stageMs,
        load: Date.now() - archive.loadStartedAt,
        ...(slices.length ? { archive: Math.max(...slices.map((s) => s.finishedAt)) - Math.min(...slices.map((s) => s.startedAt)) } : {}),
      },
    };
    if (failed.length) {
      // The KPIs are loaded: the files a failed slice left stay in the streams folder, and the next run takes them again, changing nothing.
      report.error = `archive: ${failed.length} of ${archive.slices} slice(s) failed, their files stay in the streams folder: ${failed.map((f) => `${f.jobId}: ${f.reason}`).join('; ')}`;
      log.error({ error: report.error }, 'files not archived');
    }
    return report;
  };

  const load = async (job: Job, data: LoadJob, log: Logger, token: string | undefined): Promise<RunReport> => {
    const { run } = data;
    const db = await warehouse();
    if (data.step === 'archive') return end(job, run, db, await archived(job, data, db, log), log);
    const startedAt = Date.now();
    const failures = (await ignoredFailures(job, queues)).map((f) => f.reason);
    const [published] = childResults(await job.getChildrenValues(), 'kpi');
    await recordUnrecordedRuns({ config, queues }, db, log);

    let report: RunReport;
    const drift = async () => {
      try {
        const schemaDrift = await recordSchemaDrift(db, run.runId, await readSourceHeaders(store, run), new Date());
        if (schemaDrift.length) log.warn({ schemaDrift }, 'schema drift: source columns changed since the previous run');
        return schemaDrift.length ? { schemaDrift } : {};
      } catch (err) {
        // The drift is news about the run, never a reason for it to fail.
        log.warn({ err: (err as Error).message }, 'schema drift not compared');
        return {};
      }
    };
    // Claimed before the transaction: a run cancelled first never commits, one committing can no longer be cancelled.
    if (!(await claimRunCommit(queues, run.runId))) {
      report = { ...failedReport(run, 'cancelled', build), status: 'cancelled' };
      log.info('run cancelled: recorded, temporaries deleted, nothing loaded');
    } else if (failures.length || !published) {
      report = { ...failedReport(run, failures.join('; ') || 'the KPI job produced no result', build), ...(await drift()) };
      log.error({ error: report.error }, 'run failed');
    } else {
      const result = published;
      const loaded = result.report.files.loaded;
      const status = result.report.files.total > 0 && loaded === 0 ? 'failed' : result.report.files.rejected ? 'partial' : 'succeeded';
      report = {
        ...result.report,
        ...runTraceId(run),
        build,
        status,
        error: status === 'failed' ? 'no stream file could be loaded' : undefined,
        finishedAt: new Date().toISOString(),
        stageMs: { ...result.report.stageMs, load: 0 },
        ...(await drift()),
      };
      const { genreUrls, hourlyUrls } = result;
      try {
        ({ report } = await db.loadRun(
          {
            runId: run.runId,
            snapshotSeq: result.snapshotSeq,
            updatedAt: new Date(),
            genre: genreUrls.length ? () => readKpiRows(store, genreUrls) : undefined,
            hourly: hourlyUrls.length ? () => readKpiRows(store, hourlyUrls) : undefined,
            // Judged in the load's transaction, before the merge, so an error-level failure can keep its date out.
            checks: { dates: report.dates.map((listenDate) => ({ listenDate, events: result.dateEvents?.[listenDate] })), settings: checkSettings(config) },
          },
          report,
          // The commit's file list, each file's duplicate events (found by the date jobs) joined as its rows are written.
          runFilesWithDuplicates(store, result.filesUrl, result.duplicateFiles, config.KPI_FILE_DUPLICATES_HELD),
        ));
      } catch (err) {
        if (!(err instanceof WarehouseDataError)) throw err; // an infrastructure fault: retried
        // A refused row is refused again on every attempt: fail the run now, recorded, its sources left in place.
        const { table, listenDate, key, column, sqlState } = err;
        log.error({ error: err.message, table, listenDate, key, column, sqlState }, 'the warehouse refused a row: run failed without retries');
        const refused: RunReport = { ...report, status: 'failed', error: err.message, stageMs: { ...report.stageMs, load: Date.now() - startedAt } };
        await db.recordRun(refused);
        await emitRunEnd(config, run, refused, log);
        await releaseRun(store, queues, run, job);
        throw Object.assign(new UnrecoverableError(err.message), { recorded: true });
      }
      const failedChecks = (report.checks ?? []).filter((c) => !c.passed);
      if (failedChecks.length) log.warn({ checks: failedChecks, blockedDates: report.blockedDates }, 'data checks failed');
      // The run is recorded loaded; it ends once its files are archived, by archive jobs any loader takes.
      const archive = await archiveJobs(ctx, run, result.filesUrl);
      if (archive.jobs.length) {
        const next = { ...data, step: 'archive', archive: { loadStartedAt: startedAt, slices: archive.jobs.length } } satisfies LoadJob;
        // Returns only when no slice is left to wait for (their jobs had finished already): the next step now.
        return load(job, await enterStep(ctx, job, token, next, archive), log, token);
      }
      report.stageMs.load = Date.now() - startedAt;
    }
    return end(job, run, db, report, log);
  };
  // A load that outlasts its own retry budget (the warehouse away for longer) leaves the run's failure in Redis;
  // the next load that reaches the warehouse records it.
  return async (job: Job, data: LoadJob, log: Logger, token: string | undefined): Promise<RunReport> => {
    try {
      return await load(job, data, log, token);
    } catch (err) {
      if (err instanceof WaitingChildrenError) throw err;
      const final = (err as Error).name === 'UnrecoverableError' || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      // A refused row's failure is recorded already, with the run's counts.
      if (final && !(err as { recorded?: boolean }).recorded) {
        // The dates it published, so a retry of only what failed knows which to load; redacted and bounded already:
        // what waits in Redis is what analytics.etl_runs can hold.
        const [published] = childResults(await job.getChildrenValues(), 'kpi');
        const report = fitRunRecord({ ...failedReport(data.run, `load: ${(err as Error).message}`, build), dates: published?.report.dates ?? [] });
        await queues.connection.hset(unrecordedRunsKey(queues.prefix), data.run.runId, JSON.stringify(report));
        log.error({ error: report.error }, 'run failed: recorded in the warehouse once it answers again');
        await emitRunEnd(config, data.run, report, log);
      }
      throw err;
    }
  };
}

const unrecordedRunsKey = (prefix: string) => `${prefix}:unrecorded-runs`;
/** Per parked run, how often the warehouse refused its record. */
const refusedRecordsKey = (prefix: string) => `${prefix}:unrecorded-runs:refused`;
/** A record the warehouse refused this many times is dropped (logged and alerted): it must never block later loads. */
const RECORD_TRIES = 3;

/**
 * Records the failed runs parked while the warehouse was away. Never throws:
 * while the warehouse is still away the records wait for a later load; one it
 * refuses is tried at RECORD_TRIES loads, then dropped with an error line and
 * an alert.
 */
async function recordUnrecordedRuns({ config, queues }: Pick<ServiceContext, 'config' | 'queues'>, db: Warehouse, log: Logger): Promise<void> {
  const redis = queues.connection;
  const [key, refusedKey] = [unrecordedRunsKey(queues.prefix), refusedRecordsKey(queues.prefix)];
  const drop = (runId: string) => redis.multi().hdel(key, runId).hdel(refusedKey, runId).exec();
  for (const [runId, entry] of Object.entries(await redis.hgetall(key))) {
    const report = parseParked(entry);
    if (!report) {
      await drop(runId);
      log.error({ failedRunId: runId }, 'failed run dropped: its parked record is not a run report');
      continue;
    }
    try {
      await db.recordRun(report);
      await drop(runId);
      log.info({ failedRunId: runId }, 'failed run recorded after the warehouse came back');
    } catch (err) {
      const error = (err as Error).message;
      if (!(err instanceof WarehouseDataError)) {
        log.warn({ failedRunId: runId, error }, 'failed run not recorded yet: trying again at the next load');
        return;
      }
      const tries = await redis.hincrby(refusedKey, runId, 1);
      if (tries < RECORD_TRIES) {
        log.warn({ failedRunId: runId, error, tries }, 'the warehouse refused the record of a failed run: trying again at the next load');
        continue;
      }
      await drop(runId);
      log.error({ failedRunId: runId, error, tries }, 'failed run dropped: the warehouse refuses its record');
      await alertOnRun(config, queues, { ...report, error: `${report.error ?? 'failed'}; its record was dropped: ${error}` }, log);
    }
  }
}

function parseParked(entry: string): RunReport | undefined {
  try {
    const parsed = runReportSchema.safeParse(JSON.parse(entry));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Deletes the run's temporaries and lets the next run of the same sources start. */
async function releaseRun(store: ObjectStore, queues: ServiceContext['queues'], run: LoadJob['run'], job: Job): Promise<void> {
  const temp = LAKE_LAYOUT.runTemp(run.lake, run.runId);
  // Marked first: a late attempt of this run (its host cut off a while) that writes after the deletion sees the mark and deletes again.
  await markRunEnded(queues.connection, queues.prefix, run.runId, temp);
  await store.deleteFolder(temp);
  const key = activeKey(queues.prefix, run.sources);
  if ((await queues.connection.get(key)) === run.runId) await queues.connection.del(key);
  await wakeBackfill(queues, job);
}

/** The report of a run that failed before anything was counted. */
export function failedReport(run: LoadJob['run'], error: string, build?: RunBuild): RunReport {
  return { ...emptyRunReport(run, 'failed'), finishedAt: new Date().toISOString(), error, ...(build ? { build } : {}) };
}
