import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '@musicflow/config';
import { createServiceContext, startRun } from '@musicflow/flow';
import { formatReport, terminalWidth, wrap } from './format.ts';
import { formatGenreKpis, formatHourlyKpis } from './kpi-tables.ts';
import { PIPELINE_WORKERS, startServices } from './services.ts';
import { waitForRun } from './wait.ts';
import { checkServices, exitCodeOf } from './preflight.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SAMPLE = path.join(REPO, 'data', 'sample');

/**
 * The main job on embedded defaults: the sample data in the repo, local
 * folders for bucket and lake (reset each time), the local Redis and
 * PostgreSQL. Runs the pipeline once and prints both KPI tables (the most
 * played genres) and the report, fitted to the terminal's width.
 */
export async function runDemo(): Promise<number> {
  const work = path.resolve(process.env.MUSICFLOW_DEMO_DIR ?? path.join(process.cwd(), '.musicflow', 'demo'));
  const dirUrl = (p: string) => pathToFileURL(p).href + '/';
  const config = loadConfig({
    ...process.env,
    STREAMS_URL: dirUrl(path.join(work, 'bucket', 'streams')),
    USERS_URL: pathToFileURL(path.join(SAMPLE, 'users.csv')).href,
    SONGS_URL: pathToFileURL(path.join(SAMPLE, 'songs.csv')).href,
    LAKE_URL: dirUrl(path.join(work, 'lake')),
    ARCHIVE_URL: dirUrl(path.join(work, 'bucket', 'archive')),
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const problems = await checkServices(config);
  if (problems.length) {
    console.error(`musicflow demo needs Redis and PostgreSQL:\n${problems.join('\n')}`);
    return 1;
  }

  // Ingestion archives its inputs, so the demo works on a fresh copy of the sample files.
  await fs.rm(work, { recursive: true, force: true });
  await fs.mkdir(path.join(work, 'bucket'), { recursive: true });
  await fs.cp(path.join(SAMPLE, 'streams'), path.join(work, 'bucket', 'streams'), { recursive: true });
  const width = terminalWidth(process.stdout);
  console.log(`${wrap(`musicflow demo: sample data copied to ${work}`, width)}\n`);

  const ctx = createServiceContext(config, 'musicflow-demo');
  const services = await startServices(ctx, PIPELINE_WORKERS);
  try {
    const { runId } = await startRun(config, ctx.queues, { trigger: 'demo' });
    console.log(`run ${runId}`);
    const progress = await waitForRun(ctx.queues, runId, config.JOB_LOCK_MS, process.stdout);
    const report = progress.report;
    if (report && report.dates.length) {
      const warehouse = await ctx.warehouse();
      // A wildcard or loopback address: a browser on this machine finds the API at localhost.
      const host = /^(0\.0\.0\.0|::|127\.0\.0\.1|::1)$/.test(config.API_HOST) ? 'localhost' : config.API_HOST;
      const pointer = { dashboardUrl: `http://${host}:${config.API_PORT}/dashboard` };
      for (const date of report.dates) {
        console.log(`\n${formatGenreKpis(date, await warehouse.kpis('genre', date), width, pointer)}\n`);
        console.log(formatHourlyKpis(date, await warehouse.kpis('hourly', date), width));
      }
    }
    console.log(`\n${report ? formatReport(report, width) : wrap(`run ${runId} ${progress.state}: ${progress.error ?? ''}`, width)}`);
    return exitCodeOf(report);
  } finally {
    await Promise.all(services.map((s) => s.close()));
    await ctx.close();
  }
}
