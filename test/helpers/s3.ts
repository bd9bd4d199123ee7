import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
// s3rver ships no types.
// @ts-expect-error no declaration file
import S3rver from 's3rver';
import { tempDir } from './env.ts';

export interface TestS3 {
  endpoint: string;
  /** Environment that points @aws-sdk/client-s3 and musicflow at this server. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * A real S3-protocol server (s3rver) on loopback, with the given buckets. It
 * sets the AWS SDK variables in process.env for the adapter under test.
 */
export async function startS3(buckets: string[]): Promise<TestS3> {
  const directory = await tempDir('musicflow-s3-');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  const address = (await server.run()) as AddressInfo;
  const endpoint = `http://127.0.0.1:${address.port}`;
  const env = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_REGION: 'us-east-1',
    S3_FORCE_PATH_STYLE: 'true',
    S3_CHECKSUMS: 'WHEN_REQUIRED',
  };
  Object.assign(process.env, env);
  return {
    endpoint,
    env,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await fs.rm(path.resolve(directory), { recursive: true, force: true });
    },
  };
}
