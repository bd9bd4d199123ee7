/**
 * Access control. With no API_TOKEN everything is open (local use, `musicflow
 * demo`). With API_TOKEN set:
 *   - write routes (POST, PUT, ...) and Bull Board always need it;
 *   - read routes (GET) need it when API_PROTECT_READS is true;
 *   - GET /health stays open for load balancers and orchestrators.
 * The token comes as `Authorization: Bearer <token>`, or as the password of
 * HTTP basic auth (any user name) so a browser can open Bull Board and the docs.
 * Comparison is in constant time; the token is never logged or echoed. A
 * client that presents API_AUTH_FAILURES_PER_MINUTE wrong or missing tokens
 * gets 429 on every route that needs one for the rest of that minute: one log
 * line per refusal, one when it is held back, none while it is.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export type Access = 'public' | 'read' | 'write' | 'admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Who may call the route; by default GET/HEAD are `read`, anything else `write`. */
    access?: Access;
    /** The route calls Redis: answer 503 at once while it is unreachable (BullMQ calls would wait). */
    redis?: boolean;
  }
}

export interface AuthOptions {
  token?: string;
  /** Wrong or missing tokens a client may present per minute; beyond it, its requests that need the token get 429. */
  failuresPerMinute: number;
  protectReads: boolean;
  /** URL prefix of Bull Board: every route under it is `admin`. */
  adminPrefix: string;
  /** URL prefix of the OpenAPI UI: its 401 asks the browser for basic credentials. */
  docsPrefix: string;
  /** URL prefix of the KPI dashboard (its page and its data): likewise a browser's. */
  dashboardPrefix?: string;
}

// Hashing first makes both sides the same length, so timingSafeEqual never
// short-circuits on length and the comparison time says nothing about the token.
const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

export function tokensMatch(presented: string, expected: string): boolean {
  return timingSafeEqual(digest(presented), digest(expected));
}

/** The token a request presents: a bearer token, or the password of basic auth. */
export function presentedToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const [scheme, value] = header.trim().split(/\s+/, 2);
  if (!scheme || !value) return undefined;
  if (scheme.toLowerCase() === 'bearer') return value;
  if (scheme.toLowerCase() === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 ? decoded.slice(colon + 1) : undefined;
  }
  return undefined;
}

export function accessOf(request: FastifyRequest, opts: AuthOptions): Access {
  const url = request.routeOptions.url ?? request.url;
  if (url === opts.adminPrefix || url.startsWith(`${opts.adminPrefix}/`)) return 'admin';
  const configured = request.routeOptions.config?.access;
  if (configured) return configured;
  return request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write';
}

function needsToken(access: Access, opts: AuthOptions): boolean {
  if (!opts.token || access === 'public') return false;
  if (access === 'read') return opts.protectReads;
  return true;
}

/** Installs the access check on every route of `app` (and of plugins registered after it). */
export function registerAuth(app: FastifyInstance, opts: AuthOptions): void {
  if (!opts.token) {
    app.log.warn(
      'API_TOKEN is not set: write routes and Bull Board are open to anyone who reaches this port (loopback only, unless API_ALLOW_UNAUTHENTICATED)',
    );
  }
  const failures = new FailureWindow(opts.failuresPerMinute);
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = accessOf(request, opts);
    if (!needsToken(access, opts)) return;
    const limited = failures.limited(request.ip);
    if (limited) {
      // One line when a client is first held back, none for the requests it sends meanwhile.
      if (limited.first)
        request.log.warn({ client: request.ip, retryAfterSeconds: limited.retryAfterSeconds }, 'too many failed authentications: client held back');
      return reply
        .code(429)
        .header('retry-after', String(limited.retryAfterSeconds))
        .send({
          statusCode: 429,
          error: 'Too Many Requests',
          message: `too many requests without a valid token from this client: try again in ${limited.retryAfterSeconds} s`,
        });
    }
    const token = presentedToken(request.headers.authorization);
    if (token !== undefined && tokensMatch(token, opts.token!)) return;
    failures.count(request.ip);
    const url = request.routeOptions.url ?? request.url;
    const browser = access === 'admin' || url.startsWith(opts.docsPrefix) || (!!opts.dashboardPrefix && url.startsWith(opts.dashboardPrefix));
    request.log.warn({ access, client: request.ip, credentials: token === undefined ? 'none' : 'wrong' }, 'unauthorized request');
    return reply
      .code(401)
      .header('www-authenticate', browser ? 'Basic realm="musicflow", charset="UTF-8"' : 'Bearer realm="musicflow"')
      .send({
        statusCode: 401,
        error: 'Unauthorized',
        message: token === undefined ? 'this route needs the API token: send "Authorization: Bearer <API_TOKEN>"' : 'the token presented is not valid',
      });
  });
}

const WINDOW_MS = 60_000;
/** Clients tracked at once; the oldest is forgotten first, so a flood of addresses cannot grow the map. */
const MAX_CLIENTS = 10_000;

/** Failed authentications per client in fixed one-minute windows, in memory (per API replica). */
class FailureWindow {
  private readonly clients = new Map<string, { since: number; failures: number; reported: boolean }>();

  constructor(private readonly perMinute: number) {}

  private current(client: string, now: number) {
    const entry = this.clients.get(client);
    return entry && now - entry.since < WINDOW_MS ? entry : undefined;
  }

  count(client: string, now = Date.now()): void {
    const entry = this.current(client, now);
    if (entry) entry.failures++;
    else {
      this.clients.delete(client);
      if (this.clients.size >= MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
      this.clients.set(client, { since: now, failures: 1, reported: false });
    }
  }

  /** Set when the client used up its failures in this window: whether this is the first refusal, and when to come back. */
  limited(client: string, now = Date.now()): { first: boolean; retryAfterSeconds: number } | undefined {
    const entry = this.current(client, now);
    if (!entry || entry.failures < this.perMinute) return undefined;
    const first = !entry.reported;
    entry.reported = true;
    return { first, retryAfterSeconds: Math.max(1, Math.ceil((entry.since + WINDOW_MS - now) / 1000)) };
  }
}
