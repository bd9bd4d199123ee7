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
  await withProbe(settings, timeoutMs, (client) => client.ping());
}

/**
 * What in the server's settings puts queued work at risk (BullMQ's production
 * advice), one line each: without AOF persistence a restart of Redis loses
 * every queued job; any eviction policy but `noeviction` lets Redis drop job
 * keys under memory pressure. Read with INFO, which managed services allow.
 */
export async function redisDurabilityProblems(settings: RedisSettings, timeoutMs = 2000): Promise<string[]> {
  const info = await withProbe(settings, timeoutMs, async (client) => (await client.info('persistence')) + (await client.info('memory')));
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
  const problems: string[] = [];
  if (field('aof_enabled') === '0')
    problems.push('Redis runs without AOF persistence (appendonly no): a restart of Redis loses every queued job and run; set appendonly yes');
  const policy = field('maxmemory_policy');
  if (policy && policy !== 'noeviction') {
    problems.push(`Redis' maxmemory-policy is ${policy}: under memory pressure it may evict BullMQ's keys (jobs lost); set maxmemory-policy noeviction`);
  }
  return problems;
}

/** A one-off client that fails fast, for `use`; the cause of a failed connection (a refused certificate, a reset) is what rejects. */
async function withProbe<T>(settings: RedisSettings, timeoutMs: number, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = newRedisClient(settings, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
    retryStrategy: () => null,
  });
  // The cause comes as an 'error' event; connect() then rejects with only "Connection is closed".
  let cause: unknown;
  client.on('error', (err) => (cause ??= err));
  try {
    await client.connect().catch((err: unknown) => {
      throw cause ?? err;
    });
    return await use(client);
  } finally {
    client.disconnect();
  }
}
