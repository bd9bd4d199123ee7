/**
 * Access control with API_TOKEN set: write routes and Bull Board need the
 * token, reads only with API_PROTECT_READS, /health never; secrets never reach
 * the log or a response. Through inject and over a real socket.
 */
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { createServiceContext, type ServiceContext } from '@musicflow/flow';
import { buildApp, tokensMatch } from '@musicflow/service-api';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { deleteKeys, makeBucket, withConfig, type Bucket } from './fixtures.ts';

const TOKEN = `tok-${randomBytes(16).toString('hex')}`;
const PG_PASSWORD = `pgpw${randomBytes(6).toString('hex')}`;
const bearer = { authorization: `Bearer ${TOKEN}` };
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });

describe('access control with API_TOKEN', () => {
  let db: string;
  let bucket: Bucket;
  let ctx: ServiceContext;
  let app: FastifyInstance;
  let locked: FastifyInstance;
  const logged: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(1, 20);
    // PostgreSQL here trusts local connections, so a password in the URL is accepted and must stay hidden.
    const url = new URL(db);
    url.password = PG_PASSWORD;
    const config = testConfig({
      ...bucket.env,
      WAREHOUSE_URL: url.toString(),
      API_TOKEN: TOKEN,
      // The socket test starts a run naming this catalogue database: a credential in a source must be a configured one.
      USERS_URL: `postgres://reader:${PG_PASSWORD}@127.0.0.1:5432/catalogue`,
      SOURCE_URL_PREFIXES: `${bucket.env.STREAMS_URL},postgres://reader:${PG_PASSWORD}@127.0.0.1:5432/catalogue`,
    });
    const base = createServiceContext(config, 'test-auth');
    // Every log line of the API at the most verbose level, with no redaction configured: what the API itself writes.
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged.push(String(chunk));
        done();
      },
    });
    ctx = { ...base, logger: pino({ level: 'trace' }, sink) };
    app = await buildApp(ctx);
    locked = await buildApp({ ...ctx, config: withConfig(config, { API_PROTECT_READS: true }) });
  });

  afterAll(async () => {
    await app?.close();
    await locked?.close();
    await ctx?.close();
    if (ctx) await deleteKeys(ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  it('compares tokens in constant time and by value', () => {
    expect(tokensMatch(TOKEN, TOKEN)).toBe(true);
    expect(tokensMatch(TOKEN, `${TOKEN}x`)).toBe(false);
    expect(tokensMatch('', TOKEN)).toBe(false);
  });

  it.each([
    ['POST', '/runs', {}],
    ['POST', '/runs/20240101-000000-abcdef/retry', undefined],
    ['PUT', '/schedules/daily', { cron: '0 4 * * *' }],
  ])('%s %s needs the token', async (method, url, payload) => {
    const none = await app.inject({ method: method as 'POST', url, payload });
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(none.json().message).toContain('Authorization: Bearer');
    const wrong = await app.inject({ method: method as 'POST', url, payload, headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.body).not.toContain(TOKEN);
    const right = await app.inject({ method: method as 'POST', url, payload, headers: bearer });
    expect(right.statusCode).not.toBe(401);
    expect([200, 202, 404]).toContain(right.statusCode);
  });

  it('reads are open unless API_PROTECT_READS, /health always', async () => {
    for (const url of ['/runs', '/kpis/genre?date=2024-06-25', '/kpis/hourly?date=2024-06-25', '/schedules', '/metrics', '/docs/json', '/health']) {
      expect((await app.inject({ url })).statusCode, url).toBe(200);
    }
    for (const url of ['/runs', '/kpis/genre?date=2024-06-25', '/kpis/hourly?date=2024-06-25', '/schedules', '/metrics', '/docs/json']) {
      const res = await locked.inject({ url });
      expect(res.statusCode, url).toBe(401);
      expect((await locked.inject({ url, headers: bearer })).statusCode, url).toBe(200);
    }
    expect((await locked.inject({ url: '/health' })).statusCode).toBe(200);
    // The docs UI is for browsers: its 401 asks for basic credentials, the token as password.
    const docs = await locked.inject({ url: '/docs/json' });
    expect(docs.headers['www-authenticate']).toMatch(/^Basic/);
    expect((await locked.inject({ url: '/docs/json', headers: basic('me', TOKEN) })).statusCode).toBe(200);
  });

  it('Bull Board needs the token even when reads are open: basic auth or bearer', async () => {
    for (const url of ['/admin/queues', '/admin/queues/api/queues', '/admin/queues/queue/loader']) {
      const none = await app.inject({ url });
      expect(none.statusCode, url).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic realm="musicflow"/);
      expect((await app.inject({ url, headers: basic('admin', 'nope') })).statusCode, url).toBe(401);
    }
    expect((await app.inject({ url: '/admin/queues', headers: basic('admin', TOKEN) })).statusCode).toBe(200);
    const queues = await app.inject({ url: '/admin/queues/api/queues', headers: bearer });
    expect(queues.statusCode).toBe(200);
    expect(queues.json().queues.length).toBe(6);
    // Writes through the board (here: pausing a queue) are guarded the same way.
    expect((await app.inject({ method: 'PUT', url: '/admin/queues/api/queues/loader/pause' })).statusCode).toBe(401);
  });

  it('over a real socket, and secrets never reach the log or a response', async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const users = `postgres://reader:${PG_PASSWORD}@127.0.0.1:5432/catalogue`;
    // A folder of its own: a run over the configured sources may be active already from an earlier test.
    const body = JSON.stringify({ users, streams: `${ctx.config.STREAMS_URL}socket/` });
    const json = { 'content-type': 'application/json' };

    const denied = await fetch(`${base}/runs`, { method: 'POST', headers: json, body });
    expect(denied.status).toBe(401);
    const started = await fetch(`${base}/runs`, { method: 'POST', headers: { ...json, ...bearer }, body });
    expect(started.status).toBe(202);
    const { runId } = (await started.json()) as { runId: string };
    const again = await fetch(`${base}/runs`, { method: 'POST', headers: { ...json, ...bearer }, body });
    expect(again.status).toBe(200);

    const run = await fetch(`${base}/runs/${runId}`);
    const text = await run.text();
    expect(run.status).toBe(200);
    expect(JSON.parse(text).sources.users).toBe('postgres://reader:***@127.0.0.1:5432/catalogue');
    expect(text).not.toContain(PG_PASSWORD);
    const board = await fetch(`${base}/admin/queues/api/queues`, { headers: basic('admin', TOKEN) });
    expect(board.status).toBe(200);
    expect(await board.text()).not.toContain(TOKEN);
    await app.inject({ url: '/health' });

    const log = logged.join('');
    expect(log).toContain(runId); // the run is logged ...
    expect(log).toContain('unauthorized request'); // ... and so are refusals ...
    expect(log).not.toContain(TOKEN); // ... but never the token
    expect(log).not.toContain(PG_PASSWORD);
    expect(log).not.toContain(Buffer.from(`admin:${TOKEN}`).toString('base64'));
  });
});
