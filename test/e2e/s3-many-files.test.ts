/**
 * A run over more stream files than one ListObjectsV2 page holds (1,000): every
 * file is found, loaded and archived. Streams in a real S3-protocol server
 * (s3rver, patched for its continuation token); a catalogue of only the
 * tracks and users they name, and the lake, on disk to keep the run short.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRun } from '@musicflow/flow';
import { makeBucket, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

// Past the first page of 1,000 keys.
const FILES = 1050;
const ROWS_PER_FILE = 5;
/**
 * Every small file costs a validate and a transform job and a lake part the
 * KPI stage reads: on a shared 2-core machine this run took more than 9
 * minutes (issue 11: small files are being packed into fewer jobs). Until
 * then it runs with MUSICFLOW_SLOW_TESTS=1; S3 paging itself is tested by
 * test/integration/s3-paging.test.ts in every run.
 */
const RUN_BUDGET_MS = 20 * 60_000;

async function listAll(client: S3Client, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: 'many', Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

describe.runIf(process.env.MUSICFLOW_SLOW_TESTS === '1')('a run over more than 1,000 stream files in S3', () => {
  let s3: TestS3;
  let client: S3Client;
  let warehouseUrl: string;
  let pipeline: TestPipeline;
  let bucket: Bucket;

  beforeAll(async () => {
    s3 = await startS3(['many']);
    client = new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    // The stream files and a catalogue of only the tracks and users they name (every transform reads it today).
    bucket = await makeBucket(FILES, ROWS_PER_FILE);
    const names = (await fs.readdir(bucket.streamsDir)).sort();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = next++; i < names.length; i = next++) {
          const body = await fs.readFile(path.join(bucket.streamsDir, names[i]!));
          await client.send(new PutObjectCommand({ Bucket: 'many', Key: `in/streams/${names[i]}`, Body: body }));
        }
      }),
    );
    warehouseUrl = await createTestDatabase();
    const config = testConfig({
      ...s3.env,
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: 's3://many/in/streams/',
      USERS_URL: bucket.env.USERS_URL!,
      SONGS_URL: bucket.env.SONGS_URL!,
      LAKE_URL: bucket.env.LAKE_URL!,
      // Small files are waits on I/O (S3, Redis): several at once per stage.
      WORKER_CONCURRENCY: '8',
    });
    pipeline = await startPipeline(config);
  }, 120_000);

  afterAll(async () => {
    await pipeline?.close();
    client?.destroy();
    await s3?.close();
    await bucket?.close();
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
  });

  it(
    'finds, loads and archives every file',
    async () => {
      const started = Date.now();
      const { runId } = await startRun(pipeline.ctx.config, pipeline.ctx.queues, { trigger: 'test' });
      const report = await waitForReport(pipeline.ctx, runId, RUN_BUDGET_MS);
      console.info(`run over ${FILES} S3 files: ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(report.status).toBe('succeeded');
      expect(report.files.total).toBe(FILES);
      expect(report.files).toMatchObject({ loaded: FILES, rejected: 0 });
      expect(report.rows.read).toBe(FILES * ROWS_PER_FILE);

      const db = new pg.Client({ connectionString: warehouseUrl });
      await db.connect();
      const { rows } = await db.query<{ plays: string }>('SELECT SUM(total_plays) AS plays FROM analytics.hourly_kpis');
      await db.end();
      expect(Number(rows[0]!.plays)).toBe(report.rows.valid - report.rows.duplicate);

      expect(await listAll(client, 'in/streams/')).toEqual([]);
      const archived = await listAll(client, 'in/archive/');
      expect(archived).toHaveLength(FILES);
      expect(new Set(archived.map((k) => k.slice(k.lastIndexOf('/') + 1)))).toEqual(new Set(await fs.readdir(bucket.streamsDir)));
    },
    RUN_BUDGET_MS + 60_000,
  );
});
