import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import { redactSecrets } from './redact.ts';

export type { Logger };

/**
 * One JSON line per event (to stdout, or `destination`); secrets never reach
 * the log: known secret fields are censored, and every finished line goes
 * through redactSecrets, so a credential inside any URL, connection string or
 * error text is hidden wherever it sits.
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    name,
    level,
    redact: {
      paths: ['token', 'apiToken', 'authorization', 'headers.authorization', 'req.headers.authorization', 'password'],
      censor: '***',
    },
    hooks: { streamWrite: redactSecrets },
  };
  return destination ? pino(options, destination) : pino(options);
}
