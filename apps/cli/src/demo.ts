import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadConfig } from '@musicflow/config';
import { createServiceContext, startRun } from '@musicflow/flow';
import { formatReport, formatTable } from './format.ts';
import { PIPELINE_WORKERS, startServices } from './services.ts';
import { waitForRun } from './wait.ts';
import { checkServices, exitCodeOf } from './preflight.ts';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const SAMPLE = path.join(REPO, 'data', 'sample');

/**
 * The main job on embedded defaults: the sample data in the repo, local
 * folders for bucket and lake (reset each time), the local Redis and
 * PostgreSQL. Runs the pipeline once and prints both KPI tables and the report.
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
  console.log(`musicflow demo: sample data copied to ${work}\n`);

  const ctx = createServiceContext(config, 'musicflow-demo');
  const services = await startServices(ctx, PIPELINE_WORKERS);
  try {
    const { runId } = await startRun(config, ctx.queues, { trigger: 'demo' });
    console.log(`run ${runId}`);
    const progress = await waitForRun(ctx.queues, runId, config.JOB_LOCK_MS, process.stdout);
    const report = progress.report;
    if (report && report.dates.length) {
      const warehouse = await ctx.warehouse();
      for (const date of report.dates) {
        const genre = await warehouse.kpis('genre', date);
        const hourly = await warehouse.kpis('hourly', date);
        console.log(`\nanalytics.genre_kpis, listen_date ${date} (${genre.length} rows)\n`);
        console.log(
          formatTable(genre, [
            'genre',
            'listen_count',
            'avg_track_duration_ms',
            'avg_popularity',
            'popularity_index',
            'most_popular_track_id',
            'most_popular_track_name',
            'most_popular_track_plays',
          ]),
        );
        console.log(`\nanalytics.hourly_kpis, listen_date ${date}\n`);
        console.log(
          formatTable(hourly, ['listen_hour', 'unique_listeners', 'total_plays', 'unique_tracks', 'track_diversity_index', 'top_artist', 'top_artist_plays']),
        );
      }
    }
    console.log(`\n${report ? formatReport(report) : `run ${runId} ${progress.state}: ${progress.error ?? ''}`}`);
    return exitCodeOf(report);
  } finally {
    await Promise.all(services.map((s) => s.close()));
    await ctx.close();
  }
}
