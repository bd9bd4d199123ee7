import { Cluster, type Redis, type RedisOptions } from 'ioredis';
import { certificateProblem, explainCertificate, redactUrl, type Config } from '@musicflow/config';
import { newRedisClient, redisPassword, redisTlsOptions } from './redis-options.ts';

/** What every Redis connection is made from: REDIS_URL (its TLS CA bundle and password file), and the seeds of a Redis Cluster when there is one. */
export type RedisSettings = Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES' | 'REDIS_CA_FILE' | 'REDIS_PASSWORD_FILE'>;

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
 * A single server's client reads REDIS_PASSWORD_FILE at every connection; a cluster's node connections
 * keep the password read when the cluster client was made.
 */
function redisClient(settings: RedisSettings, options: RedisOptions): RedisClient {
  if (!settings.REDIS_CLUSTER_NODES) return newRedisClient(settings, options);
  const url = new URL(settings.REDIS_URL);
  const credentials: RedisOptions = {
    username: decodeURIComponent(url.username) || undefined,
    password: redisPassword(settings) ?? (decodeURIComponent(url.password) || undefined),
    ...redisTlsOptions(settings),
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

/**
 * What a Redis connection failure means and the fix, naming the setting: a
 * certificate REDIS_CA_FILE does not trust, a plaintext client at a TLS-only
 * server (it hangs up without a word) or the reverse, a refused password.
 */
export function explainRedisError(settings: RedisSettings, err: unknown): string {
  const where = redisAddress(settings);
  const { code, message = String(err) } = (err ?? {}) as { code?: string; message?: string };
  const tls = settings.REDIS_URL.startsWith('rediss://');
  const certificate = certificateProblem(err);
  if (certificate) return `Redis at ${where}: TLS refused (${message}): ${explainCertificate(certificate, 'REDIS_CA_FILE')}`;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) {
    const fix = settings.REDIS_PASSWORD_FILE ? 'the password in REDIS_PASSWORD_FILE (and the user in REDIS_URL)' : 'the user and password in REDIS_URL';
    return `Redis at ${where} refused the credentials (${message}): fix ${fix}`;
  }
  if (!tls && (/Connection is closed|socket hang up/i.test(message) || code === 'ECONNRESET')) {
    return `Redis at ${where} closed the connection without answering (${message}): it may accept TLS only: use rediss:// in REDIS_URL (and REDIS_CA_FILE for a private CA)`;
  }
  if (tls && (/SSL|TLS|wrong version number|before secure TLS connection/i.test(message) || code === 'ECONNRESET')) {
    return `Redis at ${where}: no TLS handshake (${message}): the server may not speak TLS on this port: use its TLS port, or redis:// in REDIS_URL where plaintext is acceptable`;
  }
  return `Redis is not reachable at ${where} (${message}${code && !message.includes(code) ? `, ${code}` : ''})`;
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
async function withProbe<T>(settings: RedisSettings, timeoutMs: number, use: (client: RedisClient) => Promise<T>): Promise<T> {
  const client = redisClient(settings, {
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
