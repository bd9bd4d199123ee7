/**
 * Every route of the API, happy path and validation errors, with no API_TOKEN
 * (local use): real Redis, PostgreSQL and the five workers in this process.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createServiceContext, type ServiceContext } from '@musicflow/flow';
import { buildApp } from '@musicflow/service-api';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';
import { deleteKeys, makeBucket, sampleStreams, waitFor, type Bucket } from './fixtures.ts';

const DATE = '2024-06-25';

describe('HTTP API without a token', () => {
  let db: string;
  let bucket: Bucket;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let firstRun: string;

  const finished = (runId: string) =>
    waitFor(`run ${runId} to finish`, async () => {
      const res = await app.inject({ url: `/runs/${runId}` });
      const body = res.json();
      return ['succeeded', 'partial', 'failed'].includes(body.status) ? body : undefined;
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(2, 200);
    const config = testConfig({ ...bucket.env, WAREHOUSE_URL: db });
    pipeline = await startPipeline(config);
    app = await buildApp(pipeline.ctx);
  });

  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('POST /runs enqueues a run (202) and a second trigger over the same sources returns it (200)', async () => {
    // Hold the first stage so the run is certainly still active when the second trigger arrives.
    await pipeline.ctx.queues.queues.extract.pause();
    try {
      await triggerTwice();
    } finally {
      await pipeline.ctx.queues.queues.extract.resume();
    }
  });

  async function triggerTwice() {
    const first = await app.inject({ method: 'POST', url: '/runs' });
    expect(first.statusCode).toBe(202);
    const body = first.json();
    expect(body).toMatchObject({ created: true, status: 'queued' });
    expect(body.runId).toMatch(/^\d{8}-\d{6}-[0-9a-f]{6}$/);
    expect(first.headers.location).toBe(`/runs/${body.runId}`);
    firstRun = body.runId;

    const again = await app.inject({ method: 'POST', url: '/runs', payload: { streams: bucket.env.STREAMS_URL!.replace(/\/$/, '') } });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toMatchObject({ runId: firstRun, created: false, status: 'queued' });

    const queued = await app.inject({ url: `/runs/${firstRun}` });
    expect(queued.statusCode).toBe(200);
    expect(queued.json()).toMatchObject({ runId: firstRun, status: 'queued', trigger: 'api' });
    // The run's plan job: it adds the validate and catalogue jobs once it runs.
    expect(queued.json().stages.extract).toMatchObject({ total: 1, completed: 0 });

    const list = await app.inject({ url: '/runs' });
    expect(list.json()).toMatchObject({ total: 1, runs: [{ runId: firstRun, status: 'queued', trigger: 'api' }] });
  }

  it('GET /runs/:id shows per-stage progress and the report once the run ends', async () => {
    const done = await finished(firstRun);
    expect(done.status, `run error: ${done.error}`).toBe('succeeded');
    expect(done.report).toMatchObject({ runId: firstRun, status: 'succeeded', files: { total: 2 }, rows: { read: 400 } });
    // The plan job and its two catalogue tables.
    expect(done.stages.extract).toMatchObject({ total: 3, completed: 3, failed: 0, percent: 100 });
    // The two small files are packed into one chunk.
    expect(done.stages.validate).toMatchObject({ total: 1, completed: 1 });
    // The load job and the archive job that moved the two files.
    expect(done.stages.load).toMatchObject({ total: 2, completed: 2 });
    expect(done.sources.streams).toBe(bucket.env.STREAMS_URL);
  });

  it('GET /kpis/genre and /kpis/hourly return the warehouse rows of a date', async () => {
    const warehouse = await pipeline.ctx.warehouse();
    for (const table of ['genre', 'hourly'] as const) {
      const res = await app.inject({ url: `/kpis/${table}?date=${DATE}` });
      expect(res.statusCode).toBe(200);
      const { date, rows } = res.json();
      expect(date).toBe(DATE);
      const expected = await warehouse.kpis(table, DATE);
      expect(rows.length).toBe(expected.length);
      expect(rows.length).toBeGreaterThan(0);
      expect(rows[0].run_id).toBe(firstRun);
      expect(rows[0].listen_date).toBe(DATE);
      expect(new Date(rows[0].updated_at).getTime()).toBe((expected[0]!.updated_at as Date).getTime());
    }
    const hourly = (await app.inject({ url: `/kpis/hourly?date=${DATE}` })).json().rows as { total_plays: number }[];
    const report = (await app.inject({ url: `/runs/${firstRun}` })).json().report;
    expect(hourly.reduce((n, r) => n + r.total_plays, 0)).toBe(report.rows.valid - report.rows.duplicate);
    const empty = await app.inject({ url: '/kpis/genre?date=1999-01-01' });
    expect(empty.json()).toEqual({ date: '1999-01-01', rows: [] });
  });

  it('POST /runs/:id/retry refuses a succeeded run, unknown and malformed ids', async () => {
    const ok = await app.inject({ method: 'POST', url: `/runs/${firstRun}/retry` });
    expect(ok.statusCode).toBe(409);
    expect(ok.json().message).toContain('succeeded');
    const unknown = await app.inject({ method: 'POST', url: '/runs/20200101-000000-abcdef/retry' });
    expect(unknown.statusCode).toBe(404);
    const bad = await app.inject({ method: 'POST', url: '/runs/Not_An_Id/retry' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/path parameter id/);
  });

  it('a partial run can be retried once its bad file is fixed, and the retry loads only that file', async () => {
    await bucket.addStream('late.csv', 'user_id,track_id\n1,abc\n'); // no listen_time: rejected whole
    await bucket.addStream('more.csv', await sampleStreams(800, 830));
    const start = await app.inject({ method: 'POST', url: '/runs', payload: {} });
    expect(start.statusCode).toBe(202);
    const partial = await finished(start.json().runId);
    expect(partial.status, `run error: ${partial.error}`).toBe('partial');
    expect(partial.report.files.firstRejected[0].file).toContain('late.csv');
    expect(partial.report.files.total).toBe(2); // the first run's two files went to the archive
    expect(partial.report.files.loaded).toBe(1);

    await bucket.addStream('late.csv', await sampleStreams(1000, 1050));
    const retry = await app.inject({ method: 'POST', url: `/runs/${partial.runId}/retry` });
    expect(retry.statusCode).toBe(202);
    expect(retry.json()).toMatchObject({ created: true, retryOf: partial.runId });
    const fixed = await finished(retry.json().runId);
    expect(fixed).toMatchObject({ status: 'succeeded', trigger: 'retry' });
    expect(fixed.report.files.loaded).toBe(1);
    expect(fixed.report.rows.read).toBe(50);
  });

  it('GET /runs pages newest first', async () => {
    const all = (await app.inject({ url: '/runs' })).json();
    expect(all.total).toBe(3);
    expect(all.runs.map((r: { trigger: string }) => r.trigger)).toEqual(['retry', 'api', 'api']);
    expect(all.runs[2].runId).toBe(firstRun);
    const page = (await app.inject({ url: '/runs?limit=1&offset=2' })).json();
    expect(page).toMatchObject({ total: 3, limit: 1, offset: 2, runs: [{ runId: firstRun, status: 'succeeded', rows: { read: 400 } }] });
  });

  it.each([
    ['POST', '/runs', { stream: 'file:///x/' }, 'body field stream: unknown field'],
    ['POST', '/runs', { streams: 'http://example.com/x/' }, 'body field streams: must be an s3:// or file:// folder URL'],
    ['POST', '/runs', { songs: 'ftp://x/songs.csv' }, 'body field songs: must be an s3://, file:// or postgres:// URL'],
    ['POST', '/runs', { users: 42 }, 'body field users:'],
    ['POST', '/runs', [1, 2], 'body field body:'],
    ['GET', '/runs?limit=abc', undefined, 'query parameter limit:'],
    ['GET', '/runs?limit=1000', undefined, 'query parameter limit:'],
    ['GET', '/runs?offset=-1', undefined, 'query parameter offset:'],
    ['GET', '/runs?page=2', undefined, 'query parameter page: unknown field'],
    ['GET', '/runs/..%2Fetc', undefined, 'path parameter id:'],
    ['GET', '/kpis/genre', undefined, 'query parameter date:'],
    ['GET', '/kpis/genre?date=2024-02-30', undefined, 'query parameter date: must be a calendar date YYYY-MM-DD'],
    ['GET', '/kpis/hourly?date=25/06/2024', undefined, 'query parameter date: must be a calendar date YYYY-MM-DD'],
    ['GET', '/kpis/hourly?date=2024-06-25&hour=3', undefined, 'query parameter hour: unknown field'],
    ['PUT', '/schedules/daily', { cron: '0 2 * *' }, 'body field cron: must be a cron pattern of 5 or 6 fields'],
    ['PUT', '/schedules/daily', { cron: '61 2 * * *' }, 'body field cron: not a valid cron pattern'],
    ['PUT', '/schedules/daily', { cron: '0 2 * * *', tz: 'Mars/Olympus' }, 'body field tz: must be an IANA time zone'],
    ['PUT', '/schedules/daily', { cron: '0 2 * * *', every: 5 }, 'body field every: unknown field'],
    ['PUT', '/schedules/daily', {}, 'body field cron:'],
    ['PUT', '/schedules/weekly', { cron: '0 2 * * *' }, 'path parameter id:'],
  ])('%s %s %j is a 400 naming the field', async (method, url, payload, message) => {
    const res = await app.inject({ method: method as 'GET', url, payload: payload as object | undefined });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(res.json().message).toContain(message);
    expect(res.json().issues.length).toBeGreaterThan(0);
  });

  it('GET /schedules and PUT /schedules/daily', async () => {
    const put = await app.inject({ method: 'PUT', url: '/schedules/daily', payload: { cron: '15 3 * * *', tz: 'UTC' } });
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ id: 'daily', cron: '15 3 * * *', tz: 'UTC', source: 'api' });
    const next = new Date(put.json().nextRunAt);
    expect(next.getUTCHours() * 60 + next.getUTCMinutes()).toBe(3 * 60 + 15);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    const list = await app.inject({ url: '/schedules' });
    expect(list.json().schedules).toEqual([put.json()]);
    expect((await app.inject({ url: '/schedules/daily' })).json()).toEqual(put.json());
  });

  it('GET /health is 200 when Redis, warehouse and object store answer', async () => {
    const res = await app.inject({ url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', checks: { redis: { status: 'up' }, warehouse: { status: 'up' }, objectStore: { status: 'up' } } });
  });

  it('GET /metrics exposes job counts, durations, rows and the last successful run', async () => {
    const res = await app.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    const text = res.body;
    const value = (line: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${line} `))
          ?.split(' ')
          .pop(),
      );
    // Three runs of a load job and an archive job each.
    expect(value('musicflow_jobs_completed{queue="loader"}')).toBe(6);
    // Three runs of three extract jobs: the run's and its users and songs tables.
    expect(value('musicflow_jobs_completed{queue="extractor"}')).toBe(9);
    expect(value('musicflow_jobs_failed{queue="validator"}')).toBe(0);
    expect(value('musicflow_queue_jobs{queue="loader",state="completed"}')).toBe(6);
    expect(value('musicflow_rows_processed_total')).toBe(400 + 30 + 50); // the rejected file's row is never read as a row
    expect(value('musicflow_rows_valid_total')).toBe(480);
    expect(value('musicflow_runs_total{status="partial"}')).toBe(1);
    expect(value('musicflow_runs_total{status="succeeded"}')).toBe(2);
    const last = value('musicflow_last_successful_run_timestamp_seconds');
    expect(last).toBeGreaterThan(Date.now() / 1000 - 120);
    // Durations come from job events seen since the app started: every run here ran after it.
    expect(value('musicflow_job_duration_seconds_count{queue="loader",status="completed"}')).toBe(6);
    expect(value('musicflow_job_duration_seconds_count{queue="extractor",status="completed"}')).toBe(9);
    expect(text).toContain('# TYPE musicflow_job_duration_seconds histogram');
    expect(value('musicflow_metrics_source_up{source="warehouse"}')).toBe(1);
  });

  it('serves the OpenAPI document and its UI', async () => {
    const doc = (await app.inject({ url: '/docs/json' })).json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/health',
        '/kpis/genre',
        '/kpis/hourly',
        '/metrics',
        '/runs',
        '/runs/{id}',
        '/runs/{id}/files',
        '/runs/{id}/retry',
        '/schedules',
        '/schedules/{id}',
        '/freshness',
        '/recompute',
        '/dashboard/api/dates',
        '/dashboard/api/day',
        '/dashboard/api/runs',
        '/dashboard/api/trends',
        '/dashboard/api/operations',
        '/backfills',
        '/backfills/plan',
        '/backfills/{id}',
        '/backfills/{id}/resume',
      ].sort(),
    );
    expect(doc.paths['/runs'].post.responses).toHaveProperty('202');
    expect(doc.paths['/runs/{id}'].delete.responses).toHaveProperty('202');
    expect(doc.paths['/backfills/plan'].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['from', 'to', 'only']));
    expect(doc.paths['/kpis/genre'].get.parameters[0]).toMatchObject({ name: 'date', in: 'query', required: true });
    expect(doc.paths['/dashboard/api/trends'].get.parameters).toEqual([
      expect.objectContaining({ name: 'from', in: 'query', required: false }),
      expect.objectContaining({ name: 'to', in: 'query', required: false }),
    ]);
    const ui = await app.inject({ url: '/docs' });
    expect(ui.statusCode).toBe(200);
    expect(ui.body).toContain('swagger-ui');
  });

  it('Bull Board lists every stage queue (open without a token)', async () => {
    const res = await app.inject({ url: '/admin/queues/api/queues' });
    expect(res.statusCode).toBe(200);
    const names = (res.json().queues as { name: string }[]).map((q) => q.name).sort();
    expect(names).toEqual(['extractor', 'kpi', 'loader', 'scheduler', 'transformer', 'validator']);
  });

  it('answers over a real socket', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    const base = `http://127.0.0.1:${address.port}`;
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    const bad = await fetch(`${base}/kpis/genre?date=yesterday`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('query parameter date');
    await bucket.addStream('socket.csv', await sampleStreams(900, 910));
    const post = await fetch(`${base}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(post.status).toBe(202);
    const { runId } = (await post.json()) as { runId: string };
    const done = await finished(runId);
    expect(done).toMatchObject({ status: 'succeeded', report: { rows: { read: 10 } } });
    const got = await fetch(`${base}/runs/${runId}`);
    expect(((await got.json()) as { runId: string }).runId).toBe(runId);
    const metrics = await fetch(`${base}/metrics`);
    // Four runs of a load job and an archive job each.
    expect(await metrics.text()).toContain('musicflow_jobs_completed{queue="loader"} 8');
  });
});

describe('GET /health when things are down', () => {
  let s3: TestS3;
  let ctx: ServiceContext;
  let app: FastifyInstance;

  beforeAll(async () => {
    s3 = await startS3(['lake']);
    const config = testConfig({
      REDIS_URL: 'redis://127.0.0.1:1',
      WAREHOUSE_URL: 'postgres://postgres:s3cret-pw@127.0.0.1:1/nowhere',
      LAKE_URL: 's3://lake/musicflow/',
      ...s3.env,
    });
    ctx = createServiceContext(config, 'test-down');
    // The context's own queues would print every refused connection.
    for (const q of Object.values(ctx.queues.queues)) q.on('error', () => undefined);
    ctx.queues.flows.on('error', () => undefined);
    app = await buildApp(ctx);
  });

  afterAll(async () => {
    await app?.close();
    await Promise.race([ctx?.close(), new Promise((r) => setTimeout(r, 2000))]);
    await s3?.close().catch(() => undefined);
  });

  it('names only the object store when it alone is down', async () => {
    // Redis and PostgreSQL are pointed at closed ports: first check the S3 probe on its own while S3 is up.
    const before = (await app.inject({ url: '/health' })).json();
    expect(before.checks.objectStore.status).toBe('up');
    await s3.close();
    const res = await app.inject({ url: '/health' });
    expect(res.statusCode).toBe(503);
    const body = res.json();
    expect(body.status).toBe('down');
    expect(body.checks.objectStore.status).toBe('down');
  });

  it('is 503 naming Redis, the warehouse and the object store, without the password', async () => {
    const res = await app.inject({ url: '/health' });
    expect(res.statusCode).toBe(503);
    const body = res.json();
    expect(body.message).toMatch(/^down: redis \(.+\), warehouse \(.+\), objectStore \(.+\)$/);
    expect(body.checks).toMatchObject({ redis: { status: 'down' }, warehouse: { status: 'down' }, objectStore: { status: 'down' } });
    expect(res.body).not.toContain('s3cret-pw');
    // A scrape still answers, flagging what it could not read.
    const metrics = await app.inject({ url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.body).toContain('musicflow_metrics_source_up{source="redis"} 0');
    expect(metrics.body).toContain('musicflow_metrics_source_up{source="warehouse"} 0');
  });
});
