import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { redactSecrets } from '@musicflow/config';

/** An error with an HTTP status, thrown by handlers. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const PLACE: Record<string, string> = {
  body: 'body field',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};

const UNAVAILABLE = /ECONNREFUSED|ETIMEDOUT|ENOTFOUND|Connection is closed|Stream isn't writeable|enableOfflineQueue|max retries per request/i;

/**
 * One error shape for every route: `{ statusCode, error, message, issues? }`.
 * A request that fails its zod schema gets 400 and a message naming each bad
 * field ("query parameter date: must be a calendar date YYYY-MM-DD").
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(err)) {
      const place = err.validationContext ?? 'body';
      const issues = err.validation.flatMap((v) => {
        const field = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
        const keys = (v.params as { keys?: string[] }).keys;
        if (v.keyword === 'unrecognized_keys' && keys?.length) {
          return keys.map((k) => ({ in: place, field: field ? `${field}.${k}` : k, message: 'unknown field' }));
        }
        return [{ in: place, field: field || place, message: v.message }];
      });
      const message = issues.map((i) => `${PLACE[i.in] ?? i.in} ${i.field}: ${i.message}`).join('; ');
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message, issues });
    }
    if (isResponseSerializationError(err)) {
      request.log.error({ err: redactSecrets(err.message), issues: err.cause.issues }, 'response does not match its schema');
      return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message: 'response does not match its schema' });
    }
    const status = err.statusCode ?? (err instanceof HttpError ? err.statusCode : undefined);
    if (status && (status < 500 || err instanceof HttpError)) {
      return reply.code(status).send({ statusCode: status, error: httpReason(status), message: redactSecrets(err.message) });
    }
    const message = redactSecrets(err.message ?? String(err));
    if (UNAVAILABLE.test(message)) {
      request.log.warn({ err: message }, 'backing service unavailable');
      return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: `a backing service is unavailable: ${message}` });
    }
    request.log.error({ err: message, stack: err.stack ? redactSecrets(err.stack) : undefined }, 'request failed');
    return reply.code(500).send({ statusCode: 500, error: 'Internal Server Error', message });
  });
}

function httpReason(status: number): string {
  return (
    (
      {
        400: 'Bad Request',
        401: 'Unauthorized',
        403: 'Forbidden',
        404: 'Not Found',
        405: 'Method Not Allowed',
        409: 'Conflict',
        413: 'Payload Too Large',
        415: 'Unsupported Media Type',
        503: 'Service Unavailable',
      } as Record<number, string>
    )[status] ?? 'Error'
  );
}
