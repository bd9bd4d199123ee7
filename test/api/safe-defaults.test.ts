/**
 * Safe by default: without API_TOKEN the API listens on loopback only, and a
 * non-loopback address without a token takes API_ALLOW_UNAUTHENTICATED; per-run
 * sources must fall under SOURCE_URL_PREFIXES (default: the configured streams folder and catalogue files).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { isAllowedSource } from '@musicflow/config';
import { createServiceContext, type ServiceContext } from '@musicflow/flow';
import { buildApp, startApi } from '@musicflow/service-api';
import { testConfig } from '../helpers/env.ts';
import { deleteKeys, makeBucket, type Bucket } from './fixtures.ts';

const TOKEN = 'a-token-of-sixteen-chars';

describe('API bind address', () => {
  it('defaults to loopback without API_TOKEN, to every interface with it', () => {
    expect(testConfig({}).API_HOST).toBe('127.0.0.1');
    expect(testConfig({ API_TOKEN: TOKEN }).API_HOST).toBe('0.0.0.0');
  });

  it('refuses to start on a non-loopback address without a token, naming both variables', async () => {
    const ctx = createServiceContext(testConfig({ API_HOST: '0.0.0.0', API_PORT: '0' }), 'test');
    try {
      await expect(startApi(ctx)).rejects.toThrow(/API_HOST 0\.0\.0\.0.*API_TOKEN.*API_ALLOW_UNAUTHENTICATED=true/s);
    } finally {
      await ctx.close();
    }
  });
});

describe('per-run sources under SOURCE_URL_PREFIXES', () => {
  let bucket: Bucket;
  let ctx: ServiceContext;
  let app: FastifyInstance;

  beforeAll(async () => {
    bucket = await makeBucket(1, 10);
    ctx = createServiceContext(testConfig(bucket.env), 'test');
    app = await buildApp(ctx);
  });
  afterAll(async () => {
    await app?.close();
    await deleteKeys(ctx.config.QUEUE_PREFIX);
    await ctx?.close();
    await bucket?.close();
  });

  it('default to the STREAMS_URL folder and the USERS_URL and SONGS_URL files (not the folder around them)', () => {
    expect(ctx.config.SOURCE_URL_PREFIXES).toEqual([bucket.env.STREAMS_URL, bucket.env.USERS_URL, bucket.env.SONGS_URL]);
  });

  it.each([
    ['streams', 'file:///etc/', 'SOURCE_URL_PREFIXES'],
    ['streams', 'STREAMS_URL/../../../../etc/', 'must not hold a .. segment'],
    ['users', 'postgres://postgres@127.0.0.1:5432/postgres', 'SOURCE_URL_PREFIXES'],
    ['songs', 's3://someone-elses-bucket/songs.csv', 'SOURCE_URL_PREFIXES'],
    ['songs', 'STREAMS_URL/../other.csv', 'must not hold a .. segment'],
  ])('POST /runs with %s outside them: 400 naming the field', async (field, url, why) => {
    const payload = { [field]: url.replace('STREAMS_URL/', bucket.env.STREAMS_URL!) };
    const res = await app.inject({ method: 'POST', url: '/runs', payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toContain(`body field ${field}:`);
    expect(res.json().message).toContain(why);
  });

  it('POST /runs under them starts the run', async () => {
    const res = await app.inject({ method: 'POST', url: '/runs', payload: { streams: bucket.env.STREAMS_URL, songs: bucket.env.SONGS_URL } });
    expect(res.statusCode).toBe(202);
  });

  it('a folder prefix does not match a sibling that starts alike; a database URL only matches itself', () => {
    expect(isAllowedSource('file:///in/streams-other/', ['file:///in/streams/'])).toBe(false);
    expect(isAllowedSource('file:///in/streams/2024/', ['file:///in/streams/'])).toBe(true);
    expect(isAllowedSource('postgres://h/rds2', ['postgres://h/rds'])).toBe(false);
    expect(isAllowedSource('postgres://h/rds', ['postgres://h/rds'])).toBe(true);
  });
});
