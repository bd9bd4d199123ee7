/**
 * The telemetry settings: traces go where the OpenTelemetry variables say
 * (the traces endpoint as given, else `<endpoint>/v1/traces`), nowhere when
 * neither is set; a bad URL stops start-up naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@musicflow/config';
import { tracesUrl } from '@musicflow/telemetry';

describe('telemetry settings', () => {
  it('send traces to the standard OTLP/HTTP path, or to the traces endpoint as given', () => {
    expect(tracesUrl({})).toBeUndefined();
    expect(tracesUrl({ endpoint: 'http://collector:4318' })).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl({ endpoint: 'http://collector:4318/' })).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl({ endpoint: 'http://collector:4318', tracesEndpoint: 'https://tempo.example.com/otlp/v1/traces' })).toBe(
      'https://tempo.example.com/otlp/v1/traces',
    );
  });

  it('are off by default and validated when set', () => {
    const defaults = loadConfig({});
    expect(defaults).toMatchObject({ OTEL_SERVICE_NAME: 'musicflow', OPENLINEAGE_NAMESPACE: 'musicflow', OPENLINEAGE_TIMEOUT_MS: 5000 });
    expect(defaults.OTEL_EXPORTER_OTLP_ENDPOINT).toBeUndefined();
    expect(defaults.OPENLINEAGE_URL).toBeUndefined();
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
    expect(() => loadConfig({ OPENLINEAGE_URL: 'ftp://marquez' })).toThrow(/OPENLINEAGE_URL: must be an http/);
    expect(() => loadConfig({ OPENLINEAGE_TIMEOUT_MS: '10' })).toThrow(/OPENLINEAGE_TIMEOUT_MS/);
  });
});
