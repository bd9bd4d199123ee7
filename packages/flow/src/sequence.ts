import type { RedisClient } from './redis.ts';

/**
 * The counter that orders KPI snapshots (`snapshot_seq` in the warehouse). A
 * clock can step back (Redis `TIME` after a failover to a host whose clock is
 * behind); a counter never does. It starts, on first use, at Redis' clock in
 * microseconds, so it continues above every sequence taken from the clock
 * before it existed (a warehouse loaded by older versions, or a new Redis).
 */
const NEXT_SEQUENCE = `
if redis.call('EXISTS', KEYS[1]) == 0 then
  local now = redis.call('TIME')
  redis.call('SET', KEYS[1], now[1] .. string.rep('0', 6 - #now[2]) .. now[2])
end
return redis.call('INCR', KEYS[1])`;

/** The key of the counter, under the queue prefix (one hash slot with the queues on a cluster). */
export const snapshotSequenceKey = (prefix: string) => `${prefix}:snapshot-seq`;

/** The next snapshot sequence number: greater than every one taken before under this prefix. */
export async function nextSnapshotSeq(redis: RedisClient, prefix: string): Promise<number> {
  return Number(await redis.eval(NEXT_SEQUENCE, 1, snapshotSequenceKey(prefix)));
}
