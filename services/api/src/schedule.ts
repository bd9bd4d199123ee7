/**
 * The daily run: a BullMQ job scheduler on the `scheduler` queue adds one small
 * trigger job per firing; the trigger worker turns it into a run (startRun,
 * trigger `schedule`). A scheduler cannot add a flow itself.
 *
 * Every API or scheduler replica upserts the scheduler at start-up under the
 * fixed id `daily`, so any number of replicas keep exactly one schedule.
 * `PUT /schedules/daily` changes it; the change survives restarts until the
 * environment (DAILY_CRON, TZ_SCHEDULE) itself changes: the last pattern applied
 * from the environment is remembered in Redis, and a replica re-applies the
 * environment only when it differs from that.
 */
import { Queue, Worker, type Job } from 'bullmq';
import type { Config, Logger } from '@musicflow/config';
import { ALERTS_QUEUE, DAILY_SCHEDULER_ID, jobIds, parseJobData, SCHEDULER_QUEUE, scheduleTriggerJobSchema } from '@musicflow/contracts';
import {
  ensureFreshnessCheck,
  explainRedisError,
  newRunId,
  redisConnection,
  schedulerFiringTime,
  startRun,
  watchDeadlines,
  watchLandings,
  workerName,
  type PipelineQueues,
  type RedisClient,
  type Service,
  type ServiceContext,
} from '@musicflow/flow';
import { cronSchema, timeZoneSchema, type ScheduleView } from './schemas.ts';
import { withDeadline } from './metrics.ts';
import { redisReady } from './redis-ready.ts';

export interface SchedulePattern {
  cron: string;
  tz: string;
}

const envKey = (prefix: string, id: string) => `${prefix}:${SCHEDULER_QUEUE}:schedule-env:${id}`;
const sourceKey = (prefix: string, id: string) => `${prefix}:${SCHEDULER_QUEUE}:schedule-source:${id}`;

/** The schedule the environment asks for; a bad value throws naming the variable. */
export function patternFromConfig(config: Config): SchedulePattern {
  const cron = cronSchema.safeParse(config.DAILY_CRON);
  if (!cron.success) throw new Error(`Invalid configuration:\n  DAILY_CRON: ${cron.error.issues[0]?.message}`);
  const tz = timeZoneSchema.safeParse(config.TZ_SCHEDULE);
  if (!tz.success) throw new Error(`Invalid configuration:\n  TZ_SCHEDULE: ${tz.error.issues[0]?.message}`);
  return { cron: cron.data, tz: tz.data };
}

/** Trigger jobs are tiny; keep a bounded history of them for Bull Board. */
const template = (id: string) => ({
  name: 'trigger',
  data: { schedulerId: id },
  opts: {
    attempts: 5,
    backoff: { type: 'exponential' as const, delay: 5000 },
    removeOnComplete: { count: 200 },
    removeOnFail: { count: 200 },
  },
});

async function upsert(queue: Queue, connection: RedisClient, id: string, p: SchedulePattern, source: 'env' | 'api'): Promise<void> {
  await queue.upsertJobScheduler(id, { pattern: p.cron, tz: p.tz }, template(id));
  await connection.set(sourceKey(queue.opts.prefix ?? 'bull', id), source);
}

/**
 * Start-up: makes the daily scheduler match the environment, unless the
 * environment is unchanged since it was last applied and the scheduler exists
 * (then a pattern set through the API is kept). Idempotent: any number of
 * replicas may run it at once and leave one scheduler.
 */
export async function ensureDailySchedule(queue: Queue, connection: RedisClient, config: Config, log: Logger): Promise<void> {
  const wanted = patternFromConfig(config);
  const prefix = queue.opts.prefix ?? 'bull';
  const marker = JSON.stringify(wanted);
  const [existing, applied] = await Promise.all([queue.getJobScheduler(DAILY_SCHEDULER_ID), connection.get(envKey(prefix, DAILY_SCHEDULER_ID))]);
  if (existing && applied === marker) {
    log.info({ scheduler: DAILY_SCHEDULER_ID, cron: existing.pattern, tz: existing.tz }, 'daily schedule kept');
    return;
  }
  await upsert(queue, connection, DAILY_SCHEDULER_ID, wanted, 'env');
  await connection.set(envKey(prefix, DAILY_SCHEDULER_ID), marker);
  log.info({ scheduler: DAILY_SCHEDULER_ID, ...wanted }, 'daily schedule upserted from DAILY_CRON/TZ_SCHEDULE');
}

export async function listSchedules(queue: Queue, connection: RedisClient): Promise<ScheduleView[]> {
  const schedulers = await queue.getJobSchedulers(0, -1, true);
  const prefix = queue.opts.prefix ?? 'bull';
  return Promise.all(
    schedulers.map(async (s) => {
      const id = s.key ?? s.id ?? s.name;
      const source = await connection.get(sourceKey(prefix, id));
      return {
        id,
        cron: s.pattern ?? null,
        tz: s.tz ?? null,
        nextRunAt: s.next ? new Date(s.next).toISOString() : null,
        source: source === 'env' || source === 'api' ? source : null,
      };
    }),
  );
}

export async function getSchedule(queue: Queue, connection: RedisClient, id: string): Promise<ScheduleView | undefined> {
  return (await listSchedules(queue, connection)).find((s) => s.id === id);
}

/** `PUT /schedules/:id`: a new pattern (and optionally time zone); the next run time follows. */
export async function updateSchedule(queue: Queue, connection: RedisClient, id: string, change: { cron: string; tz?: string }): Promise<ScheduleView> {
  const current = await queue.getJobScheduler(id);
  const tz = change.tz ?? current?.tz ?? 'UTC';
  await upsert(queue, connection, id, { cron: change.cron, tz }, 'api');
  const view = await getSchedule(queue, connection, id);
  if (!view) throw new Error(`scheduler ${id} vanished right after its update`);
  return view;
}

/**
 * The trigger processor: one run per firing. The run id derives from the
 * firing time (`20260102-020000-daily`), so a trigger job that runs twice
 * (stalled worker, retry) never starts a second run.
 */
export function createTriggerProcessor(config: Config, queues: PipelineQueues, logger: Logger) {
  return async (job: Job) => {
    const data = parseJobData(scheduleTriggerJobSchema, job.data, `scheduler ${job.id}`);
    const runId = `${newRunId(schedulerFiringTime(job)).slice(0, 15)}-${data.schedulerId}`;
    const log = logger.child({ runId, jobId: job.id, scheduler: data.schedulerId });
    if ((await queues.queues.load.getJobState(jobIds.load(runId))) !== 'unknown') {
      log.info('scheduled run already started by an earlier attempt');
      return { runId, created: false };
    }
    const started = await startRun(config, queues, { trigger: 'schedule', runId, sources: data.sources });
    log.info(
      { activeRunId: started.runId, created: started.created },
      started.created ? 'scheduled run started' : 'scheduled run skipped: a run over the same sources is active',
    );
    return started;
  };
}

interface SharedScheduler {
  users: number;
  service: Promise<{ close(): Promise<void> }>;
}
const shared = new WeakMap<ServiceContext, SharedScheduler>();

/**
 * The scheduler of one process: upserts the daily schedule and runs the
 * trigger worker. `api` and `scheduler` both start it; in one process (the CLI
 * `start` runs both) they share one instance.
 */
export function startScheduler(ctx: ServiceContext): Promise<Service> {
  let entry = shared.get(ctx);
  if (!entry) {
    entry = { users: 0, service: createScheduler(ctx) };
    shared.set(ctx, entry);
    entry.service.catch(() => shared.delete(ctx));
  }
  const current = entry;
  current.users++;
  return current.service.then(
    (service) => {
      let closed = false;
      return {
        async close() {
          if (closed) return;
          closed = true;
          if (--current.users === 0) {
            shared.delete(ctx);
            await service.close();
          }
        },
      };
    },
    (err) => {
      current.users--;
      throw err;
    },
  );
}

async function createScheduler(ctx: ServiceContext): Promise<{ close(): Promise<void> }> {
  const { config } = ctx;
  const log = ctx.logger.child({ component: 'scheduler' });
  const connection = redisConnection(config, 'producer');
  let lastError: unknown = new Error('no answer');
  connection.on('error', (err) => {
    lastError = err;
    log.debug({ err: err.message }, 'redis connection error');
  });
  const queue = new Queue(SCHEDULER_QUEUE, { connection, prefix: config.QUEUE_PREFIX });
  queue.on('error', (err) => log.debug({ err: err.message }, 'scheduler queue error'));
  // The freshness check runs on the alerts queue (the loader service's alert worker), scheduled from here with the daily run.
  const alertQueue = new Queue(ALERTS_QUEUE, { connection, prefix: config.QUEUE_PREFIX });
  alertQueue.on('error', (err) => log.debug({ err: err.message }, 'alerts queue error'));
  try {
    patternFromConfig(config); // a bad DAILY_CRON / TZ_SCHEDULE is named before anything else
    await redisReady(connection, 10_000, () => explainRedisError(config, lastError));
    await ensureDailySchedule(queue, connection, config, log);
    await ensureFreshnessCheck(config, alertQueue, log);
  } catch (err) {
    await alertQueue.close();
    await queue.close();
    connection.disconnect();
    throw err;
  }

  const workerConnection = redisConnection(config, 'worker');
  const worker = new Worker(SCHEDULER_QUEUE, createTriggerProcessor(config, ctx.queues, log), {
    connection: workerConnection,
    prefix: config.QUEUE_PREFIX,
    concurrency: 1,
    name: workerName(),
  });
  worker.on('failed', (job, err) => log.error({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'trigger job failed'));
  worker.on('error', (err) => log.error({ err: err.message }, 'scheduler worker error'));
  const deadlines = watchDeadlines(config, ctx.queues, ctx.warehouse, log);
  const sensor = watchLandings(config, ctx.queues, ctx.store, log.child({ component: 'sensor' }));

  return {
    async close() {
      deadlines.close();
      sensor.close();
      // The trigger job is a few Redis calls: give it a moment, then hand it back.
      const done = await withDeadline(
        worker.close().then(() => true),
        10_000,
      );
      if (!done) await worker.close(true);
      workerConnection.disconnect();
      await withDeadline(Promise.all([queue.close(), alertQueue.close()]), 2000);
      connection.disconnect();
    },
  };
}
