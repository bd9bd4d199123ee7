/**
 * The daily schedule: API replicas started together keep one job scheduler;
 * changing the cron changes the next run time everywhere; a firing starts a
 * run (trigger `schedule`) exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Config } from '@musicflow/config';
import { DAILY_SCHEDULER_ID, SCHEDULER_QUEUE } from '@musicflow/contracts';
import { createServiceContext, readRunProgress, type ServiceContext } from '@musicflow/flow';
import { createTriggerProcessor, startApi, startScheduler, type ApiService } from '@musicflow/service-api';
import { createTestDatabase, dropTestDatabase, REDIS_URL, testConfig } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { deleteKeys, makeBucket, waitFor, withConfig, type Bucket } from './fixtures.ts';

interface View {
  id: string;
  cron: string;
  tz: string;
  nextRunAt: string;
  source: string;
}

describe('daily schedule', () => {
  let db: string;
  let bucket: Bucket;
  let config: Config;
  let pipeline: TestPipeline;
  let other: ServiceContext;
  let apis: ApiService[] = [];
  let redis: Redis;
  let queue: Queue;

  const schedules = async (api: ApiService) => ((await (await fetch(`${api.url}/schedules`)).json()) as { schedules: View[] }).schedules;
  const put = async (api: ApiService, body: object) => {
    const res = await fetch(`${api.url}/schedules/daily`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as View & { message?: string } };
  };
  const pending = () => queue.getJobCountByTypes('delayed', 'waiting', 'prioritized');

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 40);
    // 02:00 in Kolkata (UTC+05:30, no daylight saving) is 20:30 UTC.
    config = testConfig({
      ...bucket.env,
      WAREHOUSE_URL: db,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      DAILY_CRON: '0 2 * * *',
      TZ_SCHEDULE: 'Asia/Kolkata',
      // The firing test below schedules every second.
      SCHEDULE_MIN_INTERVAL: '0',
    });
    pipeline = await startPipeline(config);
    other = createServiceContext(config, 'test-replica');
    redis = new Redis(REDIS_URL);
    queue = new Queue(SCHEDULER_QUEUE, { connection: redis, prefix: config.QUEUE_PREFIX });
  });

  afterAll(async () => {
    await Promise.all(apis.map((a) => a.close()));
    await pipeline?.close();
    await other?.close();
    await queue?.close();
    redis?.disconnect();
    if (config) await deleteKeys(config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('two API instances started together leave one scheduler and one pending trigger', async () => {
    apis = await Promise.all([startApi(pipeline.ctx), startApi(other)]);
    expect(await queue.getJobSchedulersCount()).toBe(1);
    expect(await pending()).toBe(1);
    const [a, b] = await Promise.all(apis.map(schedules));
    expect(a).toEqual(b);
    expect(a).toHaveLength(1);
    expect(a![0]).toMatchObject({ id: DAILY_SCHEDULER_ID, cron: '0 2 * * *', tz: 'Asia/Kolkata', source: 'env' });
    const next = new Date(a![0]!.nextRunAt);
    expect(`${next.getUTCHours()}:${next.getUTCMinutes()}`).toBe('20:30');
    expect(next.getTime() - Date.now()).toBeGreaterThan(0);
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(24 * 3600 * 1000);
  });

  it('changing the cron through one instance changes the next run time seen by both', async () => {
    const changed = await put(apis[0]!, { cron: '45 6 * * *', tz: 'UTC' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ cron: '45 6 * * *', tz: 'UTC', source: 'api' });
    const next = new Date(changed.body.nextRunAt);
    expect(`${next.getUTCHours()}:${next.getUTCMinutes()}`).toBe('6:45');
    expect((await schedules(apis[1]!))[0]).toEqual(changed.body);
    expect(await queue.getJobSchedulersCount()).toBe(1);
    expect(await pending()).toBe(1);

    // Without tz the time zone is kept.
    const hourly = await put(apis[1]!, { cron: '0 * * * *' });
    expect(hourly.body.tz).toBe('UTC');
    expect(new Date(hourly.body.nextRunAt).getTime() - Date.now()).toBeLessThanOrEqual(3600 * 1000);
    expect(await pending()).toBe(1);
  });

  it('a restart keeps a schedule changed through the API; a new DAILY_CRON replaces it', async () => {
    const replica = createServiceContext(config, 'test-restart');
    try {
      const same = await startScheduler(replica);
      await same.close();
      expect((await schedules(apis[0]!))[0]).toMatchObject({ cron: '0 * * * *', source: 'api' });

      const redeployed = { ...replica, config: withConfig(config, { DAILY_CRON: '30 1 * * *', TZ_SCHEDULE: 'UTC' }) };
      const changed = await startScheduler(redeployed);
      await changed.close();
      const [view] = await schedules(apis[0]!);
      expect(view).toMatchObject({ cron: '30 1 * * *', tz: 'UTC', source: 'env' });
      expect(new Date(view!.nextRunAt).getUTCHours()).toBe(1);
      expect(await queue.getJobSchedulersCount()).toBe(1);
    } finally {
      await replica.close();
    }
  });

  it('rejects a bad DAILY_CRON or TZ_SCHEDULE at start-up, naming the variable', async () => {
    const bad = (change: Partial<Config>) => startScheduler({ ...other, config: withConfig(config, change) });
    await expect(bad({ DAILY_CRON: 'every day' })).rejects.toThrow(/DAILY_CRON/);
    await expect(bad({ TZ_SCHEDULE: 'Moon/Base' })).rejects.toThrow(/TZ_SCHEDULE/);
  });

  it('a firing starts one run with trigger "schedule", and a repeated trigger job starts nothing', async () => {
    // Every second, until the first run shows up.
    expect((await put(apis[0]!, { cron: '* * * * * *', tz: 'UTC' })).status).toBe(200);
    const trigger = await waitFor('a trigger job to complete', async () => (await queue.getJobs(['completed'], 0, 0))[0], 20_000);
    await put(apis[0]!, { cron: '0 2 * * *', tz: 'UTC' });
    const { runId } = trigger.returnvalue as { runId: string };
    expect(runId).toMatch(/^\d{8}-\d{6}-daily$/);
    const report = await waitForReport(pipeline.ctx, runId);
    expect(report).toMatchObject({ runId, trigger: 'schedule', status: 'succeeded', rows: { read: 40 } });

    // The same trigger job processed again (a stalled worker, a retry) must not start a second run.
    const job = await Job.fromId(queue, trigger.id!);
    const again = await createTriggerProcessor(config, pipeline.ctx.queues, pipeline.ctx.logger)(job!);
    expect(again).toEqual({ runId, created: false });
    expect((await readRunProgress(pipeline.ctx.queues, runId)).state).toBe('completed');
    const runs = (await (await fetch(`${apis[0]!.url}/runs`)).json()) as { runs: { runId: string; trigger: string }[] };
    const scheduled = runs.runs.filter((r) => r.trigger === 'schedule');
    expect(new Set(scheduled.map((r) => r.runId)).size).toBe(scheduled.length);
  });
});
