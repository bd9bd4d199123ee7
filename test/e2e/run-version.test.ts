/**
 * Which code and settings made a run's numbers: every run records the
 * musicflow version, the git commit and a hash of its KPI-relevant settings
 * in analytics.etl_runs (and its report), and KPI rows join them by run_id.
 * Two runs under the same settings share a hash; changing one that decides
 * which events count changes it.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gitCommit } from '@musicflow/config';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, REPO, SAMPLE, sampleStreamsFolder, tempDir, testConfig } from '../helpers/env.ts';
import { startPipeline } from '../helpers/pipeline.ts';

describe('run version stamps', () => {
  let work: string;
  let warehouseUrl: string;

  beforeAll(async () => {
    work = await tempDir();
    warehouseUrl = await createTestDatabase();
  });
  afterAll(async () => {
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  /** One run of `file` under `settings`, by a pipeline of its own. */
  async function runWith(file: string, settings: Record<string, string> = {}) {
    const pipeline = await startPipeline(
      testConfig({
        WAREHOUSE_URL: warehouseUrl,
        STREAMS_URL: dirUrl(await sampleStreamsFolder(work, `streams-${file}-${Object.keys(settings).length}`, file)),
        USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
        SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
        ...settings,
      }),
    );
    try {
      return await pipeline.run();
    } finally {
      await pipeline.close();
    }
  }

  async function query<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      return (await client.query<T>(sql, values)).rows;
    } finally {
      await client.end();
    }
  }

  it('records version, commit and settings hash; same settings, same hash; a changed KPI setting, another', async () => {
    const first = await runWith('streams1.csv');
    const same = await runWith('streams2.csv');
    const stricter = await runWith('streams3.csv', { REJECT_THRESHOLD: '0.01' });
    for (const report of [first, same, stricter]) expect(report.status).toBe('succeeded');

    const { version } = JSON.parse(await fs.readFile(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
    const commit = gitCommit(REPO);
    expect(commit).toMatch(/^[0-9a-f]{40}(-dirty)?$/);

    type Row = { run_id: string; musicflow_version: string; git_commit: string; settings_hash: string };
    const rows = await query<Row>('SELECT run_id, musicflow_version, git_commit, settings_hash FROM analytics.etl_runs ORDER BY started_at');
    expect(rows.map((r) => r.run_id)).toEqual([first.runId, same.runId, stricter.runId]);
    for (const row of rows)
      expect(row).toMatchObject({ musicflow_version: version, git_commit: commit, settings_hash: expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(rows[1]!.settings_hash).toBe(rows[0]!.settings_hash);
    expect(rows[2]!.settings_hash).not.toBe(rows[0]!.settings_hash);

    // The report says the same, with the settings themselves.
    expect(first.build).toMatchObject({ version, commit, settingsHash: rows[0]!.settings_hash, settings: { REJECT_THRESHOLD: 0.05 } });
    expect(stricter.build).toMatchObject({ settingsHash: rows[2]!.settings_hash, settings: { REJECT_THRESHOLD: 0.01 } });

    // The query README shows: each KPI row with the version and settings of the run that last wrote it.
    const joined = await query<{ listen_date: string; listen_hour: number; musicflow_version: string; git_commit: string; settings_hash: string }>(
      `SELECT k.listen_date, k.listen_hour, r.musicflow_version, r.git_commit, r.settings_hash
       FROM analytics.hourly_kpis k JOIN analytics.etl_runs r ON r.run_id = k.run_id
       ORDER BY k.listen_date, k.listen_hour`,
    );
    expect(joined.length).toBeGreaterThan(0);
    expect(new Set(joined.map((r) => r.musicflow_version))).toEqual(new Set([version]));
  });
});
