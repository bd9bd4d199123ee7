/**
 * BullMQ's production settings for Redis (AOF persistence, noeviction): a
 * service warns at start when the server lacks them. Against a private Redis
 * whose settings the test changes.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '@musicflow/config';
import { redisDurabilityProblems } from '@musicflow/flow';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-redis.ts';

describe('Redis durability settings', () => {
  let server: PrivateRedis;

  beforeAll(async () => {
    server = await startPrivateRedis({});
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('names AOF off and an evicting policy, and nothing once appendonly yes and noeviction are set', async () => {
    const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${server.port}` });
    const admin = new Redis(config.REDIS_URL);
    try {
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      expect(await redisDurabilityProblems(config)).toEqual([
        'Redis runs without AOF persistence (appendonly no): a restart of Redis loses every queued job and run; set appendonly yes',
        "Redis' maxmemory-policy is allkeys-lru: under memory pressure it may evict BullMQ's keys (jobs lost); set maxmemory-policy noeviction",
      ]);
      await admin.config('SET', 'appendonly', 'yes');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
      expect(await redisDurabilityProblems(config)).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });
});
