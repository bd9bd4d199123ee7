import { FlowProducer, Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '@musicflow/config';
import { QUEUES, STAGES, type Stage } from '@musicflow/contracts';

/**
 * Retries with exponential backoff are for infrastructure faults (S3, Redis,
 * PostgreSQL unreachable); a bad file is an outcome, not an error, and is never retried.
 */
export function jobOptions(config: Config): JobsOptions {
  return {
    attempts: config.JOB_ATTEMPTS,
    backoff: { type: 'exponential', delay: config.JOB_BACKOFF_MS },
    // Keep a week of history for Bull Board and run status, bounded in count.
    removeOnComplete: { age: 7 * 24 * 3600, count: 5000 },
    removeOnFail: { age: 14 * 24 * 3600, count: 5000 },
  };
}

/** The stage queues and the flow producer of one process, sharing one connection. */
export class PipelineQueues {
  readonly flows: FlowProducer;
  readonly queues: Record<Stage, Queue>;

  constructor(
    readonly connection: Redis,
    readonly prefix: string,
  ) {
    this.flows = new FlowProducer({ connection, prefix });
    this.queues = Object.fromEntries(
      STAGES.map((stage) => [stage, new Queue(QUEUES[stage], { connection, prefix })]),
    ) as Record<Stage, Queue>;
  }

  /** The key BullMQ uses for a queue, as `opts.parent.queue` wants it. */
  queueKey(stage: Stage): string {
    return `${this.prefix}:${QUEUES[stage]}`;
  }

  async close(): Promise<void> {
    await Promise.all([this.flows.close(), ...Object.values(this.queues).map((q) => q.close())]);
  }
}
