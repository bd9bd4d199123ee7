/**
 * npm run bench:startup -- [--runs N]
 *
 * Start time and memory of one service process, run from the TypeScript sources through tsx
 * (development) and from the build on plain node (`npm run build`; production): for each
 * service, the time from spawn to its "services started" log line and its RSS two seconds
 * later, idle, median of N runs. Needs Redis and PostgreSQL (its own queue prefix and database, both removed after).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { WORKER_NODE_FLAGS } from './node-flags.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' } } });
const RUNS = Number(values.runs);
const SERVICES = ['extractor', 'transformer', 'kpi', 'api'];
const MODES = {
  'tsx (sources)': ['--conditions=@musicflow/source', '--import', 'tsx/esm', path.join(REPO, 'apps/cli/src/bin.ts')],
  'node (dist)': [path.join(REPO, 'apps/cli/dist/bin.js')],
};
if (!existsSync(path.join(REPO, 'apps/cli/dist/bin.js'))) throw new Error('no build: run npm run build first');

const suffix = randomBytes(4).toString('hex');
const admin = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const warehouse = new URL(admin);
warehouse.pathname = `/musicflow_bench_startup_${suffix}`;

function startOnce(args: string[], service: string): Promise<{ ms: number; rssMb: number }> {
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [...WORKER_NODE_FLAGS, ...args, 'start', service], {
    cwd: REPO,
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      WAREHOUSE_URL: warehouse.toString(),
      QUEUE_PREFIX: `mfbench${suffix}`,
      API_PORT: String(20_000 + Math.floor(Math.random() * 20_000)),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`${service} exited ${code} before it started:\n${out}`)));
    child.stdout.on('data', (chunk) => {
      out += String(chunk);
      if (!out.includes('"services started"')) return;
      child.stdout.removeAllListeners('data');
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      setTimeout(() => {
        const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
        child.removeAllListeners('exit');
        child.once('exit', () => resolve({ ms, rssMb: rssKb / 1024 }));
        child.kill('SIGTERM');
      }, 2000);
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  console.log(`service      mode            start ms   RSS MB   (median of ${RUNS})`);
  for (const service of SERVICES) {
    for (const [mode, args] of Object.entries(MODES)) {
      const runs = [];
      for (let i = 0; i < RUNS; i++) runs.push(await startOnce(args, service));
      const ms = median(runs.map((r) => r.ms));
      const rss = median(runs.map((r) => r.rssMb));
      console.log(`${service.padEnd(12)} ${mode.padEnd(15)} ${ms.toFixed(0).padStart(8)}   ${rss.toFixed(0).padStart(6)}`);
    }
  }
} finally {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  for await (const keys of redis.scanStream({ match: `mfbench${suffix}:*`, count: 500 })) if (keys.length) await redis.del(...(keys as string[]));
  redis.disconnect();
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${warehouse.pathname.slice(1)} WITH (FORCE)`);
  await client.end();
}
