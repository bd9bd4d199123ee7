import { createLogger, postgresTarget, type Config, type Logger } from '@musicflow/config';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { Warehouse } from '@musicflow/warehouse';
import { PipelineQueues } from './queues.ts';
import { explainRedisError, redisConnection, type RedisClient } from './redis.ts';

/** What a service process shares between its workers: config, logger, store, queues, warehouse. */
export interface ServiceContext {
  config: Config;
  logger: Logger;
  store: ObjectStore;
  queues: PipelineQueues;
  /** Connected on first use, so services that never touch the warehouse never connect. */
  warehouse(): Promise<Warehouse>;
  close(): Promise<void>;
}

export function createServiceContext(config: Config, name: string): ServiceContext {
  const logger = createLogger(name, config.LOG_LEVEL);
  const store = createObjectStore({
    forcePathStyle: config.S3_FORCE_PATH_STYLE,
    checksums: config.S3_CHECKSUMS,
    multipartCopyBytes: config.S3_MULTIPART_COPY_BYTES,
  });
  const connection: RedisClient = redisConnection(config, 'worker');
  connection.on('error', (err) => logger.warn({ err: explainRedisError(config, err) }, 'redis connection error'));
  const queues = new PipelineQueues(connection, config.QUEUE_PREFIX);
  let warehouse: Promise<Warehouse> | undefined;
  return {
    config,
    logger,
    store,
    queues,
    warehouse() {
      warehouse ??= Warehouse.connect(postgresTarget(config, 'WAREHOUSE_URL'), config.WAREHOUSE_LOAD).catch((err) => {
        warehouse = undefined;
        throw err;
      });
      return warehouse;
    },
    async close() {
      await queues.close();
      connection.disconnect();
      await store.close();
      if (warehouse) await (await warehouse.catch(() => undefined))?.close();
    },
  };
}
