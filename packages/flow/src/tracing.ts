import { buildInfo, type Config } from '@musicflow/config';
import { startTracing, stopTracing } from '@musicflow/telemetry';

/** Starts this process's (or worker thread's) tracing when an OTLP endpoint is configured; `component` names it in every span. */
export const startProcessTracing = (config: Config, component: string): boolean =>
  startTracing(
    {
      endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
      tracesEndpoint: config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
      serviceName: config.OTEL_SERVICE_NAME,
      version: buildInfo().version,
    },
    component,
  );

export { stopTracing };
