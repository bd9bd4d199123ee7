import { hostname } from 'node:os';
import { context, createContextKey, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export interface TracingSettings {
  /** OTEL_EXPORTER_OTLP_ENDPOINT: spans go to `<endpoint>/v1/traces`. */
  endpoint?: string;
  /** OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the full URL, taking precedence. */
  tracesEndpoint?: string;
  serviceName: string;
  version: string;
}

const TRACER = 'musicflow';

/** This thread's provider, set while tracing is on (each worker thread has its own OpenTelemetry globals); unset, every helper below calls straight through. */
let provider: NodeTracerProvider | undefined;

/** The OTLP/HTTP URL spans go to, or undefined when tracing is off. */
export function tracesUrl(settings: Pick<TracingSettings, 'endpoint' | 'tracesEndpoint'>): string | undefined {
  if (settings.tracesEndpoint) return settings.tracesEndpoint;
  return settings.endpoint ? `${settings.endpoint.replace(/\/+$/, '')}/v1/traces` : undefined;
}

/**
 * Registers the OpenTelemetry SDK for this process or thread when an OTLP
 * endpoint is set: spans batched (OTEL_BSP_* settings) and sent as OTLP JSON
 * over HTTP; the resource names the service, its version and this process
 * (`component`: api, loader, ...). Once per thread; `stopTracing` flushes.
 */
export function startTracing(settings: TracingSettings, component: string): boolean {
  const url = tracesUrl(settings);
  if (!url || provider) return provider !== undefined;
  const resource = defaultResource()
    .merge(detectResources({ detectors: [envDetector] }))
    .merge(
      resourceFromAttributes({
        'service.name': settings.serviceName,
        'service.version': settings.version,
        'service.instance.id': `${hostname()}:${process.pid}`,
        'musicflow.component': component,
      }),
    );
  provider = new NodeTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))] });
  provider.register();
  return true;
}

/** Sends the spans still batched and stops tracing here: what a process does before it exits. */
export async function stopTracing(): Promise<void> {
  const stopping = provider;
  provider = undefined;
  await stopping?.shutdown().catch(() => undefined);
}

const tracer = () => trace.getTracer(TRACER);

function recordFailure(span: Span, err: unknown): void {
  span.recordException(err as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.message });
}

/**
 * Runs `fn` in a client span, a child of the active one (a job's): its
 * exception is recorded on the span. `attributes` given as a function are
 * made only for a span (an object store's calls are thousands a job). With tracing off, or outside any span (a
 * health probe, a metrics scrape), `fn` is called as it is (what it throws
 * at once is thrown at once): no trace of its own.
 */
export function withSpan<T>(name: string, attributes: Attributes | (() => Attributes), fn: (span?: Span) => Promise<T>): Promise<T> {
  if (!provider || !trace.getActiveSpan()) return fn();
  return tracer().startActiveSpan(name, { kind: SpanKind.CLIENT, attributes: typeof attributes === 'function' ? attributes() : attributes }, async (span) => {
    try {
      return await fn(span);
    } catch (err) {
      recordFailure(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** W3C trace context (`traceparent`, `tracestate`): how a run's trace travels in its jobs' data. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/**
 * The span that starts a run, a root of its own trace (one trace per run,
 * whatever started it), linked to the span that started it (an API request,
 * a backfill's job); ended at once: the jobs' spans are its children. Its
 * context, to carry in the run's job data; undefined with tracing off.
 */
export function startRunTrace(name: string, attributes: Attributes): TraceCarrier | undefined {
  if (!provider) return undefined;
  const starter = trace.getSpanContext(context.active());
  const span = tracer().startSpan(name, { kind: SpanKind.PRODUCER, attributes, root: true, links: starter ? [{ context: starter }] : [] });
  const carrier: Partial<TraceCarrier> = {};
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
  span.end();
  const { traceparent, tracestate } = carrier;
  return traceparent ? { traceparent, ...(tracestate ? { tracestate } : {}) } : undefined;
}

/** Bytes the object store read and wrote for the job in hand (known sizes only), summed into its span. */
interface JobIo {
  bytesRead: number;
  bytesWritten: number;
}
const JOB_IO = createContextKey('musicflow.job-io');

/** Counts bytes the object store moved for the job whose span is active; nothing with tracing off. */
export function countJobBytes(direction: keyof JobIo, bytes: number | undefined): void {
  if (!provider || !bytes) return;
  const io = context.active().getValue(JOB_IO) as JobIo | undefined;
  if (io) io[direction] += bytes;
}

/** A job's span: its name, attributes and the trace it belongs to. */
export interface JobSpan {
  name: string;
  /** The run's trace context, from the job's data; none: a trace of its own. */
  carrier?: TraceCarrier;
  attributes: Attributes;
}

/**
 * Runs one job in a span of its run's trace (`carrier`, from the job's data):
 * the span carries the job's attributes, the rows `measure` finds in its
 * result, and the bytes its object-store calls moved. Retries are spans of
 * their own (`musicflow.job.attempt`).
 */
export async function withJobSpan<T>(
  { name, carrier, attributes }: JobSpan,
  fn: () => Promise<T>,
  measure: (result: T) => Attributes,
  /** Errors a job throws on purpose (a step job moving to waiting-children): no failure. */
  isSignal: (err: Error) => boolean,
): Promise<T> {
  if (!provider) return fn();
  const parent = carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
  const io: JobIo = { bytesRead: 0, bytesWritten: 0 };
  return tracer().startActiveSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent.setValue(JOB_IO, io), async (span) => {
    try {
      const result = await fn();
      span.setAttributes(measure(result));
      return result;
    } catch (err) {
      if (isSignal(err as Error)) span.setAttribute('musicflow.job.signal', (err as Error).name);
      else recordFailure(span, err);
      throw err;
    } finally {
      span.setAttributes({ 'musicflow.bytes.read': io.bytesRead, 'musicflow.bytes.written': io.bytesWritten });
      span.end();
    }
  });
}

export type { Attributes };
