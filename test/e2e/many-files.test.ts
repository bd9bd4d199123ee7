/**
 * A day landed as thousands of small files (issue 11): packed into a few
 * chunk jobs, every file's outcome in analytics.etl_run_files and
 * GET /runs/:id/files, a report that summarizes the list, the same KPI
 * rows as the same events in one file, and the archive spread over archive
 * jobs that the run waits for (issue 28).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { DuckDBInstance } from '@duckdb/node-api';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '@musicflow/service-api';
import { REPORT_REJECTED_FILES } from '@musicflow/contracts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';

const FILES = 1200;
const BROKEN = 25;

describe('a day of 1,200 small files', () => {
  let work: string;
  let warehouseUrl: string;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  /** Rows per minute file (the last ones are empty). */
  let per: number;

  beforeAll(async () => {
    work = await tempDir();
    const streams = path.join(work, 'streams');
    await fs.mkdir(streams);
    // streams1.csv cut into FILES files of consecutive rows, as per-minute uploads land them.
    const [header, ...rows] = (await fs.readFile(path.join(SAMPLE, 'streams', 'streams1.csv'), 'utf8')).trimEnd().split('\n');
    per = Math.ceil(rows.length / FILES);
    for (let f = 0; f < FILES; f++) {
      const name = `minute-${String(f).padStart(5, '0')}.csv`;
      await fs.writeFile(path.join(streams, name), `${header}\n${rows.slice(f * per, (f + 1) * per).join('\n')}\n`);
    }
    // One file re-delivered under another name: all of its events are duplicates.
    await fs.writeFile(path.join(streams, 'zz-redelivered.csv'), `${header}\n${rows.slice(0, per).join('\n')}\n`);
    // A small file with too many bad rows, packed with the others: rejected whole, its good row kept out of the pack.
    await fs.writeFile(path.join(streams, 'yy-half-bad.csv'), `${header}\n${rows[0]!.replace(/^\d+/, '999999')}\nnot-a-user,x,y\n`);
    // More broken files than a report names: each lacks a column.
    for (let b = 0; b < BROKEN; b++)
      await fs.writeFile(path.join(streams, `broken-${String(b).padStart(2, '0')}.csv`), 'user_id,when\n1,2024-06-25 10:00:00\n');
    warehouseUrl = await createTestDatabase();
    pipeline = await startPipeline(
      testConfig({
        WAREHOUSE_URL: warehouseUrl,
        STREAMS_URL: dirUrl(streams),
        USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
        SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
        LAKE_URL: dirUrl(path.join(work, 'lake')),
        ARCHIVE_FILES_PER_JOB: '300',
        // The date in passes: the re-delivered file's duplicates are found by several pass jobs.
        KPI_EVENTS_PER_PASS: '5000',
      }),
    );
    app = await buildApp(pipeline.ctx);
  });
  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('loads them in a few chunk jobs, with every outcome in etl_run_files and the same KPIs as one file', async () => {
    const report = await pipeline.run();
    expect(report.status).toBe('partial');
    expect(report.files).toMatchObject({ total: FILES + 2 + BROKEN, loaded: FILES + 1, rejected: BROKEN + 1 });
    expect(report.files.firstRejected).toHaveLength(REPORT_REJECTED_FILES);
    expect(report.files.firstRejected[0]).toMatchObject({
      file: expect.stringContaining('broken-00.csv'),
      reasons: ['missing column(s): track_id, listen_time'],
    });
    expect(report.rows).toMatchObject({ read: 11346 + 10 + 2, valid: 11346 + 10, duplicate: 10 });
    // The report stays small however many files the run had.
    expect(JSON.stringify(report).length).toBeLessThan(10_000);

    // Packed: far fewer validate jobs than files.
    const chunks = (await pipeline.ctx.queues.queues.validate.getJobs(['completed'])).filter((j) => j.id!.includes(report.runId));
    expect(chunks.length).toBeGreaterThan(0);
    expect(chunks.length).toBeLessThanOrEqual(20);

    expectSameKpis(
      await readWarehouseKpis(warehouseUrl),
      await computeKpisWithDuckDB({ streamFiles: [path.join(SAMPLE, 'streams', 'streams1.csv')], songsCsv: path.join(SAMPLE, 'songs.csv') }),
    );

    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    const { rows: files } = await client.query(
      `SELECT status, COUNT(*)::int AS n, SUM(rows_read)::int AS read, SUM(rows_duplicate)::int AS dup FROM analytics.etl_run_files WHERE run_id = $1 GROUP BY status ORDER BY status`,
      [report.runId],
    );
    const { rows: redelivered } = await client.query(
      `SELECT rows_read::int AS rows_read, rows_duplicate::int AS rows_duplicate FROM analytics.etl_run_files WHERE file LIKE '%zz-redelivered.csv'`,
    );
    await client.end();
    expect(files).toEqual([
      { status: 'loaded', n: FILES + 1, read: 11346 + 10, dup: 10 },
      { status: 'rejected', n: BROKEN + 1, read: 2, dup: 0 },
    ]);
    expect(redelivered).toEqual([{ rows_read: 10, rows_duplicate: 10 }]);
    // Duplicates per file went to the lake, not into the KPI jobs' results in Redis: a URL and a count a pass.
    const kpiJobs = (await pipeline.ctx.queues.queues.kpi.getJobs(['completed'])).filter((j) => j.id!.includes(report.runId));
    const passes = kpiJobs
      .filter((j) => j.name === 'kpi-pass')
      .map((j) => j.returnvalue as { duplicate: number; duplicateFiles?: { url: string; files: number } });
    expect(passes.length).toBeGreaterThan(1);
    expect(passes.filter((p) => p.duplicate > 0).map((p) => p.duplicateFiles?.files)).toEqual(passes.filter((p) => p.duplicate > 0).map(() => 1));
    const [dateJob] = kpiJobs.filter((j) => j.name === 'kpi-date').map((j) => j.returnvalue as { duplicateFiles: unknown[] });
    expect(dateJob!.duplicateFiles).toHaveLength(passes.filter((p) => p.duplicate > 0).length);

    // Every rejected file, page by page, behind the endpoint.
    const names: string[] = [];
    for (let offset = 0; ; offset += 10) {
      const page = await app.inject({ url: `/runs/${report.runId}/files?status=rejected&limit=10&offset=${offset}` });
      expect(page.statusCode).toBe(200);
      const body = page.json();
      expect(body.total).toBe(BROKEN + 1);
      names.push(...body.files.map((f: { file: string }) => path.basename(f.file)));
      if (body.files.length < 10) break;
    }
    expect(names).toEqual([...Array.from({ length: BROKEN }, (_, b) => `broken-${String(b).padStart(2, '0')}.csv`), 'yy-half-bad.csv']);
    const all = (await app.inject({ url: `/runs/${report.runId}/files?limit=1000` })).json();
    expect(all.total).toBe(FILES + 2 + BROKEN);
    expect((await app.inject({ url: `/runs/${report.runId}/files?status=maybe` })).statusCode).toBe(400);
    expect((await app.inject({ url: `/runs/no-such-run/files` })).statusCode).toBe(404);

    // Loaded files went to the archive, rejected ones stayed.
    expect((await fs.readdir(path.join(work, 'streams'))).sort()).toEqual(names.slice().sort());
    const [yyyy, mm, dd] = report.startedAt.slice(0, 10).split('-') as [string, string, string];
    expect((await fs.readdir(path.join(work, 'archive', yyyy, mm, dd))).length).toBe(FILES + 1);
    // By five archive jobs of at most 300 files (ARCHIVE_FILES_PER_JOB), all done before the run's load job ended.
    const loadJobs = (await pipeline.ctx.queues.queues.load.getJobs(['completed'])).filter((j) => j.id!.includes(report.runId));
    const archiveJobs = loadJobs.filter((j) => j.name === 'archive');
    expect(archiveJobs.map((j) => (j.returnvalue as { moved: number }).moved).sort((a, b) => a - b)).toEqual([1, 300, 300, 300, 300]);
    const loadJob = loadJobs.find((j) => j.name === 'load')!;
    for (const job of archiveJobs) expect(job.finishedOn!).toBeLessThanOrEqual(loadJob.finishedOn!);
    expect(report.stageMs.archive).toBeGreaterThan(0);

    // The lake keeps a part per chunk, not per file, and says which file each row came from.
    const date = path.join(work, 'lake', 'processed', 'listen_date=2024-06-25');
    const parts = await fs.readdir(date);
    expect(parts.length).toBeLessThanOrEqual(chunks.length);
    expect(parts.every((name) => name.startsWith('pack+'))).toBe(true);
    const perFile = await lakeRowsByFile(date);
    // Every accepted file with rows, the re-delivered one too (its events count once in the KPIs); not yy-half-bad.
    expect(perFile.size).toBe(Math.ceil(11346 / per) + 1);
    expect(perFile.get('minute-00005')).toBe(per);
    expect(perFile.get('zz-redelivered')).toBe(per);
  });

  it('a packed file landed again replaces its rows in the pack, unchanged or changed', async () => {
    // minute-00005 again as it was, minute-00006 again with only its first row (the producer fixed it).
    const streams = path.join(work, 'streams');
    for (const name of await fs.readdir(streams)) await fs.rm(path.join(streams, name));
    const partsBefore = (await fs.readdir(path.join(work, 'lake', 'processed', 'listen_date=2024-06-25'))).length;
    const [header, ...rows] = (await fs.readFile(path.join(SAMPLE, 'streams', 'streams1.csv'), 'utf8')).trimEnd().split('\n');
    const minute = (f: number) => rows.slice(f * per, (f + 1) * per);
    await fs.writeFile(path.join(streams, 'minute-00005.csv'), `${header}\n${minute(5).join('\n')}\n`);
    await fs.writeFile(path.join(streams, 'minute-00006.csv'), `${header}\n${minute(6)[0]}\n`);
    const report = await pipeline.run();
    expect(report.status).toBe('succeeded');
    // Their earlier rows left the pack before the KPIs were counted: nothing is a duplicate.
    expect(report.rows).toMatchObject({ read: per + 1, valid: per + 1, duplicate: 0 });

    const date = path.join(work, 'lake', 'processed', 'listen_date=2024-06-25');
    const perFile = await lakeRowsByFile(date);
    expect(perFile.size).toBe(Math.ceil(11346 / per) + 1);
    expect(perFile.get('minute-00005')).toBe(per);
    expect(perFile.get('minute-00006')).toBe(1);
    // The two files are a pack of their own now.
    expect((await fs.readdir(date)).length).toBe(partsBefore + 1);

    // The KPIs are those of the day as it now stands: minute-00006 with one row.
    const expected = path.join(work, 'expected.csv');
    const now = rows.filter((_, i) => Math.floor(i / per) !== 6 || i === 6 * per);
    await fs.writeFile(expected, `${header}\n${now.join('\n')}\n`);
    expectSameKpis(await readWarehouseKpis(warehouseUrl), await computeKpisWithDuckDB({ streamFiles: [expected], songsCsv: path.join(SAMPLE, 'songs.csv') }));
  });
});

/** Rows of each source file in a date's parts, read by DuckDB through the lake's `source_file` column. */
async function lakeRowsByFile(dateDir: string): Promise<Map<string, number>> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const reader = await conn.runAndReadAll(
      `SELECT source_file, count(*)::INTEGER AS n FROM read_parquet('${path.join(dateDir, '*.parquet').replace(/'/g, "''")}') GROUP BY source_file`,
    );
    return new Map(reader.getRowObjectsJson().map((r) => [String(r.source_file), Number(r.n)]));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
