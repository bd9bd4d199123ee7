export { loadConfig, configSchema, archiveSibling, isAllowedSource, unsafeBindProblem, type Config } from './config.ts';
export { createLogger, type Logger } from './logger.ts';
export { redactUrl } from './redact.ts';
