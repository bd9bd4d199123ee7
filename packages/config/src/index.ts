export { loadConfig, configSchema, archiveSibling, isAllowedSource, unsafeBindProblem, type Config } from './config.ts';
export { createLogger, type Logger } from './logger.ts';
export { redactDeep, redactSecrets, redactUrl } from './redact.ts';
export { normalizeSourceUrl, sourceUrlProblem, SOURCE_URL_MAX_BYTES } from './source-url.ts';
