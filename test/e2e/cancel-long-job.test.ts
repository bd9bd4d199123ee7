/**
 * Cancelling a run stops its long jobs between blocks, not only at job and
 * step boundaries: a users catalogue read from S3 through a proxy that
 * trickles it (a long job getting rows all along) is cancelled half-way; the
 * job fails as cancelled while most of the object is still unread, the run
 * is recorded `cancelled`, and its temporaries are gone.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds } from '@musicflow/contracts';
import { LAKE_LAYOUT } from '@musicflow/lake';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';
import { cancelRun, createServiceContext, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import { deleteKeys, waitFor } from '../api/fixtures.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { startTrickleProxy, type TrickleProxy } from '../helpers/hold-proxy.ts';
import { waitForReport } from '../helpers/pipeline.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

/** The sample's users six times over (14 MiB): at 640 KB/s through the proxy, a read of about 20 s. */
const REPEATS = 6;

describe('cancel a run during a long job', () => {
  let s3: TestS3;
  let proxy: TrickleProxy;
  let work: string;
  let db: string;
  let ctx: ServiceContext;
  let services: Service[] = [];
  let usersBytes = 0;
  const endpointBefore = process.env.AWS_ENDPOINT_URL_S3;

  beforeAll(async () => {
    s3 = await startS3(['catalogue']);
    const [header, ...rows] = (await fs.readFile(path.join(SAMPLE, 'users.csv'), 'utf8')).trimEnd().split('\n');
    const body = `${header}\n${Array.from({ length: REPEATS }, () => rows.join('\n')).join('\n')}\n`;
    usersBytes = Buffer.byteLength(body);
    const client = new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    await client.send(new PutObjectCommand({ Bucket: 'catalogue', Key: 'users.csv', Body: body }));
    client.destroy();
    proxy = await startTrickleProxy(Number(new URL(s3.endpoint).port), 16 * 1024, 25);
    // The workers' S3 clients (created below) reach the store through the proxy.
    process.env.AWS_ENDPOINT_URL_S3 = `http://127.0.0.1:${proxy.port}`;

    work = await tempDir();
    await fs.mkdir(path.join(work, 'streams'));
    await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(work, 'streams', 'streams1.csv'));
    db = await createTestDatabase();
    ctx = createServiceContext(
      testConfig({
        ...s3.env,
        AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3,
        WAREHOUSE_URL: db,
        STREAMS_URL: dirUrl(path.join(work, 'streams')),
        USERS_URL: 's3://catalogue/users.csv',
        SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
      }),
      'test',
    );
    services = await startServices(ctx, PIPELINE_WORKERS);
  });

  afterAll(async () => {
    await Promise.all(services.map((s) => s.close()));
    if (ctx) {
      await ctx.close();
      await deleteKeys(ctx.config.QUEUE_PREFIX);
    }
    process.env.AWS_ENDPOINT_URL_S3 = endpointBefore;
    await proxy?.close();
    await s3?.close();
    if (db) await dropTestDatabase(db);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('the users catalogue job stops as cancelled long before its source is read through', async () => {
    const { runId } = await startRun(ctx.config, ctx.queues, { trigger: 'test' });
    const users = jobIds.catalogue(runId, 'users');
    // Reading, well under way: its rows go through the checks.
    await waitFor('the users catalogue to be read', async () => proxy.forwarded > usersBytes / 10, 60_000);
    expect(await ctx.queues.queues.extract.getJobState(users)).toBe('active');

    expect(await cancelRun(ctx.queues, runId)).toMatchObject({ outcome: 'cancelled' });
    const report = await waitForReport(ctx, runId);
    const forwardedAtEnd = proxy.forwarded;

    expect(report.status).toBe('cancelled');
    const job = await ctx.queues.queues.extract.getJob(users);
    expect(await job!.getState()).toBe('failed');
    expect(job!.failedReason).toBe(`run ${runId} was cancelled`);
    // It stopped in the middle of its source, not at its end (the run's end comes after the job's).
    expect(forwardedAtEnd).toBeLessThan(usersBytes / 2);
    // Its temporaries are gone, and no KPI row was loaded.
    const temp = fileURLToPath(LAKE_LAYOUT.runTemp(ctx.config.LAKE_URL, runId));
    await expect(fs.access(temp)).rejects.toThrow();
    const warehouse = await ctx.warehouse();
    expect(await warehouse.query('SELECT count(*)::int AS n FROM analytics.hourly_kpis')).toEqual([{ n: 0 }]);
  });
});
