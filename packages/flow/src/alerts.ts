/**
 * Alerts to ALERT_WEBHOOK_URL. The loader only adds a job to the `alerts`
 * queue (one Redis call) once the run is recorded; the alert worker POSTs it,
 * and BullMQ retries a failed delivery a few times (ALERT_ATTEMPTS, at most
 * JOB_ATTEMPTS when set, exponential backoff) on that queue, so a receiver
 * that is down or slow never fails or holds a run.
 * The same worker runs the freshness check the scheduler fires.
 */
import { Queue, Worker, type Job } from 'bullmq';
import { redactDeep, type Config, type Logger } from '@musicflow/config';
import {
  ALERTS_QUEUE,
  alertJobIds,
  alertDeliverJobSchema,
  FRESHNESS_SCHEDULER_ID,
  parseJobData,
  type AlertPayload,
  type RunReport,
  type SchemaDrift,
} from '@musicflow/contracts';
import { readFreshness, type Freshness } from '@musicflow/warehouse';
import type { ServiceContext } from './context.ts';
import { jobOptions, type PipelineQueues } from './queues.ts';
import { redisConnection } from './redis.ts';
import { workerName } from './worker.ts';

/** A receiver gets this long to answer one delivery before it counts as failed (and is retried). */
const DELIVERY_TIMEOUT_MS = 5000;

const alertQueues = new WeakMap<PipelineQueues, Queue>();
/** The alerts queue on the process's connection (it closes with the connection). */
function alertQueue(queues: PipelineQueues): Queue {
  let queue = alertQueues.get(queues);
  if (!queue) alertQueues.set(queues, (queue = new Queue(ALERTS_QUEUE, { connection: queues.connection, prefix: queues.prefix })));
  return queue;
}

/** What a receiver is told about a failed or partial run, a run with a failed check, or one whose sources' columns changed. */
export function runAlert(report: RunReport): AlertPayload {
  const failedChecks = (report.checks ?? []).filter((c) => !c.passed).map(({ name, detail, severity }) => ({ name, detail, severity }));
  const drift = report.schemaDrift ?? [];
  // The report names the first rejected files; GET /runs/:id/files lists them all.
  const rejected = report.files.firstRejected;
  const lines = [`musicflow run ${report.runId} (${report.trigger}) ended ${report.status.toUpperCase()}`];
  if (report.error) lines.push(`error: ${report.error}`);
  lines.push(
    `files: ${report.files.loaded} loaded, ${report.files.rejected} rejected of ${report.files.total}; rows: ${report.rows.valid} valid, ${report.rows.rejected} rejected of ${report.rows.read}`,
  );
  for (const f of rejected) lines.push(`rejected ${f.file}: ${f.reasons.join('; ')}`);
  for (const c of failedChecks) lines.push(`data check failed${c.severity ? ` [${c.severity}]` : ''}: ${c.name}${c.detail ? ` (${c.detail})` : ''}`);
  for (const b of report.blockedDates ?? []) lines.push(`listen date ${b.listenDate} not loaded: ${b.checks.join(', ')}`);
  for (const d of drift) lines.push(`schema drift: ${driftText(d)}`);
  return {
    text: lines.join('\n'),
    kind: 'run',
    runId: report.runId,
    trigger: report.trigger,
    status: report.status,
    counts: {
      files: { total: report.files.total, loaded: report.files.loaded, rejected: report.files.rejected },
      rows: {
        read: report.rows.read,
        valid: report.rows.valid,
        rejected: report.rows.rejected,
        duplicate: report.rows.duplicate,
        orphanTracks: report.rows.orphanTracks,
        orphanUsers: report.rows.orphanUsers,
      },
    },
    error: report.error,
    rejectedFiles: rejected,
    failedChecks,
    ...(report.blockedDates?.length ? { blockedDates: report.blockedDates } : {}),
    ...(drift.length ? { schemaDrift: drift } : {}),
  };
}

/** `songs file:///…/songs.csv: missing track_genre; added genre; renamed popularity → score (3 files: a.csv, …)`. */
export function driftText(d: SchemaDrift): string {
  const parts = [
    d.missing.length ? `missing ${d.missing.join(', ')}` : '',
    d.added.length ? `added ${d.added.join(', ')}` : '',
    d.renamed.length ? `renamed ${d.renamed.map((r) => `${r.from} → ${r.to}`).join(', ')}` : '',
  ].filter(Boolean);
  const files = d.files === undefined ? '' : ` (${d.files} file(s)${d.examples?.length ? `: ${d.examples.join(', ')}` : ''})`;
  return `${d.source} ${d.url}: ${parts.join('; ')}${files}`;
}

/** Whether a run's end is news: it failed or was partial, a check failed (warn-level too), or a source's columns changed. */
const alertable = (report: RunReport) =>
  report.status === 'failed' || report.status === 'partial' || (report.checks ?? []).some((c) => !c.passed) || (report.schemaDrift ?? []).length > 0;

export function staleAlert(freshness: Freshness, maxAgeMs: number): AlertPayload {
  const hours = (s: number) => `${(s / 3600).toFixed(1)} h`;
  const since = freshness.lastSuccessfulRunAt ? `since ${freshness.lastSuccessfulRunAt} (${hours(freshness.lastSuccessfulRunAgeSeconds ?? 0)})` : 'ever';
  return {
    text: `musicflow KPIs are stale: no run has loaded data ${since}, more than the ${hours(maxAgeMs / 1000)} allowed (FRESHNESS_MAX_AGE); newest listen date ${freshness.newestListenDate ?? 'none'}`,
    kind: 'stale',
    freshness: {
      lastSuccessfulRunAt: freshness.lastSuccessfulRunAt,
      lastSuccessfulRunAgeSeconds: freshness.lastSuccessfulRunAgeSeconds,
      newestListenDate: freshness.newestListenDate,
      maxAgeSeconds: maxAgeMs / 1000,
    },
  };
}

/** Whether a successful run is overdue: one succeeded (or was partial) longer than `maxAgeMs` ago. */
export function isStale(freshness: Freshness, maxAgeMs: number): boolean {
  return freshness.lastSuccessfulRunAgeSeconds !== null && freshness.lastSuccessfulRunAgeSeconds * 1000 > maxAgeMs;
}

/** Deliveries of one alert: a receiver down for longer hears of the next failure instead. */
const ALERT_ATTEMPTS = 5;

export async function enqueueAlert(config: Config, queues: PipelineQueues, jobId: string, payload: AlertPayload): Promise<void> {
  // A fixed id: a loader or freshness job that runs twice never sends twice.
  await alertQueue(queues).add(
    'deliver',
    { payload },
    {
      ...jobOptions(config),
      attempts: Math.min(ALERT_ATTEMPTS, config.JOB_ATTEMPTS ?? ALERT_ATTEMPTS),
      backoff: { type: 'exponential', delay: config.JOB_BACKOFF_MS },
      jobId,
    },
  );
}

/** Called by the loader once a run is recorded: alertable runs (see `alertable`) alert when ALERT_WEBHOOK_URL is set. */
export async function alertOnRun(config: Config, queues: PipelineQueues, report: RunReport, log: Logger): Promise<void> {
  if (!config.ALERT_WEBHOOK_URL || !alertable(report)) return;
  try {
    await enqueueAlert(config, queues, alertJobIds.run(report.runId), runAlert(redactDeep(report)));
    log.info({ status: report.status }, 'run alert queued');
  } catch (err) {
    // The run is recorded already: a lost alert must not fail it.
    log.error({ err: (err as Error).message }, 'run alert could not be queued');
  }
}

/**
 * POSTs one alert; throws (so BullMQ retries) on a network error, a timeout or
 * a non-2xx answer. A redirect is not followed (it would carry the alert, body
 * and all, wherever the receiver points): it counts as a failure. Only the
 * receiver's origin is ever named: a webhook URL's path is often its secret.
 */
export async function deliverAlert(url: string, payload: AlertPayload): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(payload),
    redirect: 'manual',
    signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
  });
  await response.arrayBuffer().catch(() => undefined);
  const receiver = `alert receiver ${new URL(url).origin}`;
  if (response.status >= 300 && response.status < 400) {
    throw new Error(`${receiver} answered ${response.status}, a redirect, which is not followed: set ALERT_WEBHOOK_URL to the address it points to`);
  }
  if (!response.ok) throw new Error(`${receiver} answered ${response.status}`);
}

/** How often the freshness check runs: a quarter of the allowed age, between 1 s and 15 min. */
export const freshnessCheckEveryMs = (maxAgeMs: number) => Math.min(15 * 60_000, Math.max(1000, Math.floor(maxAgeMs / 4)));

/**
 * Keeps the freshness check's job scheduler on the alerts queue in line with
 * the environment: present while ALERT_WEBHOOK_URL is set, gone otherwise.
 * Idempotent, so every scheduler replica may run it.
 */
export async function ensureFreshnessCheck(config: Config, queue: Queue, log: Logger): Promise<void> {
  if (!config.ALERT_WEBHOOK_URL) {
    await queue.removeJobScheduler(FRESHNESS_SCHEDULER_ID);
    return;
  }
  const every = freshnessCheckEveryMs(config.FRESHNESS_MAX_AGE);
  await queue.upsertJobScheduler(
    FRESHNESS_SCHEDULER_ID,
    { every },
    {
      name: 'freshness',
      data: {},
      opts: { removeOnComplete: { count: 100 }, removeOnFail: { count: 100 } },
    },
  );
  log.info({ every, maxAge: config.FRESHNESS_MAX_AGE }, 'freshness check scheduled');
}

/** The alert worker: delivers `deliver` jobs and runs `freshness` checks. Runs in the loader service. */
export function startAlertWorker(ctx: ServiceContext): { close(): Promise<void> } {
  const { config } = ctx;
  const log = ctx.logger.child({ component: 'alerts' });
  const connection = redisConnection(config, 'worker');
  const processAlertJob = async (job: Job) => {
    if (job.name === 'freshness') {
      const freshness = await readFreshness(await ctx.warehouse());
      if (config.ALERT_WEBHOOK_URL && isStale(freshness, config.FRESHNESS_MAX_AGE)) {
        const lastSuccess = freshness.lastSuccessfulRunAt ? Date.parse(freshness.lastSuccessfulRunAt) : undefined;
        await enqueueAlert(config, ctx.queues, alertJobIds.stale(lastSuccess), staleAlert(freshness, config.FRESHNESS_MAX_AGE));
      }
      return freshness;
    }
    const { payload } = parseJobData(alertDeliverJobSchema, job.data, `alert ${job.id}`);
    if (!config.ALERT_WEBHOOK_URL) {
      log.warn({ jobId: job.id }, 'alert dropped: ALERT_WEBHOOK_URL is not set on this worker');
      return { delivered: false };
    }
    await deliverAlert(config.ALERT_WEBHOOK_URL, payload);
    log.info({ jobId: job.id, runId: payload.runId, kind: payload.kind }, 'alert delivered');
    return { delivered: true };
  };
  const worker = new Worker(ALERTS_QUEUE, processAlertJob, { connection, prefix: config.QUEUE_PREFIX, concurrency: 4, name: workerName() });
  worker.on('failed', (job, err) => {
    const final = job && job.attemptsMade >= (job.opts.attempts ?? 1);
    log[final ? 'error' : 'warn'](
      { jobId: job?.id, attempt: job?.attemptsMade, err: err.message },
      final ? 'alert not delivered, attempts exhausted' : 'alert delivery failed, will retry',
    );
  });
  worker.on('error', (err) => log.error({ err: err.message }, 'alert worker error'));
  return {
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}
