import { Worker, type Job } from 'bullmq';
import type { z } from 'zod';
import type { Config, Logger } from '@musicflow/config';
import { parseJobData, QUEUES, type Stage } from '@musicflow/contracts';
import { redisConnection } from './redis.ts';

export type StageProcessor<D> = (job: Job, data: D, log: Logger) => Promise<unknown>;

export interface StageWorkerDeps {
  config: Config;
  logger: Logger;
}

export interface RunningWorker {
  worker: Worker;
  /** Stops taking jobs, lets the job in hand finish (or hands it back after `graceMs`), closes connections. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Wires one stage queue to its processor: job data parsed with the stage's
 * zod schema, a logger bound to run id and job id, one log line per outcome.
 */
export function runStageWorker<S extends z.ZodType>(
  stage: Stage,
  schema: S,
  processor: StageProcessor<z.output<S>>,
  { config, logger }: StageWorkerDeps,
): RunningWorker {
  const log = logger.child({ stage });
  const connection = redisConnection(config.REDIS_URL, 'worker');
  const worker = new Worker(
    QUEUES[stage],
    async (job) => {
      const data = parseJobData(schema, job.data, `${stage} ${job.id}`);
      const runId = (data as { run?: { runId?: string } }).run?.runId;
      const jobLog = log.child({ runId, jobId: job.id, attempt: job.attemptsMade + 1 });
      jobLog.info('job started');
      const started = Date.now();
      const result = await processor(job, data, jobLog);
      jobLog.info({ ms: Date.now() - started }, 'job completed');
      return result;
    },
    { connection, prefix: config.QUEUE_PREFIX, concurrency: config.WORKER_CONCURRENCY },
  );
  worker.on('failed', (job, err) =>
    log.error({ runId: job?.data?.run?.runId, jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed'),
  );
  worker.on('error', (err) => log.error({ err: err.message }, 'worker error'));

  return {
    worker,
    async close(graceMs = 30_000) {
      let timer: NodeJS.Timeout | undefined;
      const forced = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ graceMs }, 'job still running at shutdown: handing it back');
          resolve(worker.close(true));
        }, graceMs);
      });
      await Promise.race([worker.close(), forced]);
      clearTimeout(timer);
      connection.disconnect();
    },
  };
}
