import { parseArgs } from 'node:util';
import { loadConfig, type Config } from '@musicflow/config';
import { serve, startRun } from '@musicflow/flow';
import { recompute } from './recompute.ts';
import { cancel } from './cancel.ts';
import { retry } from './retry.ts';
import { backfill, BACKFILL_USAGE } from './backfill.ts';
import { SERVICE_NAMES, startServices, type ServiceName } from './services.ts';
import { waitAndReport, withQueues } from './wait.ts';
import { runDemo } from './demo.ts';
import { checkServices } from './preflight.ts';
import { migrateWarehouse } from './migrate.ts';

const USAGE = `musicflow: music-streaming ETL on BullMQ

  musicflow start [service...]    run services in this process (all by default: ${SERVICE_NAMES.join(', ')})
  musicflow run [--streams URL] [--users URL] [--songs URL] [--wait]
                                  enqueue one run; --wait shows progress and the report,
                                  exit 0 succeeded, 2 partial, 1 failed, 3 cancelled
  musicflow recompute --from YYYY-MM-DD [--to YYYY-MM-DD] [--re-enrich] [--wait]
                                  recompute and upsert the KPIs of the lake's listen dates in the range
                                  (no --to: every date from --from on) from the lake alone;
                                  --re-enrich first joins the dates' parts with the current catalogue
  musicflow retry RUN_ID [--only-failed] [--wait]
                                  a new run after a failed, partial or cancelled one, over its sources;
                                  --only-failed: over only its rejected files (their current versions),
                                  or, when it failed loading, only its dates, recomputed from the lake
  musicflow cancel RUN_ID [--wait]
                                  cancel a queued or running run: its waiting jobs are removed, active
                                  ones stop between blocks of work or at their next step, nothing is
                                  loaded; --wait until it is recorded cancelled (exit 3)
${BACKFILL_USAGE}
  musicflow demo                  run the pipeline once on the sample data and print the KPIs
  musicflow migrate               apply the warehouse's pending schema migrations (services do at start-up
                                  when their role may; an admin runs this when it may not)

Configuration comes from the environment (see README).`;

async function start(config: Config, names: string[]): Promise<void> {
  const unknown = names.filter((n) => !SERVICE_NAMES.includes(n as ServiceName));
  if (unknown.length) throw new UsageError(`unknown service(s): ${unknown.join(', ')}; known: ${SERVICE_NAMES.join(', ')}`);
  await serve('musicflow', (ctx) => startServices(ctx, names.length ? (names as ServiceName[]) : SERVICE_NAMES), config);
}

async function run(config: Config, values: { streams?: string; users?: string; songs?: string; wait?: boolean }): Promise<number> {
  return withQueues(config, async (queues) => {
    const { runId, created } = await startRun(config, queues, {
      trigger: 'cli',
      sources: { streams: values.streams, users: values.users, songs: values.songs },
    });
    console.log(created ? `run ${runId} enqueued` : `run ${runId} over the same sources is already active`);
    return values.wait ? waitAndReport(queues, runId, config.JOB_LOCK_MS) : 0;
  });
}

class UsageError extends Error {}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  try {
    if (!command || command === 'help' || command === '--help' || command === '-h') {
      console.log(USAGE);
      return;
    }
    if (command === 'demo') {
      process.exitCode = await runDemo();
      return;
    }
    const config = loadConfig();
    if (command === 'migrate') {
      console.log(await migrateWarehouse(config));
      return;
    }
    const problems = await checkServices(config);
    if (problems.length) {
      console.error(problems.join('\n'));
      process.exitCode = 1;
      return;
    }
    if (command === 'start') return await start(config, rest);
    if (command === 'run') {
      const { values } = parseArgs({
        args: rest,
        options: { streams: { type: 'string' }, users: { type: 'string' }, songs: { type: 'string' }, wait: { type: 'boolean' } },
      });
      process.exitCode = await run(config, values);
      return;
    }
    if (command === 'recompute') {
      const { values } = parseArgs({
        args: rest,
        options: { from: { type: 'string' }, to: { type: 'string' }, 're-enrich': { type: 'boolean' }, wait: { type: 'boolean' } },
      });
      process.exitCode = await recompute(config, values).catch((err: Error) => {
        throw new UsageError(err.message);
      });
      return;
    }
    if (command === 'backfill') {
      process.exitCode = await backfill(config, rest).catch((err: Error) => {
        throw new UsageError(err.message);
      });
      return;
    }
    if (command === 'retry') {
      const { values, positionals } = parseArgs({
        args: rest,
        allowPositionals: true,
        options: { 'only-failed': { type: 'boolean' }, wait: { type: 'boolean' } },
      });
      if (positionals.length !== 1) throw new UsageError('retry: give exactly one run id');
      process.exitCode = await retry(config, positionals[0]!, values);
      return;
    }
    if (command === 'cancel') {
      const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { wait: { type: 'boolean' } } });
      if (positionals.length !== 1) throw new UsageError('cancel: give exactly one run id');
      process.exitCode = await cancel(config, positionals[0]!, values);
      return;
    }
    throw new UsageError(`unknown command: ${command}`);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`${(err as Error).message}\n\n${USAGE}`);
    } else {
      console.error((err as Error).message);
    }
    process.exitCode = 1;
  }
}
