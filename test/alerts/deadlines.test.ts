/**
 * Deadlines across two API replicas (two processes' worth of services on one
 * Redis and one PostgreSQL, each checking every 200 ms and, here, many more
 * times at once): yesterday's KPIs due by 00:00 UTC today are missing, so the
 * receiver hears exactly one "missed" alert; a run then loads them, and it
 * hears exactly one "recovered". /freshness and /metrics of either replica say
 * which state the date is in.
 */
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERTS_QUEUE } from '@musicflow/contracts';
import { startServices } from '@musicflow/cli';
import { checkDeadlines, createServiceContext, dueDate, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import type { ApiService } from '@musicflow/service-api';
import { deleteKeys, makeBucket, sampleStreams, waitFor, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { waitForReport } from '../helpers/pipeline.ts';
import { startReceiver, type Receiver } from './webhook.ts';

describe('deadlines per listen date', () => {
  let db: string;
  let bucket: Bucket;
  let receiver: Receiver;
  let replicas: { ctx: ServiceContext; services: Service[]; url: string }[] = [];
  let alerts: Queue;
  const yesterday = dueDate(new Date(), '00:00');

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 60);
    await bucket.addStream('part-1.csv', (await sampleStreams(0, 60)).replaceAll('2024-06-25', yesterday));
    receiver = await startReceiver();
    const config = testConfig({
      ...bucket.env,
      WAREHOUSE_URL: db,
      ALERT_WEBHOOK_URL: receiver.url,
      DEADLINE: '00:00',
      DEADLINE_CHECK_INTERVAL: '200ms',
      API_PORT: '0',
    });
    for (const [name, services] of [
      ['replica-a', ['api', 'extractor', 'validator', 'transformer', 'kpi', 'loader']],
      ['replica-b', ['api', 'loader']],
    ] as const) {
      const ctx = createServiceContext(config, name);
      const started = await startServices(ctx, services);
      replicas.push({ ctx, services: started, url: (started[0] as ApiService).url });
    }
    alerts = new Queue(ALERTS_QUEUE, { connection: replicas[0]!.ctx.queues.connection, prefix: config.QUEUE_PREFIX });
  });

  afterAll(async () => {
    await alerts?.close();
    for (const r of replicas) {
      await Promise.all(r.services.map((s) => s.close()));
      await r.ctx.close();
    }
    if (replicas[0]) await deleteKeys(replicas[0].ctx.config.QUEUE_PREFIX);
    replicas = [];
    await receiver?.close();
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  /** Both replicas check at once, several times, besides their own timers; then every queued alert is delivered. */
  const checkEverywhereAndDeliver = async () => {
    for (let i = 0; i < 5; i++) {
      await Promise.all(replicas.map(async ({ ctx }) => checkDeadlines(ctx.config, ctx.queues, await ctx.warehouse(), ctx.logger)));
    }
    await waitFor('every alert delivered', async () => {
      // Not `delayed`: the freshness check's job scheduler always has its next firing there.
      const counts = await alerts.getJobCounts('waiting', 'active', 'prioritized');
      return Object.values(counts).every((n) => n === 0);
    });
  };
  const freshness = async (url: string) => (await (await fetch(`${url}/freshness`)).json()) as { deadlines: unknown[] };

  it('a missed deadline alerts once across replicas, and its recovery once', async () => {
    await waitFor('the missed alert', async () => receiver.received.some((a) => a.kind === 'deadline'));
    await checkEverywhereAndDeliver();
    const missed = receiver.received.filter((a) => a.kind === 'deadline');
    expect(missed).toHaveLength(1);
    expect(missed[0]).toMatchObject({ deadline: { listenDate: yesterday, level: 'error', loadedAt: null } });
    expect(String(missed[0]!.text)).toContain(`MISSED the deadline of ${yesterday}`);
    for (const { url } of replicas) {
      expect((await freshness(url)).deadlines).toMatchObject([{ level: 'error', time: '00:00', listenDate: yesterday, state: 'missed', loadedAt: null }]);
    }
    const metrics = await (await fetch(`${replicas[1]!.url}/metrics`)).text();
    expect(metrics).toContain(`musicflow_deadline_missed{level="error",listen_date="${yesterday}"} 1`);

    const { ctx } = replicas[0]!;
    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    expect(await waitForReport(ctx, runId)).toMatchObject({ status: 'succeeded', dates: [yesterday] });
    await waitFor('the recovered alert', async () => receiver.received.some((a) => a.kind === 'recovered'));
    await checkEverywhereAndDeliver();
    const recovered = receiver.received.filter((a) => a.kind === 'recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ deadline: { listenDate: yesterday, loadedAt: expect.any(String) } });
    expect(String(recovered[0]!.text)).toContain(`recovered: the KPIs of ${yesterday} are loaded`);
    expect(receiver.received.filter((a) => a.kind === 'deadline')).toHaveLength(1);
    for (const { url } of replicas) expect((await freshness(url)).deadlines).toMatchObject([{ listenDate: yesterday, state: 'met-late' }]);
    const after = await (await fetch(`${replicas[0]!.url}/metrics`)).text();
    expect(after).toContain(`musicflow_deadline_missed{level="error",listen_date="${yesterday}"} 0`);
  });
});
