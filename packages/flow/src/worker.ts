import { hostname } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import type { WorkerOptions } from 'node:worker_threads';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { redactSecrets, type Config, type Logger } from '@musicflow/config';
import { isJobKind, JOB_KINDS, kindsOf, parseJobData, QUEUES, type JobData, type JobKind, type Stage } from '@musicflow/contracts';
import type { ServiceContext } from './context.ts';
import { nextRetryDelay, retryDelay } from './queues.ts';
import { throwIfCancelled } from './cancel.ts';
import { startSandboxThreads } from './bullmq-internals.ts';
import { redisConnection } from './redis.ts';
import { checkWorkerDeaths } from './worker-deaths.ts';
import { holdsJobLock, isLockLost, LockLostError, sweepEndedRun } from './attempt.ts';

/** `token` is the job's lock token, for processors that move their job to waiting-children. */
export type KindProcessor<K extends JobKind> = (job: Job, data: JobData<K>, log: Logger, token: string | undefined) => Promise<unknown>;

/** The kinds of job a stage's queue carries. */
export type KindOf<S extends Stage> = { [K in JobKind]: (typeof JOB_KINDS)[K]['stage'] extends S ? K : never }[JobKind];

/** One processor per kind of job on the stage's queue. */
export type StageProcessors<S extends Stage> = { [K in KindOf<S>]: KindProcessor<K> };

/** One stage: its queue, and how to build the processor of each of its job kinds from a service context. */
export interface StageDefinition<S extends Stage = Stage> {
  stage: S;
  createProcessors(ctx: ServiceContext): StageProcessors<S>;
}

export const defineStage = <S extends Stage>(definition: StageDefinition<S>) => definition;

export interface RunningWorker {
  worker: Worker;
  /** Settles once the worker threads (if any) are up. */
  ready: Promise<void>;
  /** Stops taking work, lets the job in hand finish (or hands it back after `graceMs`), closes connections. */
  close(graceMs?: number): Promise<void>;
}

/** What a thread needs to run a stage's jobs: the module whose default export is `threadProcessor(definition)`. */
export interface ThreadData {
  musicflowStageModule: string;
  config: Config;
}

/** What a processor throws to tell BullMQ where its job went (it gave up the lock on purpose): no failure. */
const STEP_SIGNALS = new Set(['WaitingChildrenError', 'DelayedError', 'WaitingError', 'RateLimitError']);

/**
 * The job's kind from its name, its data parsed with that kind's zod schema, a
 * logger bound to run id and job id, one log line per outcome. A job of a kind
 * this queue does not carry fails at once, naming the kinds it does; a job
 * whose workers died too often fails at once too (worker-deaths.ts).
 */
export async function handleStageJob<S extends Stage>(
  definition: StageDefinition<S>,
  processors: StageProcessors<S>,
  ctx: Pick<ServiceContext, 'queues' | 'store' | 'config'>,
  log: Logger,
  job: Job,
  token: string | undefined,
): Promise<unknown> {
  const kind = job.name;
  if (!isJobKind(kind) || JOB_KINDS[kind].stage !== definition.stage) {
    throw new UnrecoverableError(`job ${job.id}: no job kind "${kind}" on the ${definition.stage} queue (it carries ${kindsOf(definition.stage).join(', ')})`);
  }
  await checkWorkerDeaths(ctx.queues, definition.stage, job, workerName(), ctx.config.JOB_MAX_WORKER_DEATHS);
  const data = parseJobData(JOB_KINDS[kind].data, job.data, `${kind} ${job.id}`);
  const processor = (processors as unknown as Record<JobKind, KindProcessor<JobKind>>)[kind];
  const runId = (data as { run?: { runId?: string } }).run?.runId;
  const jobLog = log.child({ runId, jobId: job.id, kind, attempt: job.attemptsMade + 1, ...(job.stalledCounter ? { workerDeaths: job.stalledCounter } : {}) });
  // Every job and every step of a step job starts here: a cancelled run's work stops at the next one. The loader records it.
  if (kind !== 'load' && runId) await throwIfCancelled(ctx.queues, runId);
  jobLog.info('job started');
  const started = Date.now();
  const { connection, prefix } = ctx.queues;
  let toldRefused = false;
  const refused = (err?: Error) => {
    toldRefused = true;
    jobLog.warn(
      { ms: Date.now() - started, err: err?.message },
      'late result refused: the job lock lapsed during this attempt (host cut off or process stuck) and another attempt took the job over',
    );
  };
  try {
    const result = await processor(job, data, jobLog, token);
    if (!(await holdsJobLock(connection, prefix, QUEUES[definition.stage], job, token))) {
      refused();
      throw new LockLostError(`job ${job.id}: this attempt lost the job's lock; its result is refused`);
    }
    jobLog.info({ ms: Date.now() - started }, 'job completed');
    return result;
  } catch (err) {
    // A late attempt that failed (its reads gone with the ended run, its connections cut) is refused all the same;
    // a step job's own move to waiting-children releases the lock, and BullMQ refuses it when the lock was lost.
    const { name } = err as Error;
    if (!toldRefused && !STEP_SIGNALS.has(name) && !(await holdsJobLock(connection, prefix, QUEUES[definition.stage], job, token))) {
      refused(err as Error);
    }
    // BullMQ stores the message and stack in the job's hash (failedReason, stacktrace) and its events stream.
    if (err instanceof Error) {
      err.message = redactSecrets(err.message);
      if (err.stack) err.stack = redactSecrets(err.stack);
    }
    throw err;
  } finally {
    // The loader ends the run itself; any other attempt still finishing after that is a late one.
    if (runId && kind !== 'load' && (await sweepEndedRun(connection, prefix, ctx.store, runId))) {
      jobLog.warn("the run had ended: its temporaries were deleted again, after this late attempt's writes");
    }
  }
}

const THREAD_ENTRY = fileURLToPath(new URL('./thread-entry.mjs', import.meta.url));

/** A stage's thread module beside the calling module: `thread.ts` in the sources (tsx), `thread.js` once compiled. */
export const threadModuleBeside = (moduleUrl: string) => new URL(`./thread${extname(new URL(moduleUrl).pathname)}`, moduleUrl);

const SOURCE_CONDITION_FLAG = '--conditions=@musicflow/source';

/**
 * BullMQ hands threads the process's flags, and Node refuses V8 heap flags
 * there (`--max-old-space-size` of the start scripts): threads get the flags
 * without them and the same heap limit through `resourceLimits`.
 */
function threadFlags(stageModule: string): Pick<WorkerOptions, 'execArgv' | 'resourceLimits'> {
  const heapFlag = /^--max-(old|semi)-space-size/;
  const execArgv = process.execArgv.filter((arg) => !heapFlag.test(arg));
  // Threads running the sources resolve workspace packages to src/ (packages/flow/src/source-loader.mjs).
  if (stageModule.endsWith('.ts') && !execArgv.includes(SOURCE_CONDITION_FLAG)) execArgv.push(SOURCE_CONDITION_FLAG);
  return {
    execArgv,
    resourceLimits: { maxOldGenerationSizeMb: Math.round(getHeapStatistics().heap_size_limit / 2 ** 20) },
  };
}

/** The name of this process's BullMQ workers, `host:pid`: BullMQ stores it on every job it runs (`processedBy`). */
export const workerName = () => `${hostname()}:${process.pid}`;

/**
 * Wires one stage queue to its processor. With `threadModule` (and
 * WORKER_THREADS on) the processor runs in a BullMQ sandbox on worker
 * threads (WORKER_CONCURRENCY of them per stage): CPU-heavy jobs cannot
 * starve this thread's lock renewal at all. Off by default: on 2 cores it
 * measured slower and twice the memory (docs/performance.md).
 */
export function runStageWorker<S extends Stage>(definition: StageDefinition<S>, ctx: ServiceContext, threadModule?: URL): RunningWorker {
  const { config, logger } = ctx;
  const { stage } = definition;
  const log = logger.child({ stage });
  const connection = redisConnection(config, 'worker');
  const options = {
    connection,
    prefix: config.QUEUE_PREFIX,
    concurrency: config.WORKER_CONCURRENCY,
    name: workerName(),
    // A job whose workers die: failed by its next attempt after JOB_MAX_WORKER_DEATHS (handleStageJob); BullMQ's own limit one later is the backstop.
    maxStalledCount: config.JOB_MAX_WORKER_DEATHS,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_LOCK_MS,
    settings: { backoffStrategy: (retry: number) => retryDelay(config, retry) },
  };
  let worker: Worker;
  let warming: Promise<void> = Promise.resolve();
  if (threadModule && config.WORKER_THREADS) {
    const workerData: ThreadData = { musicflowStageModule: fileURLToPath(threadModule), config };
    worker = new Worker(QUEUES[stage], THREAD_ENTRY, {
      ...options,
      useWorkerThreads: true,
      workerThreadsOptions: { workerData, ...threadFlags(workerData.musicflowStageModule) },
    });
    // Started with the worker, the threads' module loading (about half a second) stays out of the first run.
    warming = startSandboxThreads(worker, THREAD_ENTRY, config.WORKER_CONCURRENCY).catch((err: Error) =>
      log.error({ err: err.message }, 'worker thread failed to start'),
    );
  } else {
    const processors = definition.createProcessors(ctx);
    worker = new Worker(QUEUES[stage], (job, token) => handleStageJob(definition, processors, ctx, log, job, token), options);
  }
  // A failure the budget retries is a warning with its delay (a warehouse outage logs one per attempt); the last one is an error.
  worker.on('failed', (job, err) => {
    const fields = { runId: job?.data?.run?.runId, jobId: job?.id, attempt: job?.attemptsMade, err: err.message };
    const retryInMs = job && nextRetryDelay(config, job, err);
    if (retryInMs === undefined) log.error(fields, 'job failed');
    else log.warn({ ...fields, retryInMs }, 'job failed, will retry');
  });
  worker.on('error', (err) =>
    isLockLost(err)
      ? log.warn({ err: err.message }, 'job lock lost: another attempt has the job, and BullMQ refuses this one')
      : log.error({ err: err.message }, 'worker error'),
  );

  return {
    worker,
    ready: warming,
    async close(graceMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ graceMs }, 'job still running at shutdown: handing it back');
          resolve(worker.close(true));
        }, graceMs);
      });
      await warming;
      await Promise.race([worker.close(), forced]);
      clearTimeout(timer);
      connection.disconnect();
    },
  };
}
