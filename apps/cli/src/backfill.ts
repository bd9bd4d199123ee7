import { parseArgs } from 'node:util';
import type { Config } from '@musicflow/config';
import { backfillSpecSchema, runIdSchema, type BackfillSpec } from '@musicflow/contracts';
import {
  cancelBackfill,
  createServiceContext,
  listBackfills,
  planBackfill,
  readBackfill,
  resumeBackfill,
  startBackfill,
  type BackfillPlan,
  type BackfillView,
} from '@musicflow/flow';
import { formatTable, terminalWidth, wrap } from './format.ts';

export const BACKFILL_USAGE = `  musicflow backfill plan --from YYYY-MM-DD --to YYYY-MM-DD [--only missing|stale|all]
                                  the lake's dates in the range with their parts and events, whether
                                  the warehouse has them (missing, stale, current), and which a run takes
  musicflow backfill run --from … --to … [--only …] [--concurrency N] [--wait]
                                  recompute the selected dates, N at once (default 2); --wait shows each
                                  date's status, exit 0 succeeded, 2 partial, 3 cancelled
  musicflow backfill list | status ID | cancel ID | resume ID [--wait]`;

/** `only` defaults to stale: dates the warehouse lacks or has older than the lake. */
function parseSpec(values: { from?: string; to?: string; only?: string; concurrency?: string }): BackfillSpec {
  const parsed = backfillSpecSchema.safeParse({
    from: values.from,
    to: values.to,
    only: values.only,
    concurrency: values.concurrency,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`backfill: --${String(issue.path[0] ?? 'from')}: ${issue.message}`);
  }
  return parsed.data;
}

/** A timestamp to the minute, UTC: what a plan's reader compares. */
const minute = (iso: string | undefined) => iso && `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;

export function formatPlan(plan: BackfillPlan, width = terminalWidth()): string {
  const rows = plan.dates.map((d) => ({
    ...d,
    loadedAt: minute(d.loadedAt),
    lakeWrittenAt: minute(d.lakeWrittenAt),
    takes: d.selected ? (d.state === 'missing' ? 'load' : 'replace') : '',
  }));
  // When the width is short, the lake's write time goes first: `state` already says whether it is newer than the load.
  const table = formatTable(rows, ['listenDate', 'parts', 'events', 'state', 'loadedAt', { key: 'lakeWrittenAt', dropOrder: 1 }, 'takes'], width);
  const missing = plan.dates.filter((d) => d.selected && d.state === 'missing').length;
  const summary = `${plan.selected.length} of ${plan.dates.length} lake date(s) from ${plan.spec.from} to ${plan.spec.to} (only ${plan.spec.only}): ${missing} to load, ${plan.selected.length - missing} to replace`;
  return `${table}\n\n${wrap(summary, width)}`;
}

const formatView = (v: BackfillView) =>
  `backfill ${v.backfillId} (${v.spec.from} to ${v.spec.to}, only ${v.spec.only}, ${v.spec.concurrency} at once${v.resumeOf ? `, resumes ${v.resumeOf}` : ''}): ${v.state.toUpperCase()}\n` +
  formatTable(v.dates, ['listenDate', 'status', 'runId'], terminalWidth());

const EXIT = { succeeded: 0, partial: 2, cancelled: 3 } as const;

/** `musicflow backfill …`: the exit code. */
export async function backfill(config: Config, args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { from: { type: 'string' }, to: { type: 'string' }, only: { type: 'string' }, concurrency: { type: 'string' }, wait: { type: 'boolean' } },
  });
  const idOf = () => {
    const id = runIdSchema.safeParse(positionals[0]);
    if (positionals.length !== 1 || !id.success) throw new Error(`backfill ${sub}: give exactly one backfill id`);
    return id.data;
  };
  const ctx = createServiceContext(config, 'cli');
  try {
    const { queues } = ctx;
    const wait = async (backfillId: string) => {
      const view = await waitForBackfill(ctx.queues, backfillId);
      return EXIT[view.state as keyof typeof EXIT] ?? 1;
    };
    switch (sub) {
      case 'plan':
        console.log(formatPlan(await planBackfill(ctx.store, await ctx.warehouse(), config.LAKE_URL, parseSpec(values))));
        return 0;
      case 'run': {
        const spec = parseSpec(values);
        const plan = await planBackfill(ctx.store, await ctx.warehouse(), config.LAKE_URL, spec);
        console.log(formatPlan(plan));
        if (!plan.selected.length) return 0;
        const { backfillId } = await startBackfill(config, queues, spec, plan.selected);
        console.log(`backfill ${backfillId} enqueued`);
        return values.wait ? wait(backfillId) : 0;
      }
      case 'list': {
        const { backfills } = await listBackfills(queues, 20, 0);
        console.log(
          formatTable(
            backfills.map((b) => ({ ...b.spec, ...b, dates: b.dates.length })),
            ['backfillId', 'state', 'from', 'to', 'only', 'dates', 'createdAt'],
            terminalWidth(),
          ),
        );
        return 0;
      }
      case 'status': {
        const view = await readBackfill(queues, idOf());
        if (!view) throw new Error(`backfill ${positionals[0]} not found`);
        console.log(formatView(view));
        return 0;
      }
      case 'cancel': {
        const outcome = await cancelBackfill(queues, idOf());
        console.log(`backfill ${positionals[0]}: ${outcome === 'cancelled' ? 'cancelled: no further date starts, dates in flight are cancelled' : outcome}`);
        return outcome === 'cancelled' ? 0 : 1;
      }
      case 'resume': {
        const resumed = await resumeBackfill(config, queues, idOf());
        if (typeof resumed === 'string') throw new Error(resumed);
        console.log(`backfill ${resumed.backfillId} enqueued over ${resumed.dates.length} date(s) left: ${resumed.dates.join(', ')}`);
        return values.wait ? wait(resumed.backfillId) : 0;
      }
      default:
        throw new Error(`backfill: unknown subcommand ${sub ?? '(none)'}\n${BACKFILL_USAGE}`);
    }
  } finally {
    await ctx.close();
  }
}

/** Prints each date's status as it changes, until the backfill ends. */
async function waitForBackfill(queues: Parameters<typeof readBackfill>[0], backfillId: string): Promise<BackfillView> {
  const seen = new Map<string, string>();
  for (;;) {
    const view = await readBackfill(queues, backfillId);
    if (!view) throw new Error(`backfill ${backfillId} not found`);
    for (const d of view.dates) {
      if (seen.get(d.listenDate) !== d.status) {
        seen.set(d.listenDate, d.status);
        if (d.status !== 'pending') process.stderr.write(`  ${d.listenDate}  ${d.status}\n`);
      }
    }
    if (view.state !== 'queued' && view.state !== 'running' && view.state !== 'cancelling') {
      console.log(formatView(view));
      return view;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
