import { describe, expect, it } from 'vitest';
import { loadConfig } from '@musicflow/config';
import { redisAddress } from '@musicflow/flow';

describe('Redis Cluster settings', () => {
  it('takes a hash-tagged QUEUE_PREFIX and REDIS_CLUSTER_NODES seeds, IPv6 in brackets', () => {
    const config = loadConfig({ QUEUE_PREFIX: '{musicflow}', REDIS_CLUSTER_NODES: ' 10.0.0.1:6379, redis-2.internal:7000,[::1]:7001 ' });
    expect(config.QUEUE_PREFIX).toBe('{musicflow}');
    expect(config.REDIS_CLUSTER_NODES).toEqual([
      { host: '10.0.0.1', port: 6379 },
      { host: 'redis-2.internal', port: 7000 },
      { host: '::1', port: 7001 },
    ]);
    expect(redisAddress(config)).toBe('10.0.0.1:6379,redis-2.internal:7000,[::1]:7001 (REDIS_CLUSTER_NODES)');
    // A hash tag is fine without a cluster too; without a cluster the address is REDIS_URL's, password hidden.
    expect(redisAddress(loadConfig({ QUEUE_PREFIX: 'mf-{musicflow}', REDIS_URL: 'redis://u:secret@h:6379' }))).toBe('redis://u:***@h:6379');
  });

  it('refuses a cluster without a hash tag in QUEUE_PREFIX, naming the fix', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000' })).toThrow(
      'QUEUE_PREFIX: must carry a hash tag on a Redis Cluster (REDIS_CLUSTER_NODES is set), such as {musicflow}',
    );
  });

  it('refuses a database other than 0 on a cluster, bad seeds and bad prefixes', () => {
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: '{mf}', REDIS_URL: 'redis://h:6379/2' })).toThrow(
      'REDIS_URL: a Redis Cluster has database 0 only',
    );
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: '127.0.0.1', QUEUE_PREFIX: '{mf}' })).toThrow('REDIS_CLUSTER_NODES.0: each node must be host:port');
    expect(() => loadConfig({ REDIS_CLUSTER_NODES: ',', QUEUE_PREFIX: '{mf}' })).toThrow('REDIS_CLUSTER_NODES: must list at least one host:port');
    for (const prefix of ['{a}{b}', 'a:b', '{}', 'a{b']) expect(() => loadConfig({ QUEUE_PREFIX: prefix })).toThrow('QUEUE_PREFIX');
  });
});
