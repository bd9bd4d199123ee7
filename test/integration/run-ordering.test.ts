/**
 * What orders and guards runs across hosts: the snapshot sequence is a
 * counter that never goes back (not a clock), and the one-active-run key
 * cannot lapse while its run lives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds } from '@musicflow/contracts';
import { activeKey, createServiceContext, nextSnapshotSeq, snapshotSequenceKey, startRun, type ServiceContext } from '@musicflow/flow';
import { testConfig } from '../helpers/env.ts';

describe('run ordering and the active-run guard', () => {
  let ctx: ServiceContext;

  beforeAll(() => {
    ctx = createServiceContext(
      testConfig({ STREAMS_URL: 's3://bucket/streams/', USERS_URL: 's3://bucket/users.csv', SONGS_URL: 's3://bucket/songs.csv' }),
      'test',
    );
  });
  afterAll(async () => {
    const keys = await ctx.queues.connection.keys(`${ctx.queues.prefix}:*`);
    if (keys.length) await ctx.queues.connection.del(...keys);
    await ctx.close();
  });

  it('snapshot sequences start above the clock and only go up, whatever the clock says', async () => {
    const { connection, prefix } = ctx.queues;
    const [seconds] = await connection.time();
    const first = await nextSnapshotSeq(connection, prefix);
    // Above every sequence the clock gave before the counter existed.
    expect(first).toBeGreaterThan(Number(seconds) * 1_000_000);
    const taken = [first];
    for (let i = 0; i < 20; i++) taken.push(await nextSnapshotSeq(connection, prefix));
    expect(taken).toEqual([...taken].sort((a, b) => a - b));
    expect(new Set(taken).size).toBe(taken.length);
    // As after a failover to a host whose clock is an hour behind the last sequence issued: the counter goes on.
    const ahead = taken.at(-1)! + 3_600_000_000;
    await connection.set(snapshotSequenceKey(prefix), ahead);
    expect(await nextSnapshotSeq(connection, prefix)).toBe(ahead + 1);
  });

  it('the active-run key has no expiry, holds while the run is unfinished, and is taken over once, by one starter, after it ends', async () => {
    const { connection, prefix, queues } = ctx.queues;
    const config = ctx.config;
    const first = await startRun(config, ctx.queues, { trigger: 'test' });
    expect(first.created).toBe(true);
    const key = activeKey(prefix, { streams: config.STREAMS_URL, users: config.USERS_URL, songs: config.SONGS_URL });
    // No time limit: a run of any length keeps its key (it used to lapse after 6 hours).
    expect(await connection.pttl(key)).toBe(-1);
    expect(await startRun(config, ctx.queues, { trigger: 'test' })).toEqual({ runId: first.runId, created: false });

    // The run ends without its loader releasing the key (its load job gone): five starters at once, one run.
    await (await queues.load.getJob(jobIds.load(first.runId)))!.remove({ removeChildren: true });
    const racing = await Promise.all(Array.from({ length: 5 }, () => startRun(config, ctx.queues, { trigger: 'test' })));
    const created = racing.filter((r) => r.created);
    expect(created).toHaveLength(1);
    expect(new Set(racing.map((r) => r.runId))).toEqual(new Set([created[0]!.runId]));
    expect(await connection.get(key)).toBe(created[0]!.runId);
  });
});
