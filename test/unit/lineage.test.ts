/**
 * OpenLineage events as a run's data makes them: dataset names by
 * OpenLineage's naming conventions, a stable UUID run id, the facets' schema
 * URLs, and no credential anywhere in an event.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@musicflow/config';
import { emptyRunReport, type RunContext } from '@musicflow/contracts';
import { lineageEvent, lineageRunId } from '@musicflow/flow';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const run = (sources: RunContext['sources'], kind?: RunContext['kind']): RunContext => ({
  runId: '20261206-020000-abcdef',
  trigger: 'test',
  kind,
  startedAt: '2026-12-06T02:00:00.000Z',
  sources,
  lake: 's3://lake-bucket/musicflow/lake/',
  archive: 's3://in-bucket/in/archive/',
});

describe('OpenLineage events', () => {
  it('derive one UUID per run id', () => {
    expect(lineageRunId('20261206-020000-abcdef')).toMatch(UUID);
    expect(lineageRunId('20261206-020000-abcdef')).toBe(lineageRunId('20261206-020000-abcdef'));
    expect(lineageRunId('20261206-020000-abcdef')).not.toBe(lineageRunId('20261206-020000-abcdeg'));
  });

  it('name S3 objects, PostgreSQL tables and the Redshift warehouse by the naming conventions, without credentials', () => {
    const config = loadConfig({
      WAREHOUSE_URL: 'postgres://loader:s3cret@examplecluster.abc123xyz789.us-west-2.redshift.amazonaws.com:5439/dev?sslmode=require',
      OPENLINEAGE_NAMESPACE: 'musicflow-prod',
    });
    const event = lineageEvent(
      config,
      run({ streams: 's3://in-bucket/in/streams/', users: 'postgres://reader:hunter2@rds.example.com/catalogue', songs: 's3://in-bucket/in/songs.csv' }),
    );
    expect(event.eventType).toBe('START');
    expect(event.job).toMatchObject({ namespace: 'musicflow-prod', name: 'musicflow.ingest' });
    expect(event.inputs.map(({ namespace, name }) => ({ namespace, name }))).toEqual([
      { namespace: 's3://in-bucket', name: 'in/streams' },
      { namespace: 'postgres://rds.example.com:5432', name: 'catalogue.public.users' },
      { namespace: 's3://in-bucket', name: 'in/songs.csv' },
    ]);
    expect(event.outputs.map(({ namespace, name }) => ({ namespace, name }))).toEqual([
      { namespace: 's3://lake-bucket', name: 'musicflow/lake/processed' },
      { namespace: 'redshift://examplecluster.us-west-2:5439', name: 'dev.analytics.genre_kpis' },
      { namespace: 'redshift://examplecluster.us-west-2:5439', name: 'dev.analytics.hourly_kpis' },
    ]);
    const text = JSON.stringify(event);
    expect(text).not.toContain('s3cret');
    expect(text).not.toContain('hunter2');
    for (const dataset of [...event.inputs, ...event.outputs]) {
      expect(dataset.facets?.schema).toMatchObject({ _schemaURL: expect.stringMatching(/SchemaDatasetFacet\.json/), _producer: event.producer });
    }
  });

  it('names local folders file://<host> with their path; a recompute reads the lake', () => {
    const config = loadConfig({ WAREHOUSE_URL: 'postgres://postgres@127.0.0.1:5432/musicflow' });
    const local = {
      ...run({ streams: 'file:///data/in/streams/', users: 'file:///data/in/users.csv', songs: 'file:///data/in/songs.csv' }, 'recompute'),
      lake: 'file:///data/lake/',
    };
    const report = {
      ...emptyRunReport(local, 'succeeded'),
      finishedAt: '2026-12-06T02:01:00.000Z',
      kpiRows: { genre: 3, hourly: 24 },
      checks: [{ name: 'hourly_rows_present', passed: true }],
    };
    const event = lineageEvent(config, local, report);
    expect(event.eventType).toBe('COMPLETE');
    expect(event.job.name).toBe('musicflow.recompute');
    expect(event.inputs).toEqual([expect.objectContaining({ namespace: `file://${hostname()}`, name: '/data/lake/processed' })]);
    expect(event.outputs.map((d) => d.name)).toEqual(['musicflow.analytics.genre_kpis', 'musicflow.analytics.hourly_kpis']);
    expect(event.outputs[1]!.outputFacets?.outputStatistics).toMatchObject({ rowCount: 24 });
    expect(event.outputs[1]!.facets?.dataQualityAssertions).toMatchObject({ assertions: [{ assertion: 'hourly_rows_present', success: true }] });
  });
});
