/**
 * The tests' private Redis (test/helpers/private-redis.ts) goes away whole:
 * turning AOF on forks a rewrite child, which a killed server used to leave
 * writing into the folder its teardown removes (a CI run failed on it with
 * ENOTEMPTY).
 */
import fs from 'node:fs/promises';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { startPrivateRedis } from '../helpers/private-redis.ts';

/** Command lines of the live processes that name `127.0.0.1:<port>` (a Redis server and its children title themselves so). */
async function processesOnPort(port: number): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await fs.readdir('/proc')).filter((name) => /^\d+$/.test(name))) {
    const words = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split(/[\0 ]/).filter(Boolean);
    // The address as a word of its own: `127.0.0.1:4000` is not a server on port 40001.
    if (words.includes(`127.0.0.1:${port}`)) found.push(words.join(' '));
  }
  return found;
}

describe('private Redis', () => {
  it('stops with the AOF rewrite it had started, leaving no process behind', async () => {
    const server = await startPrivateRedis({});
    const admin = new Redis(`redis://127.0.0.1:${server.port}`);
    try {
      // A slow rewrite (1 ms a key, a setting Redis has for its own tests): the child still writes when the server is stopped.
      const pipe = admin.pipeline();
      for (let i = 0; i < 2000; i++) pipe.set(`k${i}`, 'x');
      await pipe.exec();
      await admin.config('SET', 'rdb-key-save-delay', '1000');
      await admin.config('SET', 'appendonly', 'yes');
      // The child titles itself once forked.
      await vi.waitFor(async () => expect((await processesOnPort(server.port)).some((p) => p.startsWith('redis-aof-rewrite'))).toBe(true), {
        timeout: 5000,
        interval: 10,
      });
    } finally {
      admin.disconnect();
      await server.stop();
    }
    // A killed process leaves /proc within milliseconds; the rewrite left running would take about a second more.
    await vi.waitFor(async () => expect(await processesOnPort(server.port)).toEqual([]), { timeout: 500, interval: 10 });
  }, 30_000);
});
