/**
 * Cancelling runs (DELETE /runs/:id, `musicflow cancel`): a run cancelled
 * while its transform jobs wait, and a re-enriching recompute cancelled while
 * queued, leave the lake (every object, byte for byte) and the warehouse as
 * they were, keep their sources in place, are recorded `cancelled`, and let
 * the next run over the same sources start and load what they would have.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '@musicflow/service-api';
import { startServices, type ServiceName } from '@musicflow/cli';
import {
  cancelRun,
  claimRunCommit,
  createServiceContext,
  isRunCancelled,
  readRunProgress,
  startRecompute,
  startRun,
  type Service,
  type ServiceContext,
} from '@musicflow/flow';
import { deleteKeys, makeBucket, sampleStreams, waitFor, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { waitForReport } from '../helpers/pipeline.ts';
import { snapshotFolder, snapshotWarehouse } from '../helpers/state-snapshot.ts';

const ALL_BUT_TRANSFORMER: ServiceName[] = ['extractor', 'validator', 'kpi', 'loader'];

describe('cancel a run', () => {
  let db: string;
  let bucket: Bucket;
  let ctx: ServiceContext;
  let services: Service[] = [];
  let transformer: Service[] = [];
  let app: FastifyInstance;

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 120);
    ctx = createServiceContext(testConfig({ ...bucket.env, WAREHOUSE_URL: db }), 'test');
    services = await startServices(ctx, ALL_BUT_TRANSFORMER);
    transformer = await startServices(ctx, ['transformer']);
    app = await buildApp(ctx);
    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    expect((await waitForReport(ctx, runId)).status).toBe('succeeded');
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([...services, ...transformer].map((s) => s.close()));
    if (ctx) {
      await ctx.close();
      await deleteKeys(ctx.config.QUEUE_PREFIX);
    }
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  const lakeDir = () => path.join(bucket.root, 'lake');
  const runStatus = async (runId: string) =>
    (await (await ctx.warehouse()).query<{ status: string }>('SELECT status FROM analytics.etl_runs WHERE run_id = $1', [runId]))[0]?.status;

  it('a run cancelled while its transform jobs wait: lake and warehouse as before, sources in place, recorded cancelled', async () => {
    await Promise.all(transformer.map((s) => s.close()));
    transformer = [];
    await bucket.addStream('late.csv', (await sampleStreams(200, 320)).replaceAll('2024-06-25', '2024-06-27'));
    const lakeBefore = await snapshotFolder(lakeDir());
    const warehouseBefore = await snapshotWarehouse(db);

    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    await waitFor('transform jobs waiting for a transformer', async () => {
      const progress = await readRunProgress(ctx.queues, runId);
      return progress.stages.extract.completed > 0 && progress.stages.transform.total > 0;
    });
    const res = await app.inject({ method: 'DELETE', url: `/runs/${runId}` });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toMatchObject({ runId, status: 'cancelling', url: `/runs/${runId}` });
    expect(res.json().removedJobs).toBeGreaterThan(0);

    const report = await waitForReport(ctx, runId);
    expect(report).toMatchObject({ runId, status: 'cancelled', error: 'cancelled' });
    expect(await runStatus(runId)).toBe('cancelled');
    expect((await app.inject(`/runs/${runId}`)).json()).toMatchObject({ status: 'cancelled' });
    expect(await snapshotFolder(lakeDir())).toEqual(lakeBefore);
    expect(await snapshotWarehouse(db)).toEqual(warehouseBefore);
    expect(await fs.readdir(bucket.streamsDir)).toEqual(['late.csv']);

    // Cancelling it again, or a finished run, or no run at all.
    expect((await app.inject({ method: 'DELETE', url: `/runs/${runId}` })).statusCode).toBe(409);
    const unknown = await app.inject({ method: 'DELETE', url: '/runs/no-such-run' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().message).toContain('no-such-run');

    // The sources are free again, and what the cancelled run would have loaded is loaded by the next.
    transformer = await startServices(ctx, ['transformer']);
    const next = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    expect(next.created).toBe(true);
    const loaded = await waitForReport(ctx, next.runId);
    expect(loaded).toMatchObject({ status: 'succeeded', dates: ['2024-06-27'], files: { total: 1, loaded: 1 } });
  });

  it('a re-enriching recompute cancelled while queued rewrites no part and loads nothing', async () => {
    await Promise.all(services.map((s) => s.close()));
    services = await startServices(ctx, ['loader']);
    const lakeBefore = await snapshotFolder(lakeDir());
    const warehouseBefore = await snapshotWarehouse(db);
    const { runId } = await startRecompute(ctx.config, ctx.queues, { from: '2024-06-01', reEnrich: true });
    const res = await app.inject({ method: 'DELETE', url: `/runs/${runId}` });
    expect(res.statusCode).toBe(202);
    expect(res.json().removedJobs).toBe(1);
    expect(await waitForReport(ctx, runId)).toMatchObject({ status: 'cancelled', trigger: 'recompute' });
    expect(await snapshotFolder(lakeDir())).toEqual(lakeBefore);
    expect(await snapshotWarehouse(db)).toEqual(warehouseBefore);
  });

  it('a run that began publishing or loading can no longer be cancelled; a finished one neither', async () => {
    // No extractor is running: the run stays queued while the test claims its commit, as its lake commit would.
    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    expect(await claimRunCommit(ctx.queues, runId)).toBe(true);
    const res = await app.inject({ method: 'DELETE', url: `/runs/${runId}` });
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toContain('can no longer be cancelled');
    expect(await cancelRun(ctx.queues, runId)).toEqual({ outcome: 'committing' });
    expect(await isRunCancelled(ctx.queues, runId)).toBe(false);

    services.push(...(await startServices(ctx, ['extractor', 'kpi'])));
    const report = await waitForReport(ctx, runId);
    expect(report.status).toBe('succeeded');
    const finished = await app.inject({ method: 'DELETE', url: `/runs/${runId}` });
    expect(finished.statusCode).toBe(409);
    expect(finished.json().message).toContain('finished');
  });
});
