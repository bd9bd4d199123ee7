export { loadConfig, configSchema, archiveSibling, isAllowedSource, unsafeBindProblem, postgresTarget, catalogueTarget, type Config } from './config.ts';
export { postgresClientConfig, SSL_MODES, type PostgresTarget, type PostgresClientConfig } from './postgres.ts';
export { readSecretFile } from './secrets.ts';
export { certificateProblem, explainCertificate, type CertificateProblem } from './tls.ts';
export { createLogger, type Logger } from './logger.ts';
export { redactDeep, redactSecrets, redactUrl } from './redact.ts';
export { normalizeSourceUrl, sourceUrlProblem, SOURCE_URL_MAX_BYTES } from './source-url.ts';
export { buildInfo, gitCommit, kpiSettings, settingsHash, KPI_SETTINGS, type BuildInfo, type KpiSettings } from './build-info.ts';
