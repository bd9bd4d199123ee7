import { hostname } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getHeapStatistics } from 'node:v8';
import type { WorkerOptions } from 'node:worker_threads';
import { Worker, type Job } from 'bullmq';
import type { z } from 'zod';
import type { Config, Logger } from '@musicflow/config';
import { parseJobData, QUEUES, type Stage } from '@musicflow/contracts';
import type { ServiceContext } from './context.ts';
import { startSandboxThreads } from './bullmq-internals.ts';
import { redisConnection } from './redis.ts';

/** `token` is the job's lock token, for processors that move their job to waiting-children. */
export type StageProcessor<D> = (job: Job, data: D, log: Logger, token: string | undefined) => Promise<unknown>;

/** One stage: its queue, its job data contract and how to build its processor from a service context. */
export interface StageDefinition<S extends z.ZodType = z.ZodType> {
  stage: Stage;
  schema: S;
  createProcessor(ctx: ServiceContext): StageProcessor<z.output<S>>;
}

export const defineStage = <S extends z.ZodType>(definition: StageDefinition<S>) => definition;

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

/** Job data parsed with the stage's zod schema, a logger bound to run id and job id, one log line per outcome. */
export async function handleStageJob<S extends z.ZodType>(
  definition: StageDefinition<S>,
  processor: StageProcessor<z.output<S>>,
  log: Logger,
  job: Job,
  token: string | undefined,
): Promise<unknown> {
  const data = parseJobData(definition.schema, job.data, `${definition.stage} ${job.id}`);
  const runId = (data as { run?: { runId?: string } }).run?.runId;
  const jobLog = log.child({ runId, jobId: job.id, attempt: job.attemptsMade + 1 });
  jobLog.info('job started');
  const started = Date.now();
  const result = await processor(job, data, jobLog, token);
  jobLog.info({ ms: Date.now() - started }, 'job completed');
  return result;
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
export function runStageWorker<S extends z.ZodType>(
  definition: StageDefinition<S>,
  ctx: ServiceContext,
  threadModule?: URL,
): RunningWorker {
  const { config, logger } = ctx;
  const { stage } = definition;
  const log = logger.child({ stage });
  const connection = redisConnection(config.REDIS_URL, 'worker');
  const options = { connection, prefix: config.QUEUE_PREFIX, concurrency: config.WORKER_CONCURRENCY, name: workerName() };
  let worker: Worker;
  let warming: Promise<void> = Promise.resolve();
  if (threadModule && config.WORKER_THREADS) {
    const workerData: ThreadData = { musicflowStageModule: fileURLToPath(threadModule), config };
    worker = new Worker(QUEUES[stage], THREAD_ENTRY, { ...options, useWorkerThreads: true, workerThreadsOptions: { workerData, ...threadFlags(workerData.musicflowStageModule) } });
    // Started with the worker, the threads' module loading (about half a second) stays out of the first run.
    warming = startSandboxThreads(worker, THREAD_ENTRY, config.WORKER_CONCURRENCY).catch((err: Error) => log.error({ err: err.message }, 'worker thread failed to start'));
  } else {
    const processor = definition.createProcessor(ctx);
    worker = new Worker(QUEUES[stage], (job, token) => handleStageJob(definition, processor, log, job, token), options);
  }
  worker.on('failed', (job, err) =>
    log.error({ runId: job?.data?.run?.runId, jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed'),
  );
  worker.on('error', (err) => log.error({ err: err.message }, 'worker error'));

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
