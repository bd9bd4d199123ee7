/**
 * OpenLineage: with OPENLINEAGE_URL set, a run posts START when it is
 * enqueued and COMPLETE (or FAIL) when the loader records it, to
 * `<url>/api/v1/lineage` with the API key; each event carries what the spec
 * requires and the run's datasets with their facets. Checked on the real
 * stack against a receiver on loopback, for a succeeded and a failed run.
 */
import fs from 'node:fs/promises';
import { Writable } from 'node:stream';
import pino from 'pino';
import { hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lineageRunId, startRun } from '@musicflow/flow';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, sampleStreamsFolder, tempDir, testConfig } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { startReceiver, type Receiver } from '../alerts/webhook.ts';

const API_KEY = 'lineage-test-key-0123456789';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const facetFields = { _producer: expect.stringMatching(/^urn:musicflow:/), _schemaURL: expect.stringMatching(/^https:\/\/openlineage\.io\/spec\/facets\//) };

/** The fields the OpenLineage spec requires of a run event, and a producer and schema URL on every facet. */
function expectRunEvent(event: Record<string, unknown>, eventType: string, runId: string): void {
  expect(event).toMatchObject({
    eventType,
    eventTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T/),
    producer: expect.stringMatching(/^urn:musicflow:\d/),
    schemaURL: expect.stringMatching(/^https:\/\/openlineage\.io\/spec\/2-0-2\/OpenLineage\.json#\/\$defs\/RunEvent$/),
    run: { runId: lineageRunId(runId) },
    job: { namespace: 'musicflow-test', name: 'musicflow.ingest' },
  });
  expect((event.run as { runId: string }).runId).toMatch(UUID);
  const facets = (holder: unknown) => Object.values((holder as { facets?: object })?.facets ?? {});
  const datasets = [...(event.inputs as object[]), ...(event.outputs as object[])];
  for (const facet of [...facets(event.run), ...facets(event.job), ...datasets.flatMap(facets)]) expect(facet).toMatchObject(facetFields);
}

describe('OpenLineage run events', () => {
  let work: string;
  let warehouseUrl: string;
  let receiver: Receiver;
  let pipeline: TestPipeline;

  /** A pipeline's settings: a copy of sample stream `file` in folder `folder`, lineage sent to `lineage`. */
  const settings = async (folder: string, file: string, lineage: Receiver, more: Record<string, string>) =>
    testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(await sampleStreamsFolder(work, folder, file)),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      OPENLINEAGE_URL: lineage.url.replace(/\/hook$/, '/'),
      ...more,
    });

  beforeAll(async () => {
    [work, warehouseUrl, receiver] = await Promise.all([tempDir(), createTestDatabase(), startReceiver()]);
    pipeline = await startPipeline(
      await settings('streams', 'streams1.csv', receiver, { OPENLINEAGE_API_KEY: API_KEY, OPENLINEAGE_NAMESPACE: 'musicflow-test', JOB_ATTEMPTS: '2' }),
    );
  });
  afterAll(async () => {
    await pipeline?.close();
    await receiver?.close();
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  const eventsOf = (runId: string) =>
    receiver.requests.filter((r) => (r.body.run as { runId: string }).runId === lineageRunId(runId)).map((r) => ({ ...r, event: r.body }));

  it('a succeeded run: START, then COMPLETE with its datasets, schemas, row counts and data checks', async () => {
    const { runId } = await startRun(pipeline.ctx.config, pipeline.ctx.queues, { trigger: 'test' });
    const report = await waitForReport(pipeline.ctx, runId);
    expect(report.status).toBe('succeeded');

    const sent = eventsOf(runId);
    expect(sent.map((r) => r.event.eventType)).toEqual(['START', 'COMPLETE']);
    for (const r of sent) {
      expect(r.path).toBe('/api/v1/lineage');
      expect(r.headers.authorization).toBe(`Bearer ${API_KEY}`);
      expect(r.headers['content-type']).toBe('application/json');
    }
    const [start, complete] = sent.map((r) => r.event);
    expectRunEvent(start!, 'START', runId);
    expectRunEvent(complete!, 'COMPLETE', runId);

    const local = `file://${hostname()}`;
    const database = new URL(warehouseUrl).pathname.slice(1);
    expect(complete!.inputs).toEqual([
      expect.objectContaining({ namespace: local, name: path.join(work, 'streams') }),
      expect.objectContaining({ namespace: local, name: path.join(SAMPLE, 'users.csv') }),
      expect.objectContaining({ namespace: local, name: path.join(SAMPLE, 'songs.csv') }),
    ]);
    const [streams] = complete!.inputs as {
      facets: { schema: { fields: { name: string }[] } };
      inputFacets: { inputStatistics: { rowCount: number; fileCount: number } };
    }[];
    expect(streams!.facets.schema.fields.map((f) => f.name)).toEqual(['user_id', 'track_id', 'listen_time']);
    expect(streams!.inputFacets.inputStatistics).toMatchObject({ rowCount: report.rows.read, fileCount: 1 });

    const outputs = complete!.outputs as {
      namespace: string;
      name: string;
      facets: { schema: { fields: { name: string }[] }; dataQualityAssertions?: { assertions: { assertion: string; success: boolean }[] } };
      outputFacets: { outputStatistics: { rowCount: number } };
    }[];
    expect(outputs.map(({ namespace, name }) => ({ namespace, name }))).toEqual([
      { namespace: local, name: path.join(work, 'lake', 'processed') },
      { namespace: 'postgres://127.0.0.1:5432', name: `${database}.analytics.genre_kpis` },
      { namespace: 'postgres://127.0.0.1:5432', name: `${database}.analytics.hourly_kpis` },
    ]);
    expect(outputs[1]!.outputFacets.outputStatistics.rowCount).toBe(report.kpiRows.genre);
    expect(outputs[2]!.outputFacets.outputStatistics.rowCount).toBe(report.kpiRows.hourly);
    expect(outputs[2]!.facets.schema.fields.map((f) => f.name)).toContain('unique_listeners');
    expect(outputs[2]!.facets.dataQualityAssertions!.assertions).toEqual(report.checks!.map((c) => ({ assertion: c.name, success: c.passed })));
    // The start of the run came first.
    expect(Date.parse(start!.eventTime as string)).toBeLessThanOrEqual(Date.parse(complete!.eventTime as string));
  });

  it('a failed run: START, then FAIL with its error message', async () => {
    // Its own copy of the stream file: the first run archived the other one.
    const streams = dirUrl(await sampleStreamsFolder(work, 'streams-of-failed-run', 'streams1.csv'));
    const missing = fileUrl(path.join(work, 'missing-songs.csv'));
    const { runId } = await startRun(pipeline.ctx.config, pipeline.ctx.queues, { trigger: 'test', sources: { streams, songs: missing } });
    const report = await waitForReport(pipeline.ctx, runId);
    expect(report.status).toBe('failed');

    const sent = eventsOf(runId).map((r) => r.event);
    expect(sent.map((e) => e.eventType)).toEqual(['START', 'FAIL']);
    expectRunEvent(sent[1]!, 'FAIL', runId);
    expect((sent[1]!.run as { facets: { errorMessage: { message: string } } }).facets.errorMessage.message).toContain('missing-songs.csv');
    expect((sent[1]!.inputs as { name: string }[])[2]!.name).toBe(path.join(work, 'missing-songs.csv'));
  });

  it('a receiver that never answers costs the run at most OPENLINEAGE_TIMEOUT_MS per event and a warning', async () => {
    const hanging = await startReceiver('hang');
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(JSON.parse(chunk.toString())), done()) });
    const config = await settings('streams-hanging', 'streams2.csv', hanging, { OPENLINEAGE_TIMEOUT_MS: '300' });
    const quiet = await startPipeline(config, pino({ level: 'warn' }, sink));
    try {
      const report = await quiet.run();
      expect(report.status).toBe('succeeded');
      expect(hanging.requests.map((r) => r.body.eventType)).toEqual(['START', 'COMPLETE']);
      expect(lines).toContainEqual(expect.objectContaining({ level: 40, eventType: 'COMPLETE', msg: 'lineage event not sent: dropped' }));
    } finally {
      await quiet.close();
      await hanging.close();
    }
  });
});
