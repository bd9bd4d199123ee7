import { pino, type Logger } from 'pino';

export type { Logger };

/** One JSON line per event; secrets never reach the log. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: ['token', 'apiToken', 'authorization', 'headers.authorization', 'req.headers.authorization', 'password'],
      censor: '***',
    },
  });
}
