/**
 * Access control. With no API_TOKEN everything is open (local use, `musicflow
 * demo`). With API_TOKEN set:
 *   - write routes (POST, PUT, ...) and Bull Board always need it;
 *   - read routes (GET) need it when API_PROTECT_READS is true;
 *   - GET /health stays open for load balancers and orchestrators.
 * The token comes as `Authorization: Bearer <token>`, or as the password of
 * HTTP basic auth (any user name) so a browser can open Bull Board and the docs.
 * Comparison is in constant time; the token is never logged or echoed.
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
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const access = accessOf(request, opts);
    if (!needsToken(access, opts)) return;
    const token = presentedToken(request.headers.authorization);
    if (token !== undefined && tokensMatch(token, opts.token!)) return;
    const url = request.routeOptions.url ?? request.url;
    const browser = access === 'admin' || url.startsWith(opts.docsPrefix) || (!!opts.dashboardPrefix && url.startsWith(opts.dashboardPrefix));
    request.log.warn({ access, credentials: token === undefined ? 'none' : 'wrong' }, 'unauthorized request');
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
