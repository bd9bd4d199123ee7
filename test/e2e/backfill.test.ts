/**
 * Backfills: three lake dates, one loaded, one missing from the warehouse and
 * one loaded before its part was written. The plan names each with its parts,
 * events and state; a backfill cancelled while its first date waits leaves
 * the lake and the warehouse as they were; resumed, it recomputes exactly the
 * dates the plan selected, each reading the events the plan counted, and a
 * new plan then finds nothing stale.
 */
import type { FastifyInstance } from 'fastify';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '@musicflow/service-api';
import { startServices } from '@musicflow/cli';
import { createServiceContext, readRunProgress, startRun, type BackfillView, type Service, type ServiceContext } from '@musicflow/flow';
import { deleteKeys, makeBucket, sampleStreams, waitFor, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { runCliInProcess } from '../helpers/cli-in-process.ts';
import { waitForReport } from '../helpers/pipeline.ts';
import { snapshotFolder, snapshotWarehouse } from '../helpers/state-snapshot.ts';

const RANGE = { from: '2024-06-20', to: '2024-06-30' };

describe('backfills', () => {
  let db: string;
  let bucket: Bucket;
  let ctx: ServiceContext;
  let services: Service[] = [];
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 100);
    for (const day of ['26', '27']) await bucket.addStream(`day-${day}.csv`, (await sampleStreams(0, 100)).replaceAll('2024-06-25', `2024-06-${day}`));
    ctx = createServiceContext(testConfig({ ...bucket.env, WAREHOUSE_URL: db }), 'test');
    services = await startServices(ctx, ['extractor', 'validator', 'transformer', 'kpi', 'loader']);
    app = await buildApp(ctx);
    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    expect(await waitForReport(ctx, runId)).toMatchObject({ status: 'succeeded', dates: ['2024-06-25', '2024-06-26', '2024-06-27'] });
    const warehouse = await ctx.warehouse();
    for (const table of ['analytics.hourly_kpis', 'analytics.genre_kpis']) {
      await warehouse.query(`DELETE FROM ${table} WHERE listen_date = '2024-06-26'`);
      await warehouse.query(`UPDATE ${table} SET updated_at = '2000-01-01' WHERE listen_date = '2024-06-27'`);
    }
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all(services.map((s) => s.close()));
    if (ctx) {
      await ctx.close();
      await deleteKeys(ctx.config.QUEUE_PREFIX);
    }
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  const plan = async (only: string) => {
    const res = await app.inject(`/backfills/plan?from=${RANGE.from}&to=${RANGE.to}&only=${only}`);
    expect(res.statusCode).toBe(200);
    return res.json();
  };
  const view = async (id: string): Promise<BackfillView> => (await app.inject(`/backfills/${id}`)).json();
  const ended = (id: string) =>
    waitFor(`backfill ${id} to end`, async () => ['cancelled', 'succeeded', 'partial', 'failed'].includes((await view(id)).state) && view(id));

  it('the plan names each lake date with its parts, events and state, and selects by --only', async () => {
    const all = await plan('all');
    expect(all.dates).toMatchObject([
      { listenDate: '2024-06-25', parts: 1, events: 100, state: 'current', selected: true },
      { listenDate: '2024-06-26', parts: 1, events: 100, state: 'missing', selected: true },
      { listenDate: '2024-06-27', parts: 1, events: 100, state: 'stale', selected: true },
    ]);
    expect((await plan('missing')).selected).toEqual(['2024-06-26']);
    expect((await plan('stale')).selected).toEqual(['2024-06-26', '2024-06-27']);
    const bad = await app.inject(`/backfills/plan?from=${RANGE.to}&to=${RANGE.from}`);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('to');

    const printed = await runCliInProcess(['backfill', 'plan', '--from', RANGE.from, '--to', RANGE.to, '--only', 'missing'], {
      ...bucket.env,
      WAREHOUSE_URL: db,
      REDIS_URL: ctx.config.REDIS_URL,
      QUEUE_PREFIX: ctx.config.QUEUE_PREFIX,
    });
    expect(printed).toMatch(/2024-06-26\s+1\s+100\s+missing\s+.*load/);
    // Wrapped to the terminal's width: compared with its line breaks as spaces.
    expect(printed.replace(/\s+/g, ' ')).toContain('1 of 3 lake date(s) from 2024-06-20 to 2024-06-30 (only missing): 1 to load, 0 to replace');
  });

  it('a backfill cancelled while its first date waits leaves the lake and the warehouse as before; resumed, it does what the plan said', async () => {
    // No KPI worker: the first date's recompute run waits.
    const kpi = services.splice(3, 1);
    await Promise.all(kpi.map((s) => s.close()));
    const lakeDir = path.join(bucket.root, 'lake');
    const lakeBefore = await snapshotFolder(lakeDir);
    const warehouseBefore = await snapshotWarehouse(db);
    const selected = (await plan('stale')).dates.filter((d: { selected: boolean }) => d.selected);

    const started = await app.inject({ method: 'POST', url: '/backfills', payload: { ...RANGE, only: 'stale', concurrency: 1 } });
    expect(started.statusCode).toBe(202);
    const { backfillId, dates } = started.json();
    expect(dates).toEqual(['2024-06-26', '2024-06-27']);
    await waitFor('the first date queued', async () => (await view(backfillId)).dates[0]?.status === 'queued');
    expect((await app.inject('/backfills')).json().backfills[0]).toMatchObject({ backfillId, state: 'running' });

    expect((await app.inject({ method: 'DELETE', url: `/backfills/${backfillId}` })).statusCode).toBe(202);
    const cancelled = await ended(backfillId);
    expect(cancelled).toMatchObject({
      state: 'cancelled',
      dates: [
        { listenDate: '2024-06-26', status: 'cancelled' },
        { listenDate: '2024-06-27', status: 'pending' },
      ],
    });
    expect(await snapshotFolder(lakeDir)).toEqual(lakeBefore);
    expect(await snapshotWarehouse(db)).toEqual(warehouseBefore);
    expect((await app.inject({ method: 'DELETE', url: `/backfills/${backfillId}` })).statusCode).toBe(409);

    services.push(...(await startServices(ctx, ['kpi'])));
    const resumed = await app.inject({ method: 'POST', url: `/backfills/${backfillId}/resume` });
    expect(resumed.statusCode).toBe(202);
    expect(resumed.json().dates).toEqual(['2024-06-26', '2024-06-27']);
    const done = await ended(resumed.json().backfillId);
    expect(done).toMatchObject({ state: 'succeeded', resumeOf: backfillId });
    for (const [i, date] of done.dates.entries()) {
      const report = (await readRunProgress(ctx.queues, date.runId!)).report!;
      expect(report).toMatchObject({ trigger: 'backfill', status: 'succeeded', dates: [selected[i].listenDate] });
      expect(report.rows.read).toBe(selected[i].events);
    }
    expect((await plan('stale')).selected).toEqual([]);
    expect((await app.inject({ method: 'POST', url: '/backfills', payload: { ...RANGE, only: 'stale' } })).statusCode).toBe(409);
  });

  it('runs its dates as a pool: the next date starts when one ends, never more than the cap at once', async () => {
    // Loaders enough for two date runs and the driver.
    services.push(...(await startServices(ctx, ['loader', 'loader'])));
    // The first date's load waits on a row lock of its KPIs; the others go on.
    const holder = new pg.Client({ connectionString: db });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`SELECT 1 FROM analytics.hourly_kpis WHERE listen_date = '2024-06-25' FOR UPDATE`);
      const started = await app.inject({ method: 'POST', url: '/backfills', payload: { ...RANGE, only: 'all', concurrency: 2 } });
      expect(started.statusCode).toBe(202);
      const { backfillId } = started.json();
      let mostInFlight = 0;
      const third = await waitFor(
        'the third date to succeed while the first is held',
        async () => {
          const { dates } = await view(backfillId);
          mostInFlight = Math.max(mostInFlight, dates.filter((d) => d.status === 'queued' || d.status === 'running').length);
          return dates[2]!.status === 'succeeded' && dates;
        },
        60_000,
      );
      // With batches of two, the third date would wait for the first.
      expect(third.map((d) => d.status)).toEqual(['running', 'succeeded', 'succeeded']);
      expect(mostInFlight).toBeLessThanOrEqual(2);
      await holder.query('COMMIT');
      const done = await ended(backfillId);
      expect(done).toMatchObject({ state: 'succeeded' });
      expect(done.dates.map((d) => d.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    } finally {
      await holder.end();
    }
  });
});
