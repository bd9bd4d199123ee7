export {
  countJobBytes,
  startRunTrace,
  startTracing,
  stopTracing,
  tracesUrl,
  withJobSpan,
  withSpan,
  type Attributes,
  type JobSpan,
  type TraceCarrier,
  type TracingSettings,
} from './tracing.ts';
