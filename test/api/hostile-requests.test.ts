/**
 * Hostile and careless requests against a running stack (real Redis,
 * PostgreSQL, the five workers and the Fastify app): no request can poison a
 * later run, reach a folder it should not, leak a credential, come from
 * another web site, flood the log, or schedule a run every second.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline as pump } from 'node:stream/promises';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createLogger, redactSecrets, type Config } from '@musicflow/config';
import { jobIds, QUEUES, type RunReport } from '@musicflow/contracts';
import { createServiceContext, deliverAlert, startRun } from '@musicflow/flow';
import { BULL_BOARD_PATH, buildApp } from '@musicflow/service-api';
import { failedReport } from '@musicflow/service-loader';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { deadUrl, startReceiver, type Receiver } from '../alerts/webhook.ts';
import { deleteKeys, makeBucket, sampleStreams, waitFor, withConfig, type Bucket } from './fixtures.ts';

const PASSWORD = `pw${randomBytes(8).toString('hex')}`;
const QUERY_PASSWORD = `qpw${randomBytes(8).toString('hex')}`;
const TOKEN = `tok-${randomBytes(16).toString('hex')}`;

/** Everything Redis holds under a queue prefix (hashes, streams, strings, lists, sets), as one text. */
async function redisContents(redis: Redis, prefix: string): Promise<{ keys: number; text: string }> {
  const parts: string[] = [];
  let keys = 0;
  for await (const batch of redis.scanStream({ match: `${prefix}:*`, count: 500 }) as AsyncIterable<string[]>) {
    for (const key of batch) {
      keys++;
      const type = await redis.type(key);
      const value =
        type === 'hash'
          ? await redis.hgetall(key)
          : type === 'stream'
            ? await redis.xrange(key, '-', '+')
            : type === 'string'
              ? await redis.get(key)
              : type === 'list'
                ? await redis.lrange(key, 0, -1)
                : type === 'set'
                  ? await redis.smembers(key)
                  : type === 'zset'
                    ? await redis.zrange(key, 0, -1)
                    : type;
      parts.push(key, JSON.stringify(value));
    }
  }
  return { keys, text: parts.join('\n') };
}

/** Every line a logger writes, through the production logger (createLogger). */
function captureLog(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, logger: createLogger('test', 'info', sink) };
}

describe('hostile requests', () => {
  let db: string;
  let bucket: Bucket;
  let config: Config;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let receiver: Receiver;
  const log = captureLog();
  let streamsAdded = 0;

  const addStreamFile = async () => bucket.addStream(`more-${++streamsAdded}.csv`, await sampleStreams(0, 20));
  const etlRun = async (runId: string) => {
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    try {
      const { rows } = await client.query<{ streams_url: string; error: string | null; report: string }>(
        'SELECT streams_url, error, report FROM analytics.etl_runs WHERE run_id = $1',
        [runId],
      );
      return rows[0];
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 20);
    receiver = await startReceiver();
    config = testConfig({ ...bucket.env, WAREHOUSE_URL: db, LOG_LEVEL: 'info', ALERT_WEBHOOK_URL: receiver.url });
    pipeline = await startPipeline(config, log.logger);
    app = await buildApp(pipeline.ctx);
  });

  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    if (config) await deleteKeys(config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
    await receiver?.close();
  });

  describe('sources', () => {
    const cases: [string, string, string][] = [
      ['streams', `STREAMS?${'q'.repeat(1100)}`, 'bytes long'],
      ['streams', 'STREAMS?x=1', 'must not have a query'],
      ['streams', 'STREAMSa%00b/', 'NUL'],
      ['streams', 'STREAMS..%2f..%2fetc/', 'encodes a /'],
      ['streams', `STREAMS${'n'.repeat(300)}/`, 'at most 255'],
      ['streams', 'STREAMS%zz/', 'percent-encoded byte'],
      ['users', `USERS?${'q'.repeat(1100)}`, 'bytes long'],
      ['songs', 'SONGS%c3%28', 'not percent-encoded UTF-8'],
    ];
    it.each(cases)('POST /runs with a %s URL the stores cannot use: 400 naming the field (%s)', async (field, template, why) => {
      const url = template.replace('STREAMS', config.STREAMS_URL).replace('USERS', config.USERS_URL).replace('SONGS', config.SONGS_URL);
      const res = await app.inject({ method: 'POST', url: '/runs', payload: { [field]: url } });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toContain(`body field ${field}:`);
      expect(res.json().message).toContain(why);
    });

    it('one folder written three ways, started at once, is one run', async () => {
      await pipeline.ctx.queues.queues.extract.pause();
      let runId: string;
      try {
        const folder = config.STREAMS_URL;
        const spellings = [folder, folder.replace('file:///', 'file://localhost/'), `${folder}./`];
        const answers = await Promise.all(spellings.map((streams) => app.inject({ method: 'POST', url: '/runs', payload: { streams } })));
        expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 200, 202]);
        const ids = new Set(answers.map((a) => a.json().runId as string));
        expect(ids.size).toBe(1);
        runId = [...ids][0]!;
      } finally {
        await pipeline.ctx.queues.queues.extract.resume();
      }
      expect((await waitForReport(pipeline.ctx, runId)).sources.streams).toBe(config.STREAMS_URL);
    });

    it('by default only the streams folder and the two catalogue files are sources, never the archive or the lake', async () => {
      expect(config.SOURCE_URL_PREFIXES).toEqual([config.STREAMS_URL, config.USERS_URL, config.SONGS_URL]);
      const refused = async (a: FastifyInstance, payload: object, why: string) => {
        const res = await a.inject({ method: 'POST', url: '/runs', payload });
        expect(res.statusCode, JSON.stringify(payload)).toBe(400);
        expect(res.json().message).toContain(why);
      };
      await refused(app, { streams: config.ARCHIVE_URL }, 'body field streams');
      await refused(app, { users: config.USERS_URL.replace('users.csv', 'archive/2026/01/01/users.csv') }, 'not under SOURCE_URL_PREFIXES');
      // A prefix over the whole bucket still never covers the archive or the lake.
      const broad = await buildApp({ ...pipeline.ctx, config: withConfig(config, { SOURCE_URL_PREFIXES: [`file://${path.dirname(bucket.root)}/`] }) });
      try {
        await refused(broad, { streams: config.ARCHIVE_URL }, 'inside ARCHIVE_URL');
        await refused(broad, { streams: config.LAKE_URL }, 'inside LAKE_URL');
      } finally {
        await broad.close();
      }
    });
  });

  it('a parked record that does not fit is recorded cut; one the warehouse refuses is dropped after 3 loads; no later load fails', async () => {
    const parked = (runId: string, change: Partial<RunReport>): RunReport => ({
      ...failedReport(
        {
          runId,
          trigger: 'api',
          startedAt: new Date().toISOString(),
          sources: { streams: `${config.STREAMS_URL}?${'q'.repeat(1100)}`, users: config.USERS_URL, songs: config.SONGS_URL },
          lake: config.LAKE_URL,
          archive: config.ARCHIVE_URL,
        },
        'load: timeout',
      ),
      ...change,
    });
    const tooBig = parked('20260101-000000-aaaaaa', {
      error: `load: ${'e'.repeat(70_000)}`,
      files: {
        total: 900,
        loaded: 0,
        rejected: 900,
        firstRejected: Array.from({ length: 900 }, (_, i) => ({ file: `f${i}.csv`, reasons: ['x'.repeat(100)] })),
      },
    });
    // run_id is VARCHAR(64): the warehouse refuses this record whatever is cut.
    const refused = parked(`r${'x'.repeat(99)}`, { error: `load: catalogue postgres://reader:${PASSWORD}@rds/app?password=${QUERY_PASSWORD} unreachable` });
    const key = `${config.QUEUE_PREFIX}:unrecorded-runs`;
    await pipeline.ctx.queues.connection.hset(key, tooBig.runId, JSON.stringify(tooBig), refused.runId, JSON.stringify(refused));

    for (let i = 0; i < 3; i++) {
      await addStreamFile();
      const report = await pipeline.run();
      expect(report.status, report.error).toBe('succeeded');
      if (i === 0) {
        const row = await etlRun(tooBig.runId);
        expect(row).toBeDefined();
        expect(Buffer.byteLength(row!.streams_url)).toBeLessThanOrEqual(1024);
        expect(Buffer.byteLength(row!.report)).toBeLessThanOrEqual(65_535);
        expect(JSON.parse(row!.report)).toMatchObject({ runId: tooBig.runId, truncated: true, files: { rejected: 900 } });
        expect(await pipeline.ctx.queues.connection.hkeys(key)).toEqual([refused.runId]);
      }
    }
    expect(await pipeline.ctx.queues.connection.exists(key)).toBe(0);
    const dropped = log.lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'failed run dropped: the warehouse refuses its record');
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatchObject({ level: 50, failedRunId: refused.runId, tries: 3 });
    // Its alert says so, without the credential its error held.
    const alert = await waitFor('the dropped run alert', async () => receiver.received.find((a) => a.runId === refused.runId));
    expect(alert.text).toContain('its record was dropped');
    expect(JSON.stringify(alert)).toContain('reader:***@');
    expect(JSON.stringify(alert)).not.toContain(PASSWORD);
    expect(JSON.stringify(alert)).not.toContain(QUERY_PASSWORD);
  });

  describe('credentials', () => {
    it('a catalogue in PostgreSQL with a password: none in Redis, Bull Board, etl_runs, the API answers or the log; a retry still reads it', async () => {
      const client = new pg.Client({ connectionString: db });
      await client.connect();
      try {
        await client.query('CREATE TABLE users (user_id INTEGER PRIMARY KEY, user_name TEXT, user_age INTEGER, user_country TEXT, created_at DATE)');
        await pump(fs.createReadStream(new URL(config.USERS_URL)), client.query(copyFrom('COPY users FROM STDIN WITH (FORMAT csv, HEADER true)')));
      } finally {
        await client.end();
      }
      // PostgreSQL here trusts local connections: both passwords are accepted, and must stay hidden. The user:pw@ one
      // holds characters a URL percent-encodes; each password's random core is the same in every form.
      const userinfoPassword = `p@ss/${PASSWORD}:%`;
      const rds = new URL(db);
      rds.password = encodeURIComponent(userinfoPassword);
      rds.search = `?password=${QUERY_PASSWORD}&application_name=musicflow`;
      const users = rds.toString();
      expect(users).toContain(encodeURIComponent(userinfoPassword));
      // Another database's credential, under an allowed prefix, that a request names itself.
      const server = new URL(db);
      server.pathname = '/';
      const own = new URL('another', server);
      own.search = `?password=${QUERY_PASSWORD}`;
      // The API and the workers on one config, whose USERS_URL holds the credential.
      const rdsConfig = testConfig({
        ...bucket.env,
        WAREHOUSE_URL: db,
        LOG_LEVEL: 'info',
        USERS_URL: users,
        SOURCE_URL_PREFIXES: [bucket.env.STREAMS_URL, users, bucket.env.SONGS_URL, server.toString()].join(','),
      });
      const rdsPipeline = await startPipeline(rdsConfig, log.logger);
      const rdsApp = await buildApp(rdsPipeline.ctx);
      const redis = rdsPipeline.ctx.queues.connection as Redis;
      const hidden = (text: string) => {
        for (const secret of [PASSWORD, QUERY_PASSWORD, userinfoPassword, encodeURIComponent(userinfoPassword)]) expect(text).not.toContain(secret);
      };
      try {
        await addStreamFile();
        await bucket.addStream('broken.csv', 'not,a,stream,file\n1,2,3,4\n');
        // A credential of the request's own is refused, in the API and in startRun (the CLI), saying where it belongs.
        const refused = await rdsApp.inject({ method: 'POST', url: '/runs', payload: { users: own.toString() } });
        expect(refused.statusCode, refused.body).toBe(400);
        expect(refused.json().message).toContain('USERS_PASSWORD_FILE');
        hidden(refused.body);
        const otherDb = new URL(users);
        otherDb.pathname = '/x';
        await expect(startRun(rdsConfig, rdsPipeline.ctx.queues, { trigger: 'cli', sources: { songs: otherDb.toString() } })).rejects.toThrow(
          /songs source .*:\*\*\*@.* carries a credential.*SONGS_URL, its password in SONGS_PASSWORD_FILE/,
        );

        // The configured one, named or not, is read.
        const started = await rdsApp.inject({ method: 'POST', url: '/runs', payload: { users } });
        expect(started.statusCode, started.body).toBe(202);
        const { runId } = started.json();
        const report = await waitForReport(rdsPipeline.ctx, runId);
        expect(report.status).toBe('partial');
        expect(report.catalogue.users).toBeGreaterThan(0);
        const load = await rdsPipeline.ctx.queues.queues.load.getJob(jobIds.load(runId));
        expect(load!.data.run.sources.users).toBe(redactSecrets(users));

        const row = await etlRun(runId);
        hidden(JSON.stringify(row));
        expect(JSON.parse(row!.report).sources.users).toContain(':***@');
        hidden((await rdsApp.inject({ url: `/runs/${runId}` })).body);
        hidden((await rdsApp.inject({ url: '/runs' })).body);

        // Once the run's jobs are gone from Redis its sources come from etl_runs, redacted: the retry maps them back.
        await load!.remove({ removeChildren: true });
        hidden((await rdsApp.inject({ url: `/runs/${runId}` })).body);
        const retry = await rdsApp.inject({ method: 'POST', url: `/runs/${runId}/retry` });
        expect(retry.statusCode, retry.body).toBe(202);
        hidden(retry.body);
        const again = await rdsPipeline.ctx.queues.queues.load.getJob(jobIds.load(retry.json().runId));
        expect(again!.data.run.sources.users).toBe(redactSecrets(users));
        await waitForReport(rdsPipeline.ctx, retry.json().runId);

        // Every job hash (data, returnvalue, errors), event stream and other key of the queues, and Bull Board's API.
        const stored = await redisContents(redis, rdsConfig.QUEUE_PREFIX);
        expect(stored.keys).toBeGreaterThan(20);
        expect(stored.text).toContain(redactSecrets(users));
        hidden(stored.text);
        for (const queue of Object.values(QUEUES)) {
          const board = await rdsApp.inject({ url: `${BULL_BOARD_PATH}/api/queues?activeQueue=${queue}&status=latest&jobsPerPage=1000` });
          expect(board.statusCode).toBe(200);
          hidden(board.body);
        }
        const loaded = `${BULL_BOARD_PATH}/api/queues/${QUEUES.load}/${jobIds.load(retry.json().runId)}`;
        for (const url of [loaded, `${loaded}/flow`]) {
          const board = await rdsApp.inject({ url });
          expect(board.statusCode, url).toBe(200);
          if (url === loaded) expect(board.body).toContain(':***@');
          hidden(board.body);
        }

        // A retry whose recorded source no configured URL redacts to cannot guess it.
        const plain = await buildApp(pipeline.ctx);
        try {
          const notRetried = await plain.inject({ method: 'POST', url: `/runs/${runId}/retry` });
          expect(notRetried.statusCode).toBe(409);
          expect(notRetried.json().message).toContain('held a credential');
        } finally {
          await plain.close();
        }
      } finally {
        await rdsApp.close();
        await rdsPipeline.close();
        await deleteKeys(rdsConfig.QUEUE_PREFIX);
        await fs.promises.rm(path.join(bucket.streamsDir, 'broken.csv'), { force: true });
      }
      hidden(log.lines.join('\n'));
    });

    it('GET /health and a 503 while the warehouse is down name it without its ?password=', async () => {
      const closed = new URL(await deadUrl()).port;
      const down = captureLog();
      const ctx = createServiceContext(
        withConfig(config, { WAREHOUSE_URL: `postgres://postgres@127.0.0.1:${closed}/musicflow?password=${QUERY_PASSWORD}` }),
        'test',
      );
      const downApp = await buildApp({ ...ctx, logger: down.logger });
      try {
        const health = await downApp.inject({ url: '/health' });
        expect(health.statusCode).toBe(503);
        expect(health.json().checks.warehouse.error).toContain('password=***');
        const run = await downApp.inject({ url: '/runs/20200101-000000-abcdef' });
        expect(run.statusCode).toBe(503);
        for (const body of [health.body, run.body, down.lines.join('\n')]) expect(body).not.toContain(QUERY_PASSWORD);
        expect(down.lines.length).toBeGreaterThan(0);
      } finally {
        await downApp.close();
        await ctx.close();
      }
    });
  });

  describe('other sites', () => {
    it.each([
      ['evil.example', 403],
      ['evil.example:3000', 403],
      ['localhost:3000', 200],
      ['127.0.0.1:3000', 200],
      ['[::1]:3000', 200],
      ['10.1.2.3:3000', 200],
    ])('a request with Host %s gets %i, Bull Board included', async (host, status) => {
      const runs = await app.inject({ url: '/runs', headers: { host } });
      expect(runs.statusCode).toBe(status);
      const board = await app.inject({ url: '/admin/queues/api/queues', headers: { host } });
      expect(board.statusCode).toBe(status);
      if (status === 403) expect(runs.json().message).toContain('API_ALLOWED_HOSTS');
    });

    it('API_ALLOWED_HOSTS adds names', async () => {
      const named = await buildApp({ ...pipeline.ctx, config: withConfig(config, { API_ALLOWED_HOSTS: ['musicflow.internal'] }) });
      try {
        expect((await named.inject({ url: '/runs', headers: { host: 'musicflow.internal:3000' } })).statusCode).toBe(200);
        expect((await named.inject({ url: '/runs', headers: { host: 'evil.example' } })).statusCode).toBe(403);
      } finally {
        await named.close();
      }
    });

    it.each([
      [{ origin: 'http://evil.example' }, 403],
      [{ origin: 'null' }, 403],
      [{ 'sec-fetch-site': 'cross-site' }, 403],
      [{ 'sec-fetch-site': 'same-site' }, 403],
      [{ origin: 'http://localhost:3000', 'sec-fetch-site': 'same-origin' }, 400],
      [{}, 400],
    ])('a write with %o gets %i (400: it passed the check, its body is bad)', async (headers, status) => {
      const res = await app.inject({ method: 'POST', url: '/runs', headers: { host: 'localhost:3000', ...headers }, payload: { streams: 'http://x/' } });
      expect(res.statusCode).toBe(status);
    });
  });

  it('wrong tokens: one log line each, then 429 without a line per request', async () => {
    const auth = captureLog();
    const locked = await buildApp({ ...pipeline.ctx, logger: auth.logger, config: withConfig(config, { API_TOKEN: TOKEN, API_AUTH_FAILURES_PER_MINUTE: 5 }) });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await locked.inject({ method: 'POST', url: '/runs', headers: { authorization: `Bearer wrong-${i}` } });
        statuses.push(res.statusCode);
        if (res.statusCode === 429) expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      }
      expect(statuses).toEqual([...Array(5).fill(401), ...Array(7).fill(429)]);
      expect(auth.lines.map((l) => JSON.parse(l).msg)).toEqual([...Array(5).fill('unauthorized request'), 'too many failed authentications: client held back']);
      // A request that is answered: one line, with what was asked and the answer.
      expect((await locked.inject({ url: '/runs?limit=1' })).statusCode).toBe(200);
      expect(auth.lines.slice(6).map((l) => JSON.parse(l))).toEqual([
        expect.objectContaining({ msg: 'request completed', req: expect.objectContaining({ method: 'GET', url: '/runs?limit=1' }), res: { statusCode: 200 } }),
      ]);
      // /health stays open to probes.
      expect([200, 503]).toContain((await locked.inject({ url: '/health' })).statusCode);
    } finally {
      await locked.close();
    }
  });

  it.each([
    ['* * * * * *', 400],
    ['*/5 * * * *', 400],
    ['0 3,4 * * *', 200],
    ['0 3 * * *', 200],
  ])('PUT /schedules/daily with %s gets %i (SCHEDULE_MIN_INTERVAL 1h)', async (cron, status) => {
    const res = await app.inject({ method: 'PUT', url: '/schedules/daily', payload: { cron, tz: 'UTC' } });
    expect(res.statusCode).toBe(status);
    if (status === 400) expect(res.json().message).toMatch(/^body field cron: .*SCHEDULE_MIN_INTERVAL/);
  });
});

describe('alert webhook redirects', () => {
  it('a 3xx is a failed delivery, and the alert never reaches where it points', async () => {
    const received: string[] = [];
    const target = http.createServer((req, res) => {
      req.on('data', (c: Buffer) => received.push(String(c)));
      req.on('end', () => res.writeHead(200).end());
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const targetUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/stolen`;
    const redirecting = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(307, { location: targetUrl }).end());
    });
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/services/T000/B000/secret-path`;
      const delivery = deliverAlert(url, { text: 'run failed', kind: 'run' });
      await expect(delivery).rejects.toThrow(/answered 307, a redirect, which is not followed/);
      await delivery.catch((err: Error) => expect(err.message).not.toContain('secret-path'));
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(received).toEqual([]);
    } finally {
      await Promise.all([target, redirecting].map((s) => new Promise((resolve) => s.close(resolve))));
    }
  });
});
