/**
 * Prometheus metrics of the whole pipeline, served by the API.
 *
 * Where each number comes from, and why:
 * - Job counts per queue and state (`musicflow_jobs_completed`,
 *   `musicflow_jobs_failed`, `musicflow_queue_jobs{state}`) are read from
 *   BullMQ `getJobCounts` at scrape time. They are gauges: BullMQ keeps
 *   finished jobs for a week (bounded in count, see jobOptions), so the
 *   numbers are "jobs retained in that state", the same for every API replica.
 * - Job durations (`musicflow_job_duration_seconds`) come from QueueEvents:
 *   each API process listens to the `completed`/`failed` events of every queue
 *   and observes `finishedOn - processedOn` of the job. Workers run in other
 *   processes (any number of replicas, on other machines), so a worker-side
 *   registry would need one scrape target per worker; the event stream sees
 *   every job wherever it ran. Each API replica observes every job once, so
 *   aggregate across replicas with max(), not sum().
 * - Rows and runs (`musicflow_rows_*_total`, `musicflow_runs_total`,
 *   `musicflow_last_successful_run_timestamp_seconds`) are aggregated from
 *   `analytics.etl_runs`: one row per run, written in the same transaction as
 *   the KPIs, so they count each run exactly once, survive restarts, and agree
 *   between replicas.
 * - Workers (`musicflow_queue_workers`, `musicflow_queue_no_worker_seconds`,
 *   `musicflow_jobs_orphaned`) are read at scrape time: the workers connected
 *   to each queue (BullMQ `getWorkers`, the Redis connections a worker names),
 *   and active jobs whose worker (`processedBy`) is not among them;
 *   `musicflow_jobs_unreachable`: active jobs whose lock went unrenewed (a
 *   worker on a host cut off still looks connected for minutes). A queue
 *   with jobs ready to run and no worker counts its seconds from the first
 *   scrape of this process that saw it so. Stalled jobs
 *   (`musicflow_jobs_stalled_total`) come from the QueueEvents `stalled` event,
 *   per API replica like the durations. See docs/operating-health.md.
 * - Data quality (`musicflow_data_check_failed_total`,
 *   `musicflow_data_check_blocked_total`, `musicflow_schema_drift_columns`)
 *   is read from `analytics.etl_checks` and `analytics.etl_source_headers`,
 *   written by the loader, so every replica serves the same numbers.
 * A backing service that is down leaves its metrics at their last value and
 * sets `musicflow_metrics_source_up{source}` to 0 instead of failing the scrape.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { Job, QueueEvents, type Queue } from 'bullmq';
import { redactSecrets, type Config, type Logger } from '@musicflow/config';
import {
  readDeadlines,
  readOrphanedJobs,
  readQueueWorkers,
  readUnrenewedLocks,
  redisConnection,
  type RedisClient,
  type RedisSettings,
  type SensorStatus,
} from '@musicflow/flow';
import { LAST_FINISHED_REPORT_SQL, readFreshness, type RunTotalsRow, type Warehouse } from '@musicflow/warehouse';
import { DATA_CHECK_NAMES, SCHEMA_SOURCES, type RunReport } from '@musicflow/contracts';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed'] as const;
/** States of jobs a worker of the queue could take (or holds): a queue with any of them needs a worker. */
const READY_STATES = ['waiting', 'active', 'delayed', 'prioritized'] as const;

export interface MetricsDeps {
  redis: RedisSettings;
  prefix: string;
  queues: Queue[];
  redisReady: () => Promise<void>;
  warehouse: () => Promise<Warehouse>;
  logger: Logger;
  /** DEADLINE and DEADLINE_WARN, JOB_LOCK_MS. */
  config: Config;
  /** What the landing sensor saw at its last look. */
  sensor: () => Promise<SensorStatus>;
}

export class ApiMetrics {
  readonly registry = new Registry();
  private readonly events: { events: QueueEvents; connection: RedisClient }[] = [];

  private readonly jobsCompleted: Gauge;
  private readonly jobsFailed: Gauge;
  private readonly queueJobs: Gauge;
  private readonly duration: Histogram;
  private readonly rowsProcessed: Counter;
  private readonly rowsValid: Counter;
  private readonly rowsRejected: Counter;
  private readonly rowsDuplicate: Counter;
  private readonly runs: Counter;
  private readonly lastSuccess: Gauge;
  private readonly sourceUp: Gauge;
  private readonly newestListenDate: Gauge;
  private readonly newestListenDateAge: Gauge;
  private readonly lastSuccessAge: Gauge;
  private readonly dataCheck: Gauge;
  private readonly checkFailed: Counter;
  private readonly checkBlocked: Counter;
  private readonly schemaDrift: Gauge;
  private readonly deadlineMissed: Gauge;
  private readonly sensor: Gauge;
  private readonly workers: Gauge;
  private readonly noWorkerSeconds: Gauge;
  private readonly orphaned: Gauge;
  private readonly unreachable: Gauge;
  private readonly stalled: Counter;
  /** Since when (ms epoch) each queue with ready jobs has been seen without a worker. */
  private readonly noWorkerSince = new Map<string, number>();

  constructor(private readonly deps: MetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'musicflow_api_' });
    this.jobsCompleted = new Gauge({
      name: 'musicflow_jobs_completed',
      help: 'Completed jobs retained per queue (BullMQ getJobCounts)',
      labelNames: ['queue'],
      registers,
    });
    this.jobsFailed = new Gauge({
      name: 'musicflow_jobs_failed',
      help: 'Failed jobs retained per queue (BullMQ getJobCounts)',
      labelNames: ['queue'],
      registers,
    });
    this.queueJobs = new Gauge({
      name: 'musicflow_queue_jobs',
      help: 'Jobs per queue and state (BullMQ getJobCounts)',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.duration = new Histogram({
      name: 'musicflow_job_duration_seconds',
      help: 'Processing time of jobs (finishedOn - processedOn of the last attempt), per queue and outcome',
      labelNames: ['queue', 'status'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800],
      registers,
    });
    this.rowsProcessed = new Counter({ name: 'musicflow_rows_processed_total', help: 'Stream rows read by finished runs (analytics.etl_runs)', registers });
    this.rowsValid = new Counter({ name: 'musicflow_rows_valid_total', help: 'Valid stream rows of finished runs', registers });
    this.rowsRejected = new Counter({ name: 'musicflow_rows_rejected_total', help: 'Stream rows rejected (quarantined) by finished runs', registers });
    this.rowsDuplicate = new Counter({ name: 'musicflow_rows_duplicate_total', help: 'Duplicate stream events skipped by finished runs', registers });
    this.runs = new Counter({ name: 'musicflow_runs_total', help: 'Finished runs per status', labelNames: ['status'], registers });
    this.lastSuccess = new Gauge({
      name: 'musicflow_last_successful_run_timestamp_seconds',
      help: 'End time (Unix seconds) of the last run that succeeded or was partial; 0 when none',
      registers,
    });
    this.newestListenDate = new Gauge({
      name: 'musicflow_newest_listen_date_timestamp_seconds',
      help: 'Start (Unix seconds, UTC) of the newest listen_date with KPI rows; 0 when none',
      registers,
    });
    this.newestListenDateAge = new Gauge({
      name: 'musicflow_newest_listen_date_age_seconds',
      help: 'Seconds since the end of the newest listen_date with KPI rows; -1 when none',
      registers,
    });
    this.lastSuccessAge = new Gauge({
      name: 'musicflow_last_successful_run_age_seconds',
      help: 'Seconds since the last run that succeeded or was partial ended; -1 when none',
      registers,
    });
    this.dataCheck = new Gauge({
      name: 'musicflow_data_check_passed',
      help: 'Data checks of the newest finished run that ran them: 1 passed, 0 failed',
      labelNames: ['check'],
      registers,
    });
    this.checkFailed = new Counter({
      name: 'musicflow_data_check_failed_total',
      help: 'Failed data checks over every load, one per check and listen date (analytics.etl_checks), per check and severity',
      labelNames: ['check', 'severity'],
      registers,
    });
    this.checkBlocked = new Counter({
      name: 'musicflow_data_check_blocked_total',
      help: 'Listen dates a failed error-level check kept out of a load (CHECKS_BLOCK_ON_ERROR), per check',
      labelNames: ['check'],
      registers,
    });
    this.schemaDrift = new Gauge({
      name: 'musicflow_schema_drift_columns',
      help: 'Columns added, missing or renamed in a source (streams, users, songs) since the run before the newest run that read it',
      labelNames: ['source', 'change'],
      registers,
    });
    this.deadlineMissed = new Gauge({
      name: 'musicflow_deadline_missed',
      help: 'Per DEADLINE level (warn, error): 1 when the newest listen date due has no KPI rows, 0 when it was loaded',
      labelNames: ['level', 'listen_date'],
      registers,
    });
    this.sensor = new Gauge({
      name: 'musicflow_sensor',
      help:
        'The landing sensor (SENSOR_INTERVAL) at its last look: last_check_timestamp_seconds, files (stream files listed), ' +
        'waiting (new or changed ones no run took yet), last_run_timestamp_seconds; absent while it has not looked',
      labelNames: ['measure'],
      registers,
    });
    this.workers = new Gauge({
      name: 'musicflow_queue_workers',
      help: 'Workers connected to each queue (BullMQ getWorkers)',
      labelNames: ['queue'],
      registers,
    });
    this.noWorkerSeconds = new Gauge({
      name: 'musicflow_queue_no_worker_seconds',
      help: 'Seconds a queue with jobs ready to run (waiting, active, delayed) has had no worker; 0 when it has one or nothing to do',
      labelNames: ['queue'],
      registers,
    });
    this.orphaned = new Gauge({
      name: 'musicflow_jobs_orphaned',
      help: 'Active jobs whose worker is no longer connected (died mid-job); a live worker hands them back once their lock expires',
      labelNames: ['queue'],
      registers,
    });
    this.unreachable = new Gauge({
      name: 'musicflow_jobs_unreachable',
      help: 'Active jobs whose worker has not renewed their lock for 20 s or more (its host cut off, or the process stuck); a live worker takes them over once the lock lapses',
      labelNames: ['queue'],
      registers,
    });
    this.stalled = new Counter({
      name: 'musicflow_jobs_stalled_total',
      help: 'Jobs BullMQ found stalled (lock expired: worker died or starved) since this API process started, per queue',
      labelNames: ['queue'],
      registers,
    });
    this.sourceUp = new Gauge({
      name: 'musicflow_metrics_source_up',
      help: '1 when the source of a metric family answered this scrape',
      labelNames: ['source'],
      registers,
    });
  }

  /** Starts listening to job events of every queue (for the duration histogram). */
  start(): void {
    for (const queue of this.deps.queues) {
      const connection = redisConnection(this.deps.redis, 'worker');
      connection.on('error', () => undefined); // reported by /health; the events stream resumes on reconnect
      const events = new QueueEvents(queue.name, { connection, prefix: this.deps.prefix });
      events.on('error', () => undefined);
      const observe =
        (status: 'completed' | 'failed') =>
        async ({ jobId }: { jobId: string }) => {
          try {
            const job = await Job.fromId(queue, jobId);
            if (job?.processedOn && job.finishedOn) {
              this.duration.observe({ queue: queue.name, status }, Math.max(0, job.finishedOn - job.processedOn) / 1000);
            }
          } catch {
            // The job was removed meanwhile or Redis is away: this sample is lost, nothing else is.
          }
        };
      events.on('completed', (event) => void observe('completed')(event));
      events.on('failed', (event) => void observe('failed')(event));
      this.stalled.inc({ queue: queue.name }, 0);
      events.on('stalled', () => this.stalled.inc({ queue: queue.name }));
      this.events.push({ events, connection });
    }
  }

  /** Reads the current values from Redis and the warehouse; called before each scrape. */
  async refresh(): Promise<void> {
    await Promise.all([this.refreshQueues(), this.refreshRuns()]);
  }

  async render(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private async refreshQueues(): Promise<void> {
    try {
      await this.deps.redisReady();
      const counting = Promise.all(this.deps.queues.map(async (q) => [q.name, await q.getJobCounts(...STATES)] as const));
      const all = await withDeadline(counting, 3000);
      if (!all) throw new Error('Redis did not answer within 3000 ms');
      for (const [queue, counts] of all) {
        this.jobsCompleted.set({ queue }, counts.completed ?? 0);
        this.jobsFailed.set({ queue }, counts.failed ?? 0);
        for (const state of STATES) this.queueJobs.set({ queue, state }, counts[state] ?? 0);
      }
      const ready = new Map(all.map(([queue, counts]) => [queue, READY_STATES.some((state) => (counts[state] ?? 0) > 0)]));
      const workers = await withDeadline(Promise.all(this.deps.queues.map((q) => this.refreshWorkers(q, ready.get(q.name) ?? false))), 3000);
      if (!workers) throw new Error('Redis did not answer within 3000 ms');
      await this.refreshSensor();
      this.sourceUp.set({ source: 'redis' }, 1);
    } catch (err) {
      this.sourceUp.set({ source: 'redis' }, 0);
      this.deps.logger.warn({ err: redactSecrets((err as Error).message) }, 'metrics: queue counts unavailable');
    }
  }

  private async refreshSensor(): Promise<void> {
    const s = await this.deps.sensor();
    this.sensor.reset();
    const measures = {
      last_check_timestamp_seconds: s.checkedAt && s.checkedAt / 1000,
      files: s.files,
      waiting: s.waiting,
      last_run_timestamp_seconds: s.lastRunAt && s.lastRunAt / 1000,
    };
    for (const [measure, value] of Object.entries(measures)) if (value !== undefined) this.sensor.set({ measure }, value);
  }

  private async refreshWorkers(queue: Queue, hasReadyJobs: boolean): Promise<void> {
    const now = Date.now();
    const workers = await readQueueWorkers(queue);
    this.workers.set({ queue: queue.name }, workers.length);
    if (workers.length || !hasReadyJobs) this.noWorkerSince.delete(queue.name);
    else if (!this.noWorkerSince.has(queue.name)) this.noWorkerSince.set(queue.name, now);
    const since = this.noWorkerSince.get(queue.name);
    this.noWorkerSeconds.set({ queue: queue.name }, since === undefined ? 0 : (now - since) / 1000);
    this.orphaned.set({ queue: queue.name }, hasReadyJobs ? (await readOrphanedJobs(queue, workers)).length : 0);
    this.unreachable.set(
      { queue: queue.name },
      hasReadyJobs ? (await readUnrenewedLocks(queue, await queue.getJobs(['active']), this.deps.config.JOB_LOCK_MS)).length : 0,
    );
  }

  private async refreshRuns(): Promise<void> {
    try {
      const warehouse = await this.deps.warehouse();
      const [rows, last] = await Promise.all([warehouse.runTotals(), warehouse.lastSuccessfulRunAt()]);
      const sum = (key: keyof RunTotalsRow) => rows.reduce((n, r) => n + Number(r[key]), 0);
      // Absolute totals from the warehouse: reset and set in one synchronous step, so a scrape never sees half.
      for (const [counter, value] of [
        [this.rowsProcessed, sum('rows_read')],
        [this.rowsValid, sum('rows_valid')],
        [this.rowsRejected, sum('rows_rejected')],
        [this.rowsDuplicate, sum('rows_duplicate')],
      ] as const) {
        counter.reset();
        counter.inc(value);
      }
      this.runs.reset();
      for (const status of ['succeeded', 'partial', 'failed', 'cancelled']) this.runs.inc({ status }, 0);
      for (const r of rows) this.runs.inc({ status: r.status }, Number(r.runs));
      this.lastSuccess.set(last ? last.getTime() / 1000 : 0);
      await this.refreshFreshness(warehouse);
      this.sourceUp.set({ source: 'warehouse' }, 1);
    } catch (err) {
      this.sourceUp.set({ source: 'warehouse' }, 0);
      this.deps.logger.warn({ err: redactSecrets((err as Error).message) }, 'metrics: warehouse unavailable');
    }
  }

  /** Freshness of the warehouse, and the data checks of the newest finished run (from its report). */
  private async refreshFreshness(warehouse: Warehouse): Promise<void> {
    const [freshness, [newest]] = await Promise.all([readFreshness(warehouse), warehouse.query<{ report: string }>(LAST_FINISHED_REPORT_SQL)]);
    this.newestListenDate.set(freshness.newestListenDate ? Date.parse(`${freshness.newestListenDate}T00:00:00Z`) / 1000 : 0);
    this.newestListenDateAge.set(freshness.newestListenDateAgeSeconds ?? -1);
    this.lastSuccessAge.set(freshness.lastSuccessfulRunAgeSeconds ?? -1);
    this.deadlineMissed.reset();
    for (const d of await readDeadlines(this.deps.config, warehouse))
      this.deadlineMissed.set({ level: d.level, listen_date: d.listenDate }, d.state === 'missed' ? 1 : 0);
    const checks = newest ? ((JSON.parse(newest.report) as RunReport).checks ?? []) : [];
    this.dataCheck.reset();
    for (const name of DATA_CHECK_NAMES) {
      const check = checks.find((c) => c.name === name);
      if (check) this.dataCheck.set({ check: name }, check.passed ? 1 : 0);
    }
    await this.refreshCheckHistory(warehouse);
  }

  /** Check failures over every load, and each source's newest schema drift: absolute values, set in one synchronous step. */
  private async refreshCheckHistory(warehouse: Warehouse): Promise<void> {
    const [failures, drift] = await Promise.all([warehouse.checkFailures(), warehouse.newestSchemaDrift()]);
    this.checkFailed.reset();
    this.checkBlocked.reset();
    for (const check of DATA_CHECK_NAMES) this.checkBlocked.inc({ check }, 0);
    for (const f of failures) {
      this.checkFailed.inc({ check: f.check, severity: f.severity }, f.failed);
      this.checkBlocked.inc({ check: f.check }, f.blocked);
    }
    this.schemaDrift.reset();
    for (const source of SCHEMA_SOURCES) {
      const d = drift.find((r) => r.source === source);
      for (const change of ['added', 'missing', 'renamed'] as const) this.schemaDrift.set({ source, change }, d?.[change] ?? 0);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      this.events.map(async ({ events, connection }) => {
        await withDeadline(events.close(), 2000);
        connection.disconnect();
      }),
    );
  }
}

/** Resolves when `promise` settles or after `ms`, whichever comes first. */
export async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    return await Promise.race([promise.catch(() => undefined), deadline]);
  } finally {
    clearTimeout(timer);
  }
}
