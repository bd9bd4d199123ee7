/**
 * The Grafana dashboard in the repository asks only for metrics a running
 * API's /metrics serves (every metric name in every PromQL expression), and
 * docker-compose.yml provisions it: Prometheus scraping the API, Grafana with
 * the data source the dashboard names and the dashboard folder, both
 * published on loopback only.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createServiceContext, type ServiceContext } from '@musicflow/flow';
import { buildApp } from '@musicflow/service-api';
import { createTestDatabase, dropTestDatabase, REPO, testConfig } from '../helpers/env.ts';
import { deleteKeys } from './fixtures.ts';

interface Panel {
  type: string;
  title: string;
  datasource?: { uid: string };
  targets?: { expr: string }[];
  panels?: Panel[];
}

const DASHBOARD = path.join(REPO, 'infra', 'grafana', 'dashboards', 'musicflow.json');

/** PromQL words that are not metric names. */
const PROMQL_WORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/**
 * The metric names an expression reads: identifiers that are not functions (followed by `(`), label names
 * (inside `{...}` or the parentheses of by/without/on/ignoring), strings, numbers, durations or PromQL words.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b\d[\d.]*(ms|s|m|h|d|w|y)?\b/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = [...bare.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*(?!\s*\(|[A-Za-z0-9_:])/g)].map((m) => m[0]);
  return [...new Set(names.filter((n) => !PROMQL_WORDS.has(n.toLowerCase())))];
}

/** Every series name /metrics declares: its families, with a histogram's or summary's series. */
function servedNames(text: string): Set<string> {
  const served = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    served.add(name!);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) served.add(`${name}${suffix}`);
    if (type === 'summary') for (const suffix of ['_sum', '_count']) served.add(`${name}${suffix}`);
  }
  return served;
}

const allPanels = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);

describe('the Grafana dashboard', () => {
  let db: string;
  let ctx: ServiceContext;
  let app: FastifyInstance;
  let metrics: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    ctx = createServiceContext(testConfig({ WAREHOUSE_URL: db }), 'test');
    app = await buildApp(ctx);
    await app.listen({ host: '127.0.0.1', port: 0 });
    const response = await fetch(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}/metrics`);
    expect(response.status).toBe(200);
    metrics = await response.text();
  });

  afterAll(async () => {
    await app?.close();
    await ctx?.close();
    if (ctx) await deleteKeys(ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
  });

  it('reads metric names out of PromQL', () => {
    expect(metricNames('histogram_quantile(0.95, max by (le, queue) (rate(musicflow_job_duration_seconds_bucket{queue!="x"}[5m])))')).toEqual([
      'musicflow_job_duration_seconds_bucket',
    ]);
    expect(metricNames('max(a_total) / on (job) group_left b offset 1h > bool 0 or c{l="by(x)"}')).toEqual(['a_total', 'b', 'c']);
  });

  it('every query names only metrics the running API serves', async () => {
    const dashboard = JSON.parse(await fs.readFile(DASHBOARD, 'utf8')) as { uid: string; panels: Panel[] };
    const served = servedNames(metrics);
    const queries = allPanels(dashboard.panels).flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
    expect(queries.length).toBeGreaterThan(15);
    const unserved = queries.flatMap(({ panel, expr }) => metricNames(expr).flatMap((name) => (served.has(name) ? [] : [`${panel}: ${name}`])));
    expect(unserved).toEqual([]);
    // Each query names at least one metric, and the check and drift metrics are on the board.
    expect(queries.filter(({ expr }) => metricNames(expr).length === 0)).toEqual([]);
    const named = new Set(queries.flatMap(({ expr }) => metricNames(expr)));
    for (const name of ['musicflow_data_check_failed_total', 'musicflow_data_check_blocked_total', 'musicflow_schema_drift_columns'])
      expect(named).toContain(name);
  });

  it('docker-compose.yml provisions Prometheus and Grafana on loopback with the dashboard and its data source', async () => {
    const compose = parse(await fs.readFile(path.join(REPO, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
      services: Record<string, { ports?: string[]; volumes?: string[]; environment?: Record<string, string> }>;
    };
    const { prometheus, grafana, api } = compose.services;
    for (const service of [prometheus, grafana]) {
      expect(service?.ports?.length).toBeGreaterThan(0);
      for (const port of service!.ports!) expect(port).toMatch(/^127\.0\.0\.1:/);
      for (const volume of service!.volumes!.filter((v) => v.startsWith('./'))) {
        await expect(fs.stat(path.join(REPO, volume.split(':')[0]!))).resolves.toBeTruthy();
      }
    }
    expect(grafana!.volumes).toContain('./infra/grafana/dashboards:/var/lib/grafana/dashboards:ro');
    // The API keeps its shared settings and answers Prometheus at its service name.
    expect(api!.environment).toMatchObject({ API_ALLOWED_HOSTS: 'api', WAREHOUSE_URL: expect.any(String) });

    const scrape = parse(await fs.readFile(path.join(REPO, 'infra', 'prometheus', 'prometheus.yml'), 'utf8'));
    expect(scrape.scrape_configs[0]).toMatchObject({ metrics_path: '/metrics', static_configs: [{ targets: ['api:3000'] }] });
    const sources = parse(await fs.readFile(path.join(REPO, 'infra', 'grafana', 'provisioning', 'datasources', 'prometheus.yml'), 'utf8'));
    const boards = parse(await fs.readFile(path.join(REPO, 'infra', 'grafana', 'provisioning', 'dashboards', 'musicflow.yml'), 'utf8'));
    expect(boards.providers[0].options.path).toBe('/var/lib/grafana/dashboards');
    const dashboard = JSON.parse(await fs.readFile(DASHBOARD, 'utf8')) as { panels: Panel[] };
    const uids = new Set(allPanels(dashboard.panels).flatMap((p) => (p.datasource ? [p.datasource.uid] : [])));
    expect([...uids]).toEqual([sources.datasources[0].uid]);
  });
});
