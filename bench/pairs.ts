/**
 * npm run bench:pairs -- --pairs N [--warmup W] --a "<bench args>" --b "<bench args>" [-- <bench args both share>]
 *
 * Runs `bench/run.ts` with two argument sets in turn, N pairs, so each pair meets the same minutes of a
 * shared machine, where one run varies by tens of percent between hours; each side goes first in every
 * other pair (a b, b a, a b, ...), so neither always runs after the other (on files the other's run left
 * cold in the page cache, or on a machine it warmed). Prints each
 * run's `bench:` line as it ends, then each pair's wall time and worker CPU per event side by side with
 * their ratio (a / b), and the median, lowest and highest ratio: what a target such as "100,000 files
 * within 2x the time of the same events in 5" is judged by. A run that fails (its KPI rows differing
 * from DuckDB's too) stops the pairs. The tree is built once first (`prebench:pairs`). Before the pairs,
 * `--warmup W` runs of each side (default 1) are made and not counted: a first run may generate its data,
 * and reads the code and the bench's cache from disk (each run reads its input files once before its
 * trigger, so their page cache is the same for both sides: docs/performance.md).
 *
 *   npm run bench:pairs -- --pairs 5 --a "--files 100000 --oracle-files 5" --b "--files 5" \
 *     -- --events 1000000 --workers 2 --pandas-runs 0 --duckdb-runs 0
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const RUN = fileURLToPath(new URL('./run.ts', import.meta.url));

/** The figures of a `bench:` line (`bench: key=value key=value ...`), by key; undefined for any other line. */
export function parseBenchLine(line: string): Record<string, string> | undefined {
  if (!line.startsWith('bench: ')) return undefined;
  const figures: Record<string, string> = {};
  for (const field of line.slice('bench: '.length).trim().split(/\s+/)) {
    const eq = field.indexOf('=');
    if (eq > 0) figures[field.slice(0, eq)] = field.slice(eq + 1);
  }
  return figures;
}

/** The median, lowest and highest of `values` (at least one). */
export function spread(values: readonly number[]): { median: number; min: number; max: number } {
  if (!values.length) throw new Error('spread of no values');
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

type PairsOption = 'pairs' | 'warmup' | 'a' | 'b';

/**
 * `--pairs N [--warmup W] --a ARGS --b ARGS [-- SHARED...]`: the values of `--a` and `--b` start with a dash (bench
 * options), which node:util's parseArgs takes for a missing value; `--a=ARGS` works too.
 */
export function pairsArgs(argv: readonly string[]): { values: Partial<Record<PairsOption, string>>; positionals: string[] } {
  const values: Partial<Record<PairsOption, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return { values, positionals: argv.slice(i + 1) };
    const [, name, inline] = /^--(pairs|warmup|a|b)(?:=(.*))?$/s.exec(arg) ?? [];
    if (!name) throw new Error(`bench:pairs: unknown argument ${arg} (bench options both runs share go after --)`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`bench:pairs: --${name} needs a value`);
    values[name as PairsOption] = value;
  }
  return { values, positionals: [] };
}

/** Which side runs first in pair `pair` (from 1): `a` in odd pairs, `b` in even ones. */
export const pairOrder = (pair: number): readonly ['a', 'b'] | readonly ['b', 'a'] => (pair % 2 ? ['a', 'b'] : ['b', 'a']);

/** A figure of a run as a number, refused when the run's line lacks it. */
function figure(run: Record<string, string>, key: string): number {
  const value = Number(run[key]);
  if (!Number.isFinite(value)) throw new Error(`the bench line has no number ${key}: ${JSON.stringify(run)}`);
  return value;
}

/** One bench run with `args`: its `bench:` figures; its other output goes to stderr. */
function benchRun(args: string[]): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    // The same Node flags as this process: tsx's loader and the source condition.
    const child = spawn(process.execPath, [...process.execArgv, RUN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let figures: Record<string, string> | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      figures = parseBenchLine(line) ?? figures;
      process.stderr.write(`${line}\n`);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0 && figures) resolve(figures);
      else reject(new Error(`bench ${args.join(' ')} exited with ${code}${figures ? '' : ', without a bench: line'}`));
    });
  });
}

async function main(): Promise<void> {
  const { values, positionals } = pairsArgs(process.argv.slice(2));
  const pairs = Number(values.pairs ?? '3');
  const warmup = Number(values.warmup ?? '1');
  if (!values.a || !values.b || !(Number.isInteger(pairs) && pairs >= 1) || !(Number.isInteger(warmup) && warmup >= 0)) {
    throw new Error('usage: npm run bench:pairs -- --pairs N [--warmup W] --a "<bench args>" --b "<bench args>" [-- <bench args both share>]');
  }
  const split = (args: string) => args.split(/\s+/).filter(Boolean);
  const sides = { a: [...positionals, ...split(values.a)], b: [...positionals, ...split(values.b)] };
  const rows: { a: Record<string, string>; b: Record<string, string> }[] = [];
  const runSide = async (title: string, side: 'a' | 'b') => {
    console.log(`${title}: ${side}`);
    const figures = await benchRun(sides[side]);
    console.log(
      `  ${side}: ${Object.entries(figures)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    return figures;
  };
  for (let w = 1; w <= warmup; w++) for (const side of pairOrder(w)) await runSide(`warm-up ${w} of ${warmup} (not counted)`, side);
  for (let p = 1; p <= pairs; p++) {
    const [first, second] = pairOrder(p);
    const title = `pair ${p} of ${pairs}`;
    const ran = { [first]: await runSide(title, first), [second]: await runSide(title, second) } as Record<'a' | 'b', Record<string, string>>;
    rows.push(ran);
  }
  console.log(`\na: ${sides.a.join(' ')}\nb: ${sides.b.join(' ')}`);
  console.log('pair  wall s a / b (ratio)'.padEnd(32) + 'worker CPU µs/event a / b (ratio)'.padEnd(36) + 'peak RSS MB a / b');
  const wallRatios: number[] = [];
  const cpuRatios: number[] = [];
  for (const [i, { a, b }] of rows.entries()) {
    const wall = figure(a, 'pipeline_s') / figure(b, 'pipeline_s');
    const cpu = figure(a, 'cpu_us_per_event') / figure(b, 'cpu_us_per_event');
    wallRatios.push(wall);
    cpuRatios.push(cpu);
    console.log(
      `${String(i + 1).padStart(4)}  ${a.pipeline_s} / ${b.pipeline_s} (${wall.toFixed(2)}x)`.padEnd(32) +
        `${a.cpu_us_per_event} / ${b.cpu_us_per_event} (${cpu.toFixed(2)}x)`.padEnd(36) +
        `${a.peak_rss_mb} / ${b.peak_rss_mb}`,
    );
  }
  const show = ({ median, min, max }: ReturnType<typeof spread>) => `median ${median.toFixed(2)}x, ${min.toFixed(2)}-${max.toFixed(2)}x`;
  console.log(`pairs: ${pairs} wall_ratio ${show(spread(wallRatios))}; cpu_ratio ${show(spread(cpuRatios))}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
