export {
  countJobBytes,
  startRunTrace,
  startTracing,
  stopTracing,
  tracesUrl,
  tracingOn,
  withJobSpan,
  withSpan,
  SpanKind,
  type Attributes,
  type TraceCarrier,
  type TracingSettings,
} from './tracing.ts';
