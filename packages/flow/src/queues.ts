import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { Config } from '@musicflow/config';
import { QUEUES, STAGES, type Stage } from '@musicflow/contracts';
import type { RedisClient } from './redis.ts';

/** The name of musicflow's backoff on every stage job; each stage worker computes it with `retryDelay`. */
export const RETRY_BACKOFF = 'budgeted-exponential';

type RetrySettings = Pick<Config, 'RETRY_BUDGET_MS' | 'RETRY_BACKOFF_MAX_MS' | 'JOB_BACKOFF_MS'>;

/**
 * Delay before retry `retry` (1 = the first): JOB_BACKOFF_MS doubled each
 * time, capped at RETRY_BACKOFF_MAX_MS, the last one cut so that all of them
 * add up to RETRY_BUDGET_MS; -1 once the budget is spent (BullMQ then fails the job).
 */
export function retryDelay(config: RetrySettings, retry: number): number {
  let spent = 0;
  for (let n = 1; ; n++) {
    const left = config.RETRY_BUDGET_MS - spent;
    if (left <= 0) return -1;
    const delay = Math.min(left, config.RETRY_BACKOFF_MAX_MS, config.JOB_BACKOFF_MS * 2 ** Math.min(n - 1, 40));
    if (n === retry) return delay;
    spent += delay;
  }
}

/**
 * After a failed attempt (`attemptsMade` counts it): the delay before the next
 * one, or undefined when there is none (an UnrecoverableError, the attempts or
 * the budget spent).
 */
export function nextRetryDelay(config: RetrySettings, job: { attemptsMade: number; opts: { attempts?: number } }, err: Error): number | undefined {
  if (err.name === 'UnrecoverableError' || job.attemptsMade >= (job.opts.attempts ?? 1)) return undefined;
  const delay = retryDelay(config, job.attemptsMade);
  return delay === -1 ? undefined : delay;
}

/** Attempts a job gets: the first one plus every retry the budget holds, at most JOB_ATTEMPTS when set. */
export function retryAttempts(config: RetrySettings & Pick<Config, 'JOB_ATTEMPTS'>): number {
  let retries = 0;
  while (retryDelay(config, retries + 1) !== -1) retries++;
  return Math.min(retries + 1, config.JOB_ATTEMPTS ?? Infinity);
}

/**
 * Retries are for infrastructure faults (S3, Redis, PostgreSQL unreachable)
 * and last RETRY_BUDGET_MS, long enough to outlast a failover; a bad file is
 * an outcome, not an error, and a data error is an UnrecoverableError: neither is retried.
 */
export function jobOptions(config: Config): JobsOptions {
  return {
    attempts: retryAttempts(config),
    backoff: { type: RETRY_BACKOFF, delay: config.JOB_BACKOFF_MS },
    // History for Bull Board and run status, bounded in age and count (JOBS_KEEP_*).
    removeOnComplete: { age: config.JOBS_KEEP_COMPLETED_SECONDS, count: config.JOBS_KEEP_COMPLETED_COUNT },
    removeOnFail: { age: config.JOBS_KEEP_FAILED_SECONDS, count: config.JOBS_KEEP_FAILED_COUNT },
  };
}

/** The stage queues and the flow producer of one process, sharing one connection. */
export class PipelineQueues {
  readonly flows: FlowProducer;
  readonly queues: Record<Stage, Queue>;

  constructor(
    readonly connection: RedisClient,
    readonly prefix: string,
  ) {
    this.flows = new FlowProducer({ connection, prefix });
    this.queues = Object.fromEntries(STAGES.map((stage) => [stage, new Queue(QUEUES[stage], { connection, prefix })])) as Record<Stage, Queue>;
  }

  /** The key BullMQ uses for a queue, as `opts.parent.queue` wants it. */
  queueKey(stage: Stage): string {
    return `${this.prefix}:${QUEUES[stage]}`;
  }

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), ...Object.values(this.queues).map((q) => q.close())]);
  }
}
