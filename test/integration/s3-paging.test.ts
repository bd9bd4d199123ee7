/**
 * ListObjectsV2 answers at most 1,000 keys a page: listings beyond that follow
 * NextContinuationToken. Against a real S3-protocol server (s3rver, with the
 * patch in patches/ that makes its continuation token work on Node >= 17).
 */
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { startS3, type TestS3 } from '../helpers/s3.ts';

const OBJECTS = 2500;
const key = (i: number) => `many/part-${String(i).padStart(5, '0')}.csv`;

/** Runs `task` over 0..count-1, `parallel` at a time. */
async function inParallel(count: number, parallel: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

describe('S3 listing beyond 1,000 keys', () => {
  let s3: TestS3;
  let client: S3Client;
  let store: ObjectStore;

  beforeAll(async () => {
    s3 = await startS3(['paging']);
    client = new S3Client({ forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
    await inParallel(OBJECTS, 16, (i) => client.send(new PutObjectCommand({ Bucket: 'paging', Key: key(i), Body: `n\n${i}\n` })));
    // A neighbour that shares the prefix's first letters but not the folder: never listed.
    await client.send(new PutObjectCommand({ Bucket: 'paging', Key: 'many-other/x.csv', Body: 'x' }));
    store = createObjectStore({ forcePathStyle: true, checksums: 'WHEN_REQUIRED' });
  }, 120_000);

  afterAll(async () => {
    await store?.close();
    client?.destroy();
    await s3?.close();
  });

  it('pages through 2,500 keys with the continuation token, through @aws-sdk/client-s3', async () => {
    const keys: string[] = [];
    const pages: number[] = [];
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: 'paging', Prefix: 'many/', ContinuationToken: token }));
      pages.push(page.KeyCount ?? 0);
      keys.push(...(page.Contents ?? []).map((o) => o.Key!));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    expect(pages).toEqual([1000, 1000, 500]);
    expect(keys).toEqual(Array.from({ length: OBJECTS }, (_, i) => key(i)));
  });

  it('the s3:// adapter lists every object of the folder', async () => {
    const urls: string[] = [];
    for await (const o of store.list('s3://paging/many/')) urls.push(o.url);
    expect(urls).toHaveLength(OBJECTS);
    expect(new Set(urls)).toEqual(new Set(Array.from({ length: OBJECTS }, (_, i) => `s3://paging/${key(i)}`)));
  });

  it('the s3:// adapter deletes a folder of more than 1,000 objects', async () => {
    expect(await store.deleteFolder('s3://paging/many/')).toBe(OBJECTS);
    const left = await client.send(new ListObjectsV2Command({ Bucket: 'paging' }));
    expect(left.Contents?.map((o) => o.Key)).toEqual(['many-other/x.csv']);
  });
});
