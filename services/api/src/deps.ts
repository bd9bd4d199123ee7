import type { Queue } from 'bullmq';
import type { Config, Logger } from '@musicflow/config';
import type { PipelineQueues, RedisClient } from '@musicflow/flow';
import type { ObjectStore } from '@musicflow/storage';
import type { Warehouse } from '@musicflow/warehouse';
import type { ApiMetrics } from './metrics.ts';

/** What the routes use; built once by buildApp. */
export interface ApiDeps {
  config: Config;
  logger: Logger;
  /** The API's own fail-fast Redis connection (enableOfflineQueue false) and the queues on it. */
  connection: RedisClient;
  /** Resolves once Redis is connected; rejects after a short wait naming the last connection error. */
  redisReady(ms?: number): Promise<void>;
  queues: PipelineQueues;
  schedulerQueue: Queue;
  store: ObjectStore;
  warehouse(): Promise<Warehouse>;
  metrics: ApiMetrics;
}
