/**
 * The one redaction (packages/config/src/redact.ts) on every form a URL or a
 * connection string carries a credential in; the logger built on it; source
 * URLs the stores cannot use and their one spelling; a run record that always
 * fits analytics.etl_runs.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, normalizeSourceUrl, redactDeep, redactSecrets, sourceUrlProblem } from '@musicflow/config';
import type { RunReport } from '@musicflow/contracts';
import { fitRunRecord } from '@musicflow/warehouse';
import { failedReport } from '@musicflow/service-loader';

const SECRET = 'S3cr3t-Value_42';

describe('redactSecrets', () => {
  it.each([
    ['user:password@', `postgres://loader:${SECRET}@db.example:5432/analytics`, 'postgres://loader:***@db.example:5432/analytics'],
    ['a password a URL parser refuses', `postgres://loader:a/b${SECRET}@db:5432/x`, 'postgres://loader:***@db:5432/x'],
    ['?password=', `postgres://loader@db:5432/analytics?password=${SECRET}`, 'postgres://loader@db:5432/analytics?password=***'],
    [
      'sslpassword and sslkey',
      `postgres://db/x?sslmode=verify-full&sslpassword=${SECRET}&sslkey=/keys/${SECRET}.pem`,
      'postgres://db/x?sslmode=verify-full&sslpassword=***&sslkey=***',
    ],
    [
      'an S3 presigned URL',
      `https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA${SECRET}%2F20260101&X-Amz-Security-Token=${SECRET}&X-Amz-Signature=${SECRET}`,
      'https://b.s3.amazonaws.com/k.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***&X-Amz-Security-Token=***&X-Amz-Signature=***',
    ],
    [
      'token=, secret=, api_key=, sig=',
      `https://h/p?token=${SECRET}&secret=${SECRET}&api_key=${SECRET}&sig=${SECRET}&page=2`,
      'https://h/p?token=***&secret=***&api_key=***&sig=***&page=2',
    ],
    ['a fragment', `https://h/cb#access_token=${SECRET}`, 'https://h/cb#access_token=***'],
    ['a libpq key=value string', `host=db port=5432 password=${SECRET} dbname=x`, 'host=db port=5432 password=*** dbname=x'],
    ['a quoted libpq value', `host=db password='${SECRET} x' dbname=x`, 'host=db password=*** dbname=x'],
    ['redis://:password@', `redis://:${SECRET}@cache:6379/0`, 'redis://:***@cache:6379/0'],
  ])('hides %s', (_form, text, expected) => {
    expect(redactSecrets(text)).toBe(expected);
    expect(redactSecrets(`connect failed at ${text} (ECONNREFUSED)`)).toBe(`connect failed at ${expected} (ECONNREFUSED)`);
  });

  it('keeps what carries no credential, and is idempotent', () => {
    for (const text of [
      's3://bucket/in/streams/',
      'file:///data/users.csv',
      'postgres://postgres@127.0.0.1:5432/musicflow?sslmode=require',
      'rows=12 files=3',
    ]) {
      expect(redactSecrets(text)).toBe(text);
    }
    const once = redactSecrets(`postgres://u:${SECRET}@h/db?password=${SECRET}`);
    expect(redactSecrets(once)).toBe(once);
  });

  it('redacts every string of nested data', () => {
    const data = { sources: { users: `postgres://u:${SECRET}@h/db` }, list: [`x?token=${SECRET}`], n: 3 };
    expect(JSON.stringify(redactDeep(data))).not.toContain(SECRET);
    expect(redactDeep(data).n).toBe(3);
  });

  it('the logger hides credentials in messages, fields, nested objects and errors', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = createLogger('test', 'info', sink);
    log.info({ url: `postgres://u@h/db?password=${SECRET}` }, `at postgres://u:${SECRET}@h/db`);
    log.warn({ nested: { deeper: [`https://h?X-Amz-Signature=${SECRET}`] } }, 'nested');
    log.error({ err: new Error(`connect to redis://:${SECRET}@h:6379 failed`) }, 'error');
    log.child({ source: `s3://b/k?token=${SECRET}` }).info('bound');
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      expect(line).not.toContain(SECRET);
      expect(() => JSON.parse(line)).not.toThrow();
    }
  });
});

describe('source URLs', () => {
  const long = 'x'.repeat(1100);
  it.each([
    [`file:///d/streams/?${long}`, 'bytes long'],
    ['file:///d/streams/?a=1', 'must not have a query'],
    ['s3://bucket/in/#frag', 'fragment'],
    ['file:///d/a%00b/', 'NUL'],
    ['file:///d/..%2fetc/', 'encodes a /'],
    ['file:///d/a%5cb/', 'encodes a /, a \\'],
    ['file:///d/../etc/', 'a .. segment'],
    ['file:///d/%2e%2e/etc/', 'a .. segment'],
    [`file:///d/${'n'.repeat(256)}/`, 'at most 255'],
    ['file:///d/%zz/', 'percent-encoded byte'],
    ['file:///d/%ff%fe/', 'not percent-encoded UTF-8'],
    ['file://otherhost/d/', 'names the host'],
    ['s3://A_Bucket/in/', 'not a valid S3 bucket name'],
    ['http://h/x', 'must be an s3://'],
  ])('refuses %s', (url, why) => {
    expect(sourceUrlProblem(url)).toContain(why);
  });

  it('takes usable URLs, database URLs with their query', () => {
    for (const url of ['file:///d/streams/', 's3://my-bucket/in/streams/', 'file:///d/my%20folder/users.csv', 'postgres://u@h:5432/db?sslmode=require']) {
      expect(sourceUrlProblem(url)).toBeUndefined();
    }
  });

  it('gives one folder one spelling', () => {
    for (const url of ['file:///d/', 'file://localhost/d/', 'file:///d/./', 'file:///d/.', 'FILE:///d//', 'file:///d/%2e/']) {
      expect(normalizeSourceUrl(url), url).toBe('file:///d/');
    }
    expect(normalizeSourceUrl('s3://b/in/./streams/')).toBe('s3://b/in/streams/');
    expect(normalizeSourceUrl('s3://b/in//streams/')).toBe('s3://b/in//streams/');
    expect(normalizeSourceUrl('postgres://u@h/db?x=1')).toBe('postgres://u@h/db?x=1');
  });
});

describe('fitRunRecord', () => {
  const run = {
    runId: '20260101-000000-abcdef',
    trigger: 'api' as const,
    startedAt: '2026-01-01T00:00:00.000Z',
    sources: { streams: 'file:///d/', users: 'file:///d/users.csv', songs: 'file:///d/songs.csv' },
    lake: 'file:///lake/',
    archive: 'file:///archive/',
  };
  const report = (change: Partial<RunReport>): RunReport => ({ ...failedReport(run, 'load: timeout'), ...change });
  const bytes = (r: RunReport) => Buffer.byteLength(JSON.stringify(r));

  it('leaves a small report as it is', () => {
    const small = report({});
    expect(fitRunRecord(small)).toEqual(small);
  });

  it('cuts, shortens and redacts what does not fit, so the record always fits its columns', () => {
    const huge = report({
      sources: { streams: `file:///d/?${'q'.repeat(1100)}`, users: `postgres://u:${SECRET}@rds/db?password=${SECRET}`, songs: 'file:///d/songs.csv' },
      error: 'é'.repeat(70_000),
      files: {
        total: 5000,
        loaded: 0,
        rejected: 5000,
        firstRejected: Array.from({ length: 5000 }, (_, i) => ({ file: `f${i}-${'n'.repeat(300)}`, reasons: ['r'.repeat(2000)] })),
      },
      dates: Array.from({ length: 20_000 }, (_, i) => `d${i}`),
      checks: Array.from({ length: 5000 }, (_, i) => ({ name: `c${i}`, passed: false, detail: 'x'.repeat(500) })),
    });
    const fitted = fitRunRecord(huge);
    expect(bytes(fitted)).toBeLessThanOrEqual(65_535);
    expect(fitted.truncated).toBe(true);
    expect(Buffer.byteLength(fitted.sources.streams)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(fitted.error!)).toBeLessThanOrEqual(4096);
    expect(JSON.stringify(fitted)).not.toContain(SECRET);
    expect(fitted.files).toMatchObject({ total: 5000, rejected: 5000 });
  });
});
