import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { redactUrl, type Config } from '@musicflow/config';

/** What every Redis connection is made from: REDIS_URL, and the seeds of a Redis Cluster when there is one. */
export type RedisSettings = Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>;

/** One Redis server, or a Redis Cluster (REDIS_CLUSTER_NODES): BullMQ and musicflow's own keys take either. */
export type RedisClient = Redis | Cluster;

/**
 * Workers and QueueEvents block on Redis and must retry forever
 * (`maxRetriesPerRequest: null`); producers such as the API fail fast instead.
 */
export function redisConnection(settings: RedisSettings, role: 'worker' | 'producer'): RedisClient {
  const options: RedisOptions =
    role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000 };
  return redisClient(settings, { ...options, lazyConnect: role === 'producer' });
}

/**
 * A client with `options`: on a cluster, every node's connection gets REDIS_URL's credentials and TLS
 * (the URL's host and port are unused) and the cluster client takes the queueing and connecting options.
 */
function redisClient(settings: RedisSettings, options: RedisOptions): RedisClient {
  if (!settings.REDIS_CLUSTER_NODES) return new Redis(settings.REDIS_URL, options);
  const url = new URL(settings.REDIS_URL);
  const credentials: RedisOptions = {
    username: decodeURIComponent(url.username) || undefined,
    password: decodeURIComponent(url.password) || undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
  };
  return new Cluster(settings.REDIS_CLUSTER_NODES, {
    // A ready check that meets the cluster mid-failover (cluster_state:fail) leaves ioredis' connect() pending
    // for good, and BullMQ awaits it when it resets a worker's blocking connection: the worker would take no more
    // jobs. Without it, commands meet CLUSTERDOWN and are retried until a replica has taken over.
    enableReadyCheck: false,
    lazyConnect: options.lazyConnect,
    enableOfflineQueue: options.enableOfflineQueue,
    ...(options.retryStrategy === undefined ? {} : { clusterRetryStrategy: options.retryStrategy }),
    redisOptions: { ...credentials, ...options },
  });
}

/** Where Redis is, for messages: REDIS_URL without its password, or the cluster's seeds naming their setting. */
export function redisAddress(settings: RedisSettings): string {
  if (!settings.REDIS_CLUSTER_NODES) return redactUrl(settings.REDIS_URL);
  return `${settings.REDIS_CLUSTER_NODES.map((n) => `${n.host.includes(':') ? `[${n.host}]` : n.host}:${n.port}`).join(',')} (REDIS_CLUSTER_NODES)`;
}

/** Resolves when Redis answers PING within `timeoutMs`, else rejects. */
export async function checkRedis(settings: RedisSettings, timeoutMs = 2000): Promise<void> {
  const client = redisClient(settings, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}
