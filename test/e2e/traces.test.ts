/**
 * OpenTelemetry traces across processes: the API, and the stages split over
 * two worker processes (one running its jobs on worker threads), all sending OTLP/HTTP to a receiver on loopback that
 * decodes the JSON they send. One run is one trace: the span that started it
 * (in the API process) is the parent of a span per job (in the workers), each
 * with its kind, run id and counts; object-store and warehouse calls are
 * child spans of the job that made them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, REDIS_URL, REPO, SAMPLE, sampleStreamsFolder, tempDir, uniqueName } from '../helpers/env.ts';
import { JOB_KIND_NAMES } from '@musicflow/contracts';
import { deleteKeys, waitFor } from '../api/fixtures.ts';
import { startReceiver, type Receiver } from '../alerts/webhook.ts';

/** An OTLP JSON attribute value (common.proto's AnyValue), as JSON encodes it. */
type AnyValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type KeyValue = { key: string; value: AnyValue };
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: KeyValue[];
}
interface ExportTraceServiceRequest {
  resourceSpans: { resource: { attributes: KeyValue[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
}

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Record<string, string | number | boolean>;
  /** `host:pid` of the process that sent it (service.instance.id). */
  instance: string;
  service: string;
}

const plain = (values: KeyValue[] = []) =>
  Object.fromEntries(
    values.map(({ key, value }) => [
      key,
      value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : (value.doubleValue ?? value.boolValue!)),
    ]),
  );

/** Every span of every OTLP request, with its resource's service and instance. */
function decode(requests: ExportTraceServiceRequest[]): Span[] {
  return requests.flatMap((request) =>
    request.resourceSpans.flatMap(({ resource, scopeSpans }) => {
      const owner = plain(resource.attributes);
      return scopeSpans.flatMap(({ spans }) =>
        spans.map((s) => ({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId || undefined,
          name: s.name,
          attributes: plain(s.attributes),
          instance: String(owner['service.instance.id']),
          service: String(owner['service.name']),
        })),
      );
    }),
  );
}

describe('traces across the API and worker processes', () => {
  const prefix = uniqueName('mftrace');
  let work: string;
  let warehouseUrl: string;
  let receiver: Receiver;
  const processes: { proc: ChildProcess; output: () => string; exited: Promise<number | null> }[] = [];

  function start(services: string[], env: Record<string, string>) {
    let output = '';
    const proc = spawn(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), 'start', ...services], {
      cwd: REPO,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (d) => (output += String(d)));
    proc.stderr.on('data', (d) => (output += String(d)));
    const started = { proc, output: () => output, exited: new Promise<number | null>((resolve) => proc.once('exit', resolve)) };
    processes.push(started);
    return started;
  }

  beforeAll(async () => {
    [work, warehouseUrl, receiver] = await Promise.all([tempDir(), createTestDatabase(), startReceiver()]);
  });
  afterAll(async () => {
    for (const { proc } of processes) if (proc.exitCode === null) proc.kill('SIGKILL');
    await receiver?.close();
    await deleteKeys(prefix);
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('one run, one trace: the start in the API, a span per job in the workers, store and warehouse calls under their jobs', async () => {
    const env = {
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(await sampleStreamsFolder(work, 'streams', 'streams1.csv')),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      API_PORT: '0',
      LOG_LEVEL: 'info',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url.replace(/\/hook$/, ''),
      OTEL_SERVICE_NAME: 'musicflow-test',
      // Spans leave every 200 ms (the SDK reads it), and at shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    const api = start(['api'], env);
    // Validate and transform jobs run on worker threads here: each thread traces on its own.
    const early = start(['extractor', 'validator', 'transformer'], { ...env, WORKER_THREADS: 'true' });
    const late = start(['kpi', 'loader'], env);
    for (const p of [api, early, late]) await waitFor('the services to start', async () => p.output().includes('"services started"'), 90_000, 100);
    const url = /"url":"(http:\/\/[^"]+)"/.exec(api.output())![1]!;

    const posted = await fetch(`${url}/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(posted.status).toBe(202);
    const { runId } = (await posted.json()) as { runId: string };
    let run: { status: string; report?: { rows: { read: number }; traceId?: string }; build?: { version: string; settingsHash: string } } = {
      status: 'queued',
    };
    await waitFor(
      'the run to end',
      async () => {
        run = (await (await fetch(`${url}/runs/${runId}`)).json()) as typeof run;
        return !['queued', 'running'].includes(run.status);
      },
      90_000,
      200,
    );
    expect(run.status).toBe('succeeded');
    // GET /runs/:id shows which build and settings recorded it.
    expect(run.build).toMatchObject({ version: expect.stringMatching(/^\d+\.\d+\.\d+/), settingsHash: expect.stringMatching(/^[0-9a-f]{16}$/) });

    // Stopped, each process sends the spans it still holds.
    for (const p of processes) p.proc.kill('SIGTERM');
    expect(await Promise.all(processes.map((p) => p.exited))).toEqual([0, 0, 0]);

    const exports = receiver.requests.filter((r) => r.path === '/v1/traces');
    expect(exports.length).toBeGreaterThan(0);
    for (const r of exports) expect(r.headers['content-type']).toBe('application/json');
    const spans = decode(exports.map((r) => r.body as unknown as ExportTraceServiceRequest));
    const instanceOf = (p: { proc: ChildProcess }) => expect.stringMatching(new RegExp(`:${p.proc.pid}$`));

    const root = spans.find((s) => s.name === 'musicflow ingest run' && s.attributes['musicflow.run.id'] === runId)!;
    // The run's report names its trace: what to search for in Jaeger or Tempo.
    expect(run.report!.traceId).toBe(root.traceId);
    expect(root).toMatchObject({ service: 'musicflow-test', instance: instanceOf(api), attributes: { 'musicflow.run.trigger': 'api' } });
    expect(root.traceId).toMatch(/^[0-9a-f]{32}$/);

    const jobs = spans.filter((s) => s.attributes['musicflow.run.id'] === runId && s.attributes['musicflow.job.kind']);
    for (const job of jobs) expect(job).toMatchObject({ traceId: root.traceId, parentSpanId: root.spanId });
    const kinds = (names: string[]) => jobs.filter((j) => names.includes(String(j.attributes['musicflow.job.kind'])));
    // Every kind of job an ingest run of one small day has (no recompute, no backfill, no date big enough for passes).
    const ingestKinds = new Set(JOB_KIND_NAMES.filter((k) => !['recompute', 'backfill', 'kpi-pass'].includes(k)));
    expect(new Set(jobs.map((j) => j.attributes['musicflow.job.kind']))).toEqual(ingestKinds);
    for (const job of kinds(['plan', 'catalogue', 'validate', 'transform', 'commit'])) expect(job.instance).toEqual(instanceOf(early));
    for (const job of kinds(['kpi', 'kpi-date', 'load', 'archive'])) expect(job.instance).toEqual(instanceOf(late));
    // Rows and bytes: the validate jobs read every row of the run; transform jobs write lake parts.
    const validate = kinds(['validate']);
    expect(validate.reduce((rows, j) => rows + Number(j.attributes['musicflow.rows']), 0)).toBe(run.report!.rows.read);
    expect(validate.reduce((bytes, j) => bytes + Number(j.attributes['musicflow.bytes.read']), 0)).toBeGreaterThan(0);
    expect(kinds(['transform']).every((j) => Number(j.attributes['musicflow.bytes.written']) > 0)).toBe(true);
    // The load job's attempt that ended the run (the first one waited for the archive jobs).
    const loaded = kinds(['load']).find((j) => !j.attributes['musicflow.job.signal']);
    expect(loaded!.attributes).toMatchObject({ 'musicflow.run.status': 'succeeded', 'musicflow.rows': run.report!.rows.read });
    // One archive job moved the run's few files.
    expect(kinds(['archive']).map((j) => Number(j.attributes['musicflow.files']) > 0)).toEqual([true]);

    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const jobOf = (span: Span): Span | undefined => {
      for (let s: Span | undefined = span; s; s = s.parentSpanId ? byId.get(s.parentSpanId) : undefined) if (s.attributes['musicflow.job.kind']) return s;
      return undefined;
    };
    const storage = spans.filter((s) => s.traceId === root.traceId && s.name.startsWith('object-store '));
    // The KPI job only hands on what its commit and date jobs wrote: it calls no store.
    const storing = new Set([...ingestKinds].filter((k) => k !== 'kpi'));
    expect(new Set(storage.map((s) => jobOf(s)?.attributes['musicflow.job.kind']))).toEqual(storing);
    const warehouse = spans.filter((s) => s.traceId === root.traceId && s.name.startsWith('warehouse '));
    const loadRun = warehouse.find((s) => s.name === 'warehouse loadRun')!;
    expect(jobOf(loadRun)?.attributes['musicflow.job.kind']).toBe('load');
    expect(loadRun.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.namespace': new URL(warehouseUrl).pathname.slice(1) });
    expect(warehouse.filter((s) => s.name === 'warehouse MERGE' && s.parentSpanId === loadRun.spanId).map((s) => s.attributes['db.collection.name'])).toEqual([
      'analytics.genre_kpis',
      'analytics.hourly_kpis',
    ]);
  });
});
