/**
 * The production shape: stream files and the lake in an S3 bucket (a real
 * S3-protocol server on loopback), users and songs from the `users` and
 * `songs` tables of a PostgreSQL database (the RDS source).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dropTestDatabase, SAMPLE, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { loadRdsTables } from '../helpers/rds.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

describe('pipeline over S3 and the RDS source', () => {
  let s3: TestS3;
  let warehouseUrl: string;
  let rdsUrl: string;
  let pipeline: TestPipeline;
  let client: S3Client;

  beforeAll(async () => {
    s3 = await startS3(['musicflow']);
    [warehouseUrl, rdsUrl] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    await loadRdsTables(rdsUrl);
    client = new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    await client.send(
      new PutObjectCommand({ Bucket: 'musicflow', Key: 'in/streams/day1/streams1.csv', Body: fs.readFileSync(path.join(SAMPLE, 'streams', 'streams1.csv')) }),
    );
    const config = testConfig({
      ...s3.env,
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: 's3://musicflow/in/streams/',
      USERS_URL: rdsUrl,
      SONGS_URL: rdsUrl,
      LAKE_URL: 's3://musicflow/lake/',
    });
    pipeline = await startPipeline(config);
  });

  afterAll(async () => {
    await pipeline?.close();
    client?.destroy();
    await s3?.close();
    await Promise.all([warehouseUrl, rdsUrl].filter(Boolean).map(dropTestDatabase));
  });

  it('loads KPIs equal to an independent implementation, writes the lake to S3 and archives the file', async () => {
    const report = await pipeline.run();
    expect(report.status).toBe('succeeded');
    // The catalogue of a run is what its events name (issue 16): streams1.csv's distinct listeners and tracks found in RDS.
    expect(report.catalogue).toMatchObject({ users: 8956, songs: 10656, rejected: 0 });
    expect(report.rows).toMatchObject({ read: 11346, valid: 11346, orphanTracks: 0, orphanUsers: 0 });

    expectSameKpis(
      await readWarehouseKpis(warehouseUrl),
      await computeKpisWithDuckDB({ streamFiles: [path.join(SAMPLE, 'streams', 'streams1.csv')], songsCsv: path.join(SAMPLE, 'songs.csv') }),
    );

    const keys = (await client.send(new ListObjectsV2Command({ Bucket: 'musicflow' }))).Contents!.map((o) => o.Key).sort();
    const [yyyy, mm, dd] = new Date().toISOString().slice(0, 10).split('-');
    expect(keys).toEqual([`in/archive/${yyyy}/${mm}/${dd}/day1/streams1.csv`, 'lake/processed/listen_date=2024-06-25/day1__streams1.parquet']);
  });
});
