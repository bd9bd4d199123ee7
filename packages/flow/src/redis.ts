import { Redis, type RedisOptions } from 'ioredis';

/**
 * Workers and QueueEvents block on Redis and must retry forever
 * (`maxRetriesPerRequest: null`); producers such as the API fail fast instead.
 */
export function redisConnection(url: string, role: 'worker' | 'producer'): Redis {
  const options: RedisOptions =
    role === 'worker' ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 3000 };
  return new Redis(url, { ...options, lazyConnect: role === 'producer' });
}

/** Resolves when Redis answers PING within `timeoutMs`, else rejects naming the address. */
export async function checkRedis(url: string, timeoutMs = 2000): Promise<void> {
  const client = new Redis(url, {
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
