import type { Redis, RedisOptions } from 'ioredis';
import { newRedisClient, type RedisSecuritySettings } from './redis-options.ts';

/** What every Redis connection is made from: REDIS_URL, its TLS CA bundle and password file. */
export type RedisSettings = RedisSecuritySettings;

/**
 * Workers and QueueEvents block on Redis and must retry forever
 * (`maxRetriesPerRequest: null`); producers such as the API fail fast instead.
 */
export function redisConnection(settings: RedisSettings, role: 'worker' | 'producer'): Redis {
  const options: RedisOptions =
    role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000 };
  return newRedisClient(settings, { ...options, lazyConnect: role === 'producer' });
}

/** Resolves when Redis answers PING within `timeoutMs`, else rejects (explainRedisError says why). */
export async function checkRedis(settings: RedisSettings, timeoutMs = 2000): Promise<void> {
  const client = newRedisClient(settings, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  // The cause (a refused certificate, a reset) comes as an 'error' event; connect() then rejects with only "Connection is closed".
  let cause: unknown;
  client.on('error', (err) => (cause ??= err));
  try {
    await client.connect().catch((err: unknown) => {
      throw cause ?? err;
    });
    await client.ping();
  } finally {
    client.disconnect();
  }
}
