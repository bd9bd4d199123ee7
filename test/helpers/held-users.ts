import fs from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, REDIS_URL, SAMPLE, tempDir, uniqueName } from './env.ts';
import { startHoldProxy, type HoldProxy } from './hold-proxy.ts';
import { startS3, type TestS3 } from './s3.ts';

export interface HeldUsersSources {
  /** The environment of worker processes (and of the test's config) over these sources. */
  env: Record<string, string>;
  /** Holds every read of users.csv until released. */
  proxy: HoldProxy;
  warehouseUrl: string;
  close(): Promise<void>;
}

/**
 * A run's sources (the sample's streams1.csv and songs, its own database, lake
 * and queue prefix) whose users catalogue is an S3 object read through a hold
 * proxy: the users catalogue job is active and stuck, in whichever worker took
 * it, until `proxy.release()`.
 */
export async function startHeldUsersSources(): Promise<HeldUsersSources> {
  const s3: TestS3 = await startS3(['catalogue']);
  const client = new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
  await client.send(new PutObjectCommand({ Bucket: 'catalogue', Key: 'users.csv', Body: await fs.readFile(path.join(SAMPLE, 'users.csv')) }));
  client.destroy();
  const proxy = await startHoldProxy(Number(new URL(s3.endpoint).port));
  const warehouseUrl = await createTestDatabase();
  const work = await tempDir();
  await fs.mkdir(path.join(work, 'streams'));
  await fs.copyFile(path.join(SAMPLE, 'streams', 'streams1.csv'), path.join(work, 'streams', 'streams1.csv'));
  const env = {
    ...s3.env,
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${proxy.port}`,
    REDIS_URL,
    QUEUE_PREFIX: uniqueName('mft'),
    WAREHOUSE_URL: warehouseUrl,
    STREAMS_URL: dirUrl(path.join(work, 'streams')),
    USERS_URL: 's3://catalogue/users.csv',
    SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
    LAKE_URL: dirUrl(path.join(work, 'lake')),
    LOG_LEVEL: 'warn',
  };
  return {
    env,
    proxy,
    warehouseUrl,
    async close() {
      await proxy.close();
      await s3.close();
      await dropTestDatabase(warehouseUrl);
    },
  };
}

/** Polls `read` every 200 ms until it gives a value, or throws naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, read: () => T | undefined | Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
