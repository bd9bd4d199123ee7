/**
 * Alerts end to end: a local HTTP receiver gets the webhook of a partial run
 * (a bad file), of a failed run and of a stale schedule; a receiver that hangs
 * or is down neither fails nor holds the run, and its delivery is retried.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALERTS_QUEUE, alertJobIds } from '@musicflow/contracts';
import { startScheduler } from '@musicflow/service-api';
import { createTestDatabase, dropTestDatabase, fileUrl, testConfig } from '../helpers/env.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { deleteKeys, makeBucket, waitFor, type Bucket } from '../api/fixtures.ts';
import { deadUrl, startReceiver, type Receiver } from './webhook.ts';

describe('alerts to ALERT_WEBHOOK_URL', () => {
  let db: string;
  let bucket: Bucket;
  let receiver: Receiver;
  let pipeline: TestPipeline;

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(2, 50);
    receiver = await startReceiver();
    pipeline = await startPipeline(testConfig({ ...bucket.env, WAREHOUSE_URL: db, ALERT_WEBHOOK_URL: receiver.url, FRESHNESS_MAX_AGE: '2s' }));
  });

  afterAll(async () => {
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    await receiver?.close();
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('a run with a bad file ends partial and the receiver gets its run id, status, counts and the rejected file', async () => {
    await bucket.addStream('no-time.csv', 'user_id,track_id\n1,4dBa8T7oDV9WvGr7kVS4Ez\n');
    const report = await pipeline.run();
    expect(report.status).toBe('partial');
    const alert = await waitFor('the partial run alert', async () => receiver.received.find((a) => a.runId === report.runId));
    expect(alert).toMatchObject({
      kind: 'run',
      status: 'partial',
      contentType: 'application/json',
      counts: { files: { total: 3, loaded: 2, rejected: 1 }, rows: { read: 100, valid: 100 } },
      rejectedFiles: [{ file: expect.stringContaining('no-time.csv'), reasons: [expect.stringContaining('listen_time')] }],
    });
    expect(alert.text).toContain(`musicflow run ${report.runId}`);
    expect(alert.text).toContain('PARTIAL');
    expect(alert.text).toContain('no-time.csv');
  });

  it('a failed run alerts with its error; a succeeded one does not', async () => {
    const songs = path.join(bucket.root, 'bad-songs.csv');
    await fs.writeFile(songs, 'track_id,artists,album_name,track_name,popularity,duration_ms\n1,A,B,C,1,1000\n');
    // A stream file to load, so the run needs the catalogue.
    await bucket.addStream('needs-catalogue.csv', 'user_id,track_id,listen_time\n8,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 11:00:00\n');
    const failed = await pipeline.run({ songs: fileUrl(songs) });
    expect(failed.status).toBe('failed');
    const alert = await waitFor('the failed run alert', async () => receiver.received.find((a) => a.runId === failed.runId));
    expect(alert).toMatchObject({ kind: 'run', status: 'failed', error: expect.stringContaining('missing column(s) track_genre') });
    expect(alert.text).toContain('FAILED');

    await fs.rm(path.join(bucket.streamsDir, 'no-time.csv'));
    await bucket.addStream('late.csv', 'user_id,track_id,listen_time\n7,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 10:00:00\n');
    const succeeded = await pipeline.run();
    expect(succeeded.status).toBe('succeeded');
    // The loader queues a run's alert before it returns the report: none was queued for this run.
    const alerts = new Queue(ALERTS_QUEUE, { connection: pipeline.ctx.queues.connection, prefix: pipeline.ctx.config.QUEUE_PREFIX });
    expect(await alerts.getJobState(alertJobIds.run(succeeded.runId))).toBe('unknown');
    await alerts.close();
    expect(receiver.received.filter((a) => a.runId === succeeded.runId)).toEqual([]);
  });

  it("no successful run for longer than FRESHNESS_MAX_AGE: the scheduler's freshness check alerts once", async () => {
    const scheduler = await startScheduler(pipeline.ctx);
    try {
      const alert = await waitFor('the stale alert', async () => receiver.received.find((a) => a.kind === 'stale'), 20_000);
      expect(alert).toMatchObject({
        freshness: { maxAgeSeconds: 2, newestListenDate: '2024-06-25', lastSuccessfulRunAt: expect.any(String) },
      });
      expect((alert.freshness as { lastSuccessfulRunAgeSeconds: number }).lastSuccessfulRunAgeSeconds).toBeGreaterThanOrEqual(2);
      expect(alert.text).toContain('stale');
      // The check keeps running every second; the same stale episode is not alerted again.
      await new Promise((r) => setTimeout(r, 2500));
      expect(receiver.received.filter((a) => a.kind === 'stale')).toHaveLength(1);
    } finally {
      await scheduler.close();
    }
  });
});

describe('an alert receiver that hangs or is down', () => {
  it('neither fails nor holds the run; the delivery is retried, then given up', async () => {
    const db = await createTestDatabase();
    const bucket = await makeBucket(1, 50);
    const hanging = await startReceiver('hang');
    const configs = [hanging.url, await deadUrl()].map((url) => testConfig({ ...bucket.env, WAREHOUSE_URL: db, ALERT_WEBHOOK_URL: url }));
    try {
      for (const [i, config] of configs.entries()) {
        const pipeline = await startPipeline(config);
        const alerts = new Queue(ALERTS_QUEUE, { connection: pipeline.ctx.queues.connection, prefix: config.QUEUE_PREFIX });
        try {
          await bucket.addStream(`bad-${i}.csv`, 'user_id,track_id\n1,x\n');
          await bucket.addStream(`good-${i}.csv`, 'user_id,track_id,listen_time\n7,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 10:00:00\n');
          const report = await pipeline.run();
          expect(report.status).toBe('partial');
          const id = alertJobIds.run(report.runId);
          // The run is over while its alert has not been delivered.
          expect(await alerts.getJobState(id)).not.toBe('completed');
          if (i === 0) {
            await waitFor('the hanging receiver to be called', async () => hanging.received.length > 0);
          } else {
            await waitFor('the delivery attempts to run out', async () => (await alerts.getJobState(id)) === 'failed', 30_000);
            const job = await alerts.getJob(id);
            expect(job?.attemptsMade).toBe(config.JOB_ATTEMPTS);
            expect(job?.failedReason).toMatch(/fetch failed|ECONNREFUSED/);
          }
        } finally {
          await alerts.close();
          await pipeline.close();
          await deleteKeys(config.QUEUE_PREFIX);
        }
      }
    } finally {
      await hanging.close();
      await dropTestDatabase(db);
      await bucket.close();
    }
  });
});
