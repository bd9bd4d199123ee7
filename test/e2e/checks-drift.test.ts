/**
 * Check history, severity, blocking, anomalies and schema drift through whole
 * pipeline runs on the real stack (Redis, PostgreSQL, a webhook receiver, the
 * API's /metrics): the checks of every run pile up in analytics.etl_checks;
 * an error-level anomaly keeps its date out while the run's other date loads
 * and the run ends partial naming it; at warn level the anomalous day loads
 * and is only reported and alerted. A stream file, the users and the songs
 * export that gain, rename or lose a column are told in the report, /metrics
 * and an alert.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '@musicflow/contracts';
import { buildApp } from '@musicflow/service-api';
import { startReceiver, type Receiver } from '../alerts/webhook.ts';
import { deleteKeys, makeBucket, sampleStreams, waitFor, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, usePipelineWithApi, type TestPipeline } from '../helpers/pipeline.ts';

/** Rows `from`..`to` of the sample (one day, 2024-06-25) moved to `date`. */
const onDate = async (date: string, from: number, to: number) => (await sampleStreams(from, to)).replaceAll('2024-06-25', date);
const withoutHeader = (csv: string) => csv.slice(csv.indexOf('\n') + 1);

const metric = (text: string, sample: string) =>
  text
    .split('\n')
    .find((l) => l.startsWith(`${sample} `))
    ?.split(' ')
    .at(-1);

describe('check history, severity and anomalies through the pipeline', () => {
  let db: string;
  let bucket: Bucket;
  let receiver: Receiver;
  const pipelines: TestPipeline[] = [];
  let app: FastifyInstance;

  const env = () => ({ ...bucket.env, WAREHOUSE_URL: db, ALERT_WEBHOOK_URL: receiver.url, ANOMALY_TRAILING_DATES: '3', ANOMALY_MIN_DATES: '3' });
  const start = async (settings: Record<string, string>) => {
    const pipeline = await startPipeline(testConfig({ ...env(), ...settings }));
    pipelines.push(pipeline);
    return pipeline;
  };
  const checksOf = (runId: string) =>
    pipelines[0]!.ctx
      .warehouse()
      .then((w) =>
        w.query<{ listen_date: string; check_name: string; severity: string; passed: boolean; blocked: boolean; value: number }>(
          'SELECT listen_date, check_name, severity, passed, blocked, value FROM analytics.etl_checks WHERE run_id = $1 ORDER BY listen_date, check_name',
          [runId],
        ),
      );
  const alertOf = (report: RunReport) => waitFor(`the alert of ${report.runId}`, async () => receiver.received.find((a) => a.runId === report.runId));

  beforeAll(async () => {
    db = await createTestDatabase();
    // The catalogue covers the sample's first 200 rows; the stream files are this test's own.
    bucket = await makeBucket(1, 200);
    await fs.rm(path.join(bucket.streamsDir, 'part-1.csv'));
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await app?.close();
    for (const p of pipelines) {
      await p.close();
      await deleteKeys(p.ctx.config.QUEUE_PREFIX);
    }
    await receiver?.close();
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('an error-level anomaly blocks its date while the other date loads: the run is partial with the reason, alerted, in history and /metrics', async () => {
    const pipeline = await start({ CHECK_SEVERITY: 'daily_plays_anomaly:error', CHECKS_BLOCK_ON_ERROR: 'true' });
    app = await buildApp(pipeline.ctx);
    // Three ordinary days of 20 plays...
    await bucket.addStream(
      'days.csv',
      (await onDate('2024-06-01', 0, 20)) + withoutHeader(await onDate('2024-06-02', 20, 40)) + withoutHeader(await onDate('2024-06-03', 40, 60)),
    );
    const first = await pipeline.run();
    expect(first.status).toBe('succeeded');
    expect(first.checks?.every((c) => c.passed)).toBe(true);

    // ...then a day of 150 and an ordinary one.
    await bucket.addStream('spike.csv', (await onDate('2024-06-04', 0, 150)) + withoutHeader(await onDate('2024-06-05', 150, 170)));
    const second = await pipeline.run();
    expect(second.status).toBe('partial');
    expect(second.files).toMatchObject({ loaded: 1, rejected: 0 });
    expect(second.blockedDates).toEqual([{ listenDate: '2024-06-04', checks: ['daily_plays_anomaly'] }]);
    expect(second.error).toContain('listen date(s) not loaded, an error-level check failed (CHECKS_BLOCK_ON_ERROR): 2024-06-04 (daily_plays_anomaly)');
    expect(second.checks?.find((c) => c.name === 'daily_plays_anomaly')).toEqual({
      name: 'daily_plays_anomaly',
      passed: false,
      severity: 'error',
      detail: '2024-06-04: 150 plays, 7.50x the median 20 of the 3 loaded dates before it (ANOMALY_RATIO 3)',
    });
    const warehouse = await pipeline.ctx.warehouse();
    expect(await warehouse.kpis('hourly', '2024-06-04')).toEqual([]);
    expect((await warehouse.kpis('hourly', '2024-06-05')).reduce((n, h) => n + Number(h.total_plays), 0)).toBe(20);

    // History: both runs' checks, the blocking one marked.
    expect((await checksOf(first.runId)).map((c) => c.listen_date)).toEqual(expect.arrayContaining(['2024-06-01', '2024-06-02', '2024-06-03']));
    const blocked = (await checksOf(second.runId)).filter((c) => c.blocked);
    expect(blocked).toEqual([{ listen_date: '2024-06-04', check_name: 'daily_plays_anomaly', severity: 'error', passed: false, blocked: true, value: 150 }]);

    const alert = await alertOf(second);
    expect(alert).toMatchObject({
      status: 'partial',
      failedChecks: expect.arrayContaining([expect.objectContaining({ name: 'daily_plays_anomaly', severity: 'error' })]),
      blockedDates: [{ listenDate: '2024-06-04', checks: ['daily_plays_anomaly'] }],
    });
    expect(alert.text).toContain('listen date 2024-06-04 not loaded: daily_plays_anomaly');

    const metrics = (await app.inject('/metrics')).body;
    expect(metric(metrics, 'musicflow_data_check_blocked_total{check="daily_plays_anomaly"}')).toBe('1');
    expect(metric(metrics, 'musicflow_data_check_failed_total{check="daily_plays_anomaly",severity="error"}')).toBe('1');
    expect(metric(metrics, 'musicflow_data_check_passed{check="daily_plays_anomaly"}')).toBe('0');
    // GET /runs/:id shows it.
    expect((await app.inject(`/runs/${second.runId}`)).json().report).toMatchObject({ status: 'partial', blockedDates: second.blockedDates });
  });

  it('at warn level an anomalous day loads: the run succeeds, the check and an alert report it', async () => {
    const pipeline = await start({});
    await bucket.addStream('spike-again.csv', await onDate('2024-06-06', 0, 150));
    const report = await pipeline.run();
    expect(report.status).toBe('succeeded');
    expect(report.error).toBeUndefined();
    expect(report.checks?.find((c) => c.name === 'daily_plays_anomaly')).toMatchObject({ passed: false, severity: 'warn' });
    expect(report.blockedDates).toBeUndefined();
    const warehouse = await pipeline.ctx.warehouse();
    expect((await warehouse.kpis('hourly', '2024-06-06')).reduce((n, h) => n + Number(h.total_plays), 0)).toBe(150);
    const alert = await alertOf(report);
    expect(alert).toMatchObject({
      status: 'succeeded',
      failedChecks: expect.arrayContaining([{ name: 'daily_plays_anomaly', severity: 'warn', detail: expect.any(String) }]),
    });
    expect(alert.text).toContain('data check failed [warn]: daily_plays_anomaly (2024-06-06: 150 plays');
    expect((await checksOf(report.runId)).find((c) => c.check_name === 'daily_plays_anomaly')).toMatchObject({
      passed: false,
      blocked: false,
      severity: 'warn',
    });
  });
});

describe('schema drift through the pipeline', () => {
  const setup = usePipelineWithApi(1, 50);

  /** Rewrites a catalogue CSV's header (its rows keep their values in place). */
  const editHeader = async (setting: 'USERS_URL' | 'SONGS_URL', edit: (columns: string[]) => string[], row = (fields: string) => fields) => {
    const file = new URL(setup.bucket.env[setting]!).pathname;
    const [header, ...rows] = (await fs.readFile(file, 'utf8')).split('\n');
    await fs.writeFile(file, [edit(header!.split(',')).join(','), ...rows.map((r) => (r ? row(r) : r))].join('\n'));
  };

  it('a first run has nothing to compare with; a file gaining a column, users gaining one, songs renaming one are reported, measured and alerted', async () => {
    const first = await setup.pipeline.run();
    expect(first.status).toBe('succeeded');
    expect(first.schemaDrift).toBeUndefined();

    const events = withoutHeader(await sampleStreams(50, 60))
      .split('\n')
      .filter(Boolean);
    await setup.bucket.addStream('with-device.csv', ['user_id,track_id,listen_time,device', ...events.map((l) => `${l},phone`)].join('\n') + '\n');
    await editHeader(
      'USERS_URL',
      (c) => [...c, 'plan'],
      (r) => `${r},free`,
    );
    await editHeader('SONGS_URL', (c) => c.map((name) => (name === 'danceability' ? 'dance' : name)));
    const second = await setup.pipeline.run();
    expect(second.status).toBe('succeeded');
    const url = (setting: string) => setup.bucket.env[setting]!;
    expect(second.schemaDrift).toEqual([
      {
        source: 'streams',
        url: url('STREAMS_URL'),
        added: ['device'],
        missing: [],
        renamed: [],
        files: 1,
        examples: [expect.stringContaining('with-device.csv')],
      },
      { source: 'users', url: url('USERS_URL'), added: ['plan'], missing: [], renamed: [] },
      { source: 'songs', url: url('SONGS_URL'), added: [], missing: [], renamed: [{ from: 'danceability', to: 'dance' }] },
    ]);
    const alert = await waitFor('the drift alert', async () => setup.receiver.received.find((a) => a.runId === second.runId));
    expect(alert).toMatchObject({ status: 'succeeded', schemaDrift: second.schemaDrift });
    expect(alert.text).toContain(`schema drift: songs ${url('SONGS_URL')}: renamed danceability → dance`);
    expect(alert.text).toContain(`schema drift: streams ${url('STREAMS_URL')}: added device (1 file(s): `);
    const metrics = (await setup.app.inject('/metrics')).body;
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="streams",change="added"}')).toBe('1');
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="users",change="added"}')).toBe('1');
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="songs",change="renamed"}')).toBe('1');
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="songs",change="missing"}')).toBe('0');
  });

  it('a stream file renaming a required column is rejected and its drift told, songs losing a column too; sources that did not change tell nothing', async () => {
    const events = withoutHeader(await sampleStreams(60, 70))
      .split('\n')
      .filter(Boolean);
    await setup.bucket.addStream('played-at.csv', ['user_id,track_id,played_at,device', ...events.map((l) => `${l},tv`)].join('\n') + '\n');
    await setup.bucket.addStream('ok.csv', ['user_id,track_id,listen_time,device', ...events.slice(0, 3).map((l) => `${l},tv`)].join('\n') + '\n');
    // Songs lose time_signature, the column before the last (track_genre).
    await editHeader(
      'SONGS_URL',
      (c) => c.filter((name) => name !== 'time_signature'),
      (r) => r.replace(/,[^,]*(,[^,]*)$/, '$1'),
    );
    const report = await setup.pipeline.run();
    expect(report.status).toBe('partial');
    expect(report.schemaDrift).toEqual([
      {
        source: 'streams',
        url: setup.bucket.env.STREAMS_URL,
        added: [],
        missing: [],
        renamed: [{ from: 'listen_time', to: 'played_at' }],
        files: 1,
        examples: [expect.stringContaining('played-at.csv')],
      },
      { source: 'songs', url: setup.bucket.env.SONGS_URL, added: [], missing: ['time_signature'], renamed: [] },
    ]);
    const metrics = (await setup.app.inject('/metrics')).body;
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="streams",change="renamed"}')).toBe('1');
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="songs",change="missing"}')).toBe('1');
    expect(metric(metrics, 'musicflow_schema_drift_columns{source="users",change="added"}')).toBe('0');
    const alert = await waitFor('the alert', async () => setup.receiver.received.find((a) => a.runId === report.runId));
    expect(alert.text).toContain('renamed listen_time → played_at');
    expect(alert.text).toContain(`schema drift: songs ${setup.bucket.env.SONGS_URL}: missing time_signature`);
  });
});
