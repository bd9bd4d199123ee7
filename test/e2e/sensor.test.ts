/**
 * The landing sensor on two API replicas (SENSOR_INTERVAL 100 ms, SENSOR_QUIET
 * 300 ms): two stream files dropped into the empty streams folder start
 * exactly one run (trigger `sensor`) that loads both, and the sensor keeps
 * looking without starting another; /metrics says when it last looked and
 * what it saw.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServices } from '@musicflow/cli';
import { createServiceContext, readSensorStatus, type Service, type ServiceContext } from '@musicflow/flow';
import type { ApiService } from '@musicflow/service-api';
import { deleteKeys, makeBucket, waitFor, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';

describe('landing sensor', () => {
  let db: string;
  let bucket: Bucket;
  let dropped: [string, string][];
  let replicas: { ctx: ServiceContext; services: Service[]; url: string }[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(2, 50);
    // The files land later: taken out of the folder the sensor watches.
    dropped = await Promise.all(
      (await fs.readdir(bucket.streamsDir)).map(async (name): Promise<[string, string]> => {
        const file = path.join(bucket.streamsDir, name);
        const text = await fs.readFile(file, 'utf8');
        await fs.rm(file);
        return [name, text];
      }),
    );
    const config = testConfig({ ...bucket.env, WAREHOUSE_URL: db, SENSOR_INTERVAL: '100ms', SENSOR_QUIET: '300ms', API_PORT: '0' });
    for (const [name, services] of [
      ['replica-a', ['api', 'extractor', 'validator', 'transformer', 'kpi', 'loader']],
      ['replica-b', ['api']],
    ] as const) {
      const ctx = createServiceContext(config, name);
      const started = await startServices(ctx, services);
      replicas.push({ ctx, services: started, url: (started[0] as ApiService).url });
    }
  });

  afterAll(async () => {
    for (const r of replicas) {
      await Promise.all(r.services.map((s) => s.close()));
      await r.ctx.close();
    }
    if (replicas[0]) await deleteKeys(replicas[0].ctx.config.QUEUE_PREFIX);
    replicas = [];
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  const sensorRuns = async () =>
    (await replicas[0]!.ctx.warehouse()).query<{ run_id: string; status: string; files_total: number; finished_at: Date }>(
      "SELECT run_id, status, files_total, finished_at FROM analytics.etl_runs WHERE trigger = 'sensor'",
    );

  it('files dropped into the folder start exactly one run', async () => {
    const { queues } = replicas[0]!.ctx;
    await waitFor('a first look at the empty folder', async () => (await readSensorStatus(queues)).files === 0);
    for (const [name, text] of dropped) await bucket.addStream(name, text);

    const [run] = await waitFor('the sensor run recorded', async () => {
      const runs = await sensorRuns();
      return runs.length > 0 && runs;
    });
    expect(run).toMatchObject({ status: 'succeeded', files_total: 2 });
    // Two more looks after the run moved the files to the archive: nothing left, nothing started.
    const after = run!.finished_at.getTime();
    await waitFor('two looks after the run', async () => {
      const status = await readSensorStatus(queues);
      return status.checkedAt! > after + 200 && status.files === 0;
    });
    expect(await sensorRuns()).toHaveLength(1);
    expect(await readSensorStatus(queues)).toMatchObject({ files: 0, waiting: 0, lastRunId: run!.run_id });

    const metrics = await (await fetch(`${replicas[1]!.url}/metrics`)).text();
    expect(metrics).toMatch(/musicflow_sensor\{measure="last_check_timestamp_seconds"\} \d+/);
    expect(metrics).toContain('musicflow_sensor{measure="files"} 0');
    expect(metrics).toMatch(/musicflow_sensor\{measure="last_run_timestamp_seconds"\} \d+/);
  });
});
