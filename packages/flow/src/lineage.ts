/**
 * OpenLineage run events (https://openlineage.io/spec): each run posts START
 * when it is enqueued and COMPLETE, FAIL or ABORT when the loader records it,
 * naming what it read and wrote by OpenLineage's dataset naming conventions,
 * with schema, row-count and data-quality facets. Plain JSON over HTTP (there
 * is no maintained JavaScript client); off unless OPENLINEAGE_URL is set; a
 * receiver that is down or slow costs at most OPENLINEAGE_TIMEOUT_MS and a
 * warning, never the run.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildInfo, createLogger, redactDeep, redactSecrets, type Config, type Logger } from '@musicflow/config';
import type { RunContext, RunKind, RunReport } from '@musicflow/contracts';
import { SONG_COLUMNS, STREAM_COLUMNS, USER_COLUMNS } from '@musicflow/ingest';
import { LAKE_LAYOUT, LAKE_PARQUET_SCHEMA } from '@musicflow/lake';
import { KPI_TABLES } from '@musicflow/warehouse';

const SPEC = 'https://openlineage.io/spec';
const RUN_EVENT_SCHEMA = `${SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent`;
const FACET_SCHEMAS = {
  schema: `${SPEC}/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet`,
  inputStatistics: `${SPEC}/facets/1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet`,
  outputStatistics: `${SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet`,
  dataQualityAssertions: `${SPEC}/facets/1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet`,
  errorMessage: `${SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet`,
  jobType: `${SPEC}/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet`,
  processingEngine: `${SPEC}/facets/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet`,
} as const;

type Facet = { _producer: string; _schemaURL: string } & Record<string, unknown>;
interface Dataset {
  namespace: string;
  name: string;
  facets?: Record<string, Facet>;
  inputFacets?: Record<string, Facet>;
  outputFacets?: Record<string, Facet>;
}
export interface LineageEvent {
  eventType: 'START' | 'COMPLETE' | 'FAIL' | 'ABORT';
  eventTime: string;
  producer: string;
  schemaURL: string;
  run: { runId: string; facets: Record<string, Facet> };
  job: { namespace: string; name: string; facets: Record<string, Facet> };
  inputs: Dataset[];
  outputs: Dataset[];
}

/** The producer URI of every event and facet: musicflow and its version. */
const producer = () => `urn:musicflow:${buildInfo().version}`;
const facet = (kind: keyof typeof FACET_SCHEMAS, fields: Record<string, unknown>): Facet => ({
  _producer: producer(),
  _schemaURL: FACET_SCHEMAS[kind],
  ...fields,
});

/** Name-based UUID (version 5, RFC 9562) of a run id: OpenLineage wants a UUID, and one run is always the same one. */
export function lineageRunId(runId: string): string {
  // The RFC's URL namespace: the name is `musicflow:run:<id>`.
  const namespace = Buffer.from('6ba7b8119dad11d180b400c04fd430c8', 'hex');
  const bytes = createHash('sha1').update(namespace).update(`musicflow:run:${runId}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `host:port` of a database URL, and its database name. */
function database(url: string): { authority: string; host: string; port: string; name: string } {
  const u = new URL(url);
  const port = u.port || '5432';
  return { authority: `${u.hostname}:${port}`, host: u.hostname, port, name: decodeURIComponent(u.pathname.slice(1)) || 'postgres' };
}

/**
 * A database table by OpenLineage's naming: `postgres://host:port`, or for
 * Redshift (`<cluster>.<id>.<region>.redshift.amazonaws.com`)
 * `redshift://<cluster>.<region>:port`; name `database.schema.table`.
 */
function tableDataset(url: string, table: string): Dataset {
  const db = database(url);
  const redshift = /^([^.]+)\.[^.]+\.([^.]+)\.redshift\.amazonaws\.com$/i.exec(db.host);
  const namespace = redshift ? `redshift://${redshift[1]}.${redshift[2]}:${db.port}` : `postgres://${db.authority}`;
  return { namespace, name: `${db.name}.${table}` };
}

/** An object or folder by OpenLineage's naming: `s3://bucket` and its key; `file://<host>` and the absolute path. */
function objectDataset(url: string): Dataset {
  const u = new URL(url);
  if (u.protocol === 'file:') return { namespace: `file://${u.hostname || hostname()}`, name: fileURLToPath(url).replace(/(.)\/+$/, '$1') };
  return { namespace: `${u.protocol}//${u.hostname}`, name: decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '') };
}

/** A catalogue source: a PostgreSQL table (`public`: the search path it is read through) or a CSV object. */
const catalogueDataset = (url: string, table: 'users' | 'songs') =>
  /^postgres(ql)?:\/\//.test(url) ? tableDataset(url, `public.${table}`) : objectDataset(url);

const schema = (fields: readonly { name: string; type: string }[]) => facet('schema', { fields: fields.map(({ name, type }) => ({ name, type })) });
const named = (names: readonly string[], type = 'STRING') => names.map((name) => ({ name, type }));
const STREAM_FIELDS = [
  { name: STREAM_COLUMNS[0], type: 'INTEGER' },
  { name: STREAM_COLUMNS[1], type: 'STRING' },
  { name: STREAM_COLUMNS[2], type: 'TIMESTAMP' },
];
const LAKE_FIELDS = LAKE_PARQUET_SCHEMA.flatMap((c) => ('type' in c ? [{ name: c.name, type: 'converted_type' in c ? c.converted_type : c.type }] : []));
const kpiFields = (name: keyof typeof KPI_TABLES) => KPI_TABLES[name].columns.map((c) => ({ name: c.name, type: c.type.replace(/ NOT NULL$/, '') }));

/** What a run reads: the streams folder and the catalogue (an ingest run), or the lake (a recompute). */
function inputs(run: RunContext, report?: RunReport): Dataset[] {
  if (run.kind === 'recompute') return [{ ...objectDataset(LAKE_LAYOUT.processed(run.lake)), facets: { schema: schema(LAKE_FIELDS) } }];
  const stats = (rowCount: number, fileCount?: number) =>
    report ? { inputFacets: { inputStatistics: facet('inputStatistics', { rowCount, ...(fileCount === undefined ? {} : { fileCount }) }) } } : {};
  return [
    { ...objectDataset(run.sources.streams), facets: { schema: schema(STREAM_FIELDS) }, ...stats(report?.rows.read ?? 0, report?.files.total) },
    { ...catalogueDataset(run.sources.users, 'users'), facets: { schema: schema(named(USER_COLUMNS)) }, ...stats(report?.catalogue.users ?? 0) },
    { ...catalogueDataset(run.sources.songs, 'songs'), facets: { schema: schema(named(SONG_COLUMNS)) }, ...stats(report?.catalogue.songs ?? 0) },
  ];
}

/** What a run writes: the lake's processed events (an ingest run) and the KPI tables, with the data checks of the load. */
function outputs(run: RunContext, warehouseUrl: string, report?: RunReport): Dataset[] {
  const stats = (rowCount: number) => (report ? { outputFacets: { outputStatistics: facet('outputStatistics', { rowCount }) } } : {});
  const assertions: Record<string, Facet> = report?.checks?.length
    ? { dataQualityAssertions: facet('dataQualityAssertions', { assertions: report.checks.map((c) => ({ assertion: c.name, success: c.passed })) }) }
    : {};
  const kpis = (['genre', 'hourly'] as const).map((name) => ({
    ...tableDataset(warehouseUrl, KPI_TABLES[name].table),
    facets: { schema: schema(kpiFields(name)), ...assertions },
    ...stats(report?.kpiRows[name] ?? 0),
  }));
  if (run.kind === 'recompute') return kpis;
  return [{ ...objectDataset(LAKE_LAYOUT.processed(run.lake)), facets: { schema: schema(LAKE_FIELDS) }, ...stats(report?.rows.valid ?? 0) }, ...kpis];
}

const EVENT_TYPES = { succeeded: 'COMPLETE', partial: 'COMPLETE', failed: 'FAIL', cancelled: 'ABORT' } as const;

/**
 * The OpenLineage event of a run: START without a report, else the report's
 * outcome (partial is COMPLETE: it loaded, its report and failed checks say
 * what not), with its counts. Redacted: no credential reaches the receiver.
 */
export function lineageEvent(config: Config, run: RunContext, report?: RunReport): LineageEvent {
  const eventType = report ? (EVENT_TYPES[report.status as keyof typeof EVENT_TYPES] ?? 'COMPLETE') : 'START';
  const kind: RunKind = run.kind ?? 'ingest';
  const { version } = buildInfo();
  const error: Record<string, Facet> =
    eventType === 'FAIL' && report?.error
      ? { errorMessage: facet('errorMessage', { message: redactSecrets(report.error), programmingLanguage: 'TypeScript' }) }
      : {};
  return redactDeep({
    eventType,
    eventTime: report?.finishedAt ?? (report ? new Date().toISOString() : run.startedAt),
    producer: producer(),
    schemaURL: RUN_EVENT_SCHEMA,
    run: {
      runId: lineageRunId(run.runId),
      facets: { processing_engine: facet('processingEngine', { name: 'musicflow', version, openlineageAdapterVersion: version }), ...error },
    },
    job: {
      namespace: config.OPENLINEAGE_NAMESPACE,
      name: `musicflow.${kind}`,
      facets: { jobType: facet('jobType', { processingType: 'BATCH', integration: 'MUSICFLOW', jobType: 'JOB' }) },
    },
    inputs: inputs(run, report),
    outputs: outputs(run, config.WAREHOUSE_URL, report),
  });
}

/** Where a starter without a logger of its own (startRun's callers) logs lineage failures. */
let ownLog: Logger | undefined;

/** POSTs one event to `<OPENLINEAGE_URL>/api/v1/lineage`; a refusal, an error or the timeout is a warning with the reason. */
async function send(config: Config, event: LineageEvent, given?: Pick<Logger, 'warn' | 'debug'>): Promise<void> {
  if (!config.OPENLINEAGE_URL) return;
  const log = given ?? (ownLog ??= createLogger('lineage', config.LOG_LEVEL));
  const url = `${config.OPENLINEAGE_URL.replace(/\/+$/, '')}/api/v1/lineage`;
  const fields = { runId: event.run.runId, eventType: event.eventType, url: redactSecrets(url) };
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(config.OPENLINEAGE_API_KEY ? { authorization: `Bearer ${config.OPENLINEAGE_API_KEY}` } : {}) },
      body: JSON.stringify(event),
      signal: AbortSignal.timeout(config.OPENLINEAGE_TIMEOUT_MS),
    });
    await response.body?.cancel();
    if (!response.ok) log.warn({ ...fields, status: response.status }, 'lineage event refused: dropped');
    else log.debug(fields, 'lineage event sent');
  } catch (err) {
    log.warn({ ...fields, err: (err as Error).message }, 'lineage event not sent: dropped');
  }
}

/** START of a run just enqueued. */
export const emitRunStart = (config: Config, run: RunContext, log?: Pick<Logger, 'warn' | 'debug'>) =>
  config.OPENLINEAGE_URL ? send(config, lineageEvent(config, run), log) : Promise.resolve();

/** COMPLETE, FAIL or ABORT of a run the loader recorded. */
export const emitRunEnd = (config: Config, run: RunContext, report: RunReport, log?: Pick<Logger, 'warn' | 'debug'>) =>
  config.OPENLINEAGE_URL ? send(config, lineageEvent(config, run, report), log) : Promise.resolve();
