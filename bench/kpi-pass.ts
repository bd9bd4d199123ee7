/**
 * node --max-old-space-size=256 --import tsx bench/kpi-pass.ts --lake DIR --date YYYY-MM-DD [--passes N] [--pass P|all] [--rounds R] [--merge R]
 *
 * One KPI pass job's work over a kept bench lake (`npm run bench -- --keep`),
 * in this process: time, CPU and memory (peak RSS, heap, array buffers)
 * sampled every 10 ms, to tune the KPI stage without a whole run. `--pass
 * all` counts every pass of N in turn, as one worker would; `--rounds R`
 * does it R times, each round printed: the first pays for compiling the
 * code, which a worker pays once, so compare the later rounds (a pass per
 * process made six passes look 2 s dearer than one). Peak memory is a
 * worker's with one pass and `MALLOC_MMAP_THRESHOLD_=131072` (the image's);
 * `all` holds a pass's garbage into the next. With `--merge R`,
 * every pass of N writes its partial to a temporary folder instead, and the
 * date job's merge of them is timed R times.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { RunContext } from '@musicflow/contracts';
import { mergeKpiPartials, writeKpiPartial } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { countPass, openDateParts } from '../services/kpi/src/date-pass.ts';
import { MERGE_GROUP_BYTES } from '../services/kpi/src/processor.ts';

const { values } = parseArgs({
  options: {
    lake: { type: 'string' },
    date: { type: 'string' },
    passes: { type: 'string', default: '1' },
    pass: { type: 'string', default: '0' },
    rounds: { type: 'string', default: '1' },
    merge: { type: 'string' },
  },
});
if (!values.lake || !values.date) throw new Error('usage: --lake DIR --date YYYY-MM-DD [--passes N] [--pass P|all] [--rounds R] [--merge ROUNDS]');
const passes = Number(values.passes);
/** The passes each round counts. */
const counted = values.pass === 'all' ? Array.from({ length: passes }, (_, p) => p) : [Number(values.pass)];
const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
const date = values.date;

if (values.merge) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musicflow-kpi-merge-'));
  const run = { runId: 'bench', lake: `${pathToFileURL(dir).href}/` } as RunContext;
  const parts = await openDateParts(store, `${pathToFileURL(values.lake).href}/`, date, new Set());
  const urls: string[] = [];
  for (let p = 0; p < passes; p++) {
    const { accumulator } = await countPass(parts, p, passes);
    urls.push((await writeKpiPartial(store, run, { listenDate: date, pass: p, count: passes }, accumulator.encodePartial())).url);
  }
  for (let round = 0; round < Number(values.merge); round++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const tables = await mergeKpiPartials(store, urls, MERGE_GROUP_BYTES);
    const cpu = process.cpuUsage(cpu0);
    console.log(
      `merge of ${passes} partials: ms=${(performance.now() - t0).toFixed(0)} cpu_ms=${((cpu.user + cpu.system) / 1000).toFixed(0)} genre_rows=${tables.genre.length}`,
    );
  }
  await fs.rm(dir, { recursive: true });
  process.exit(0);
}
const peak = { rss: 0, heapUsed: 0, heapTotal: 0, arrayBuffers: 0, external: 0 };
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
};
const timer = setInterval(sample, 10);
const mb = (n: number) => (n / 2 ** 20).toFixed(0);
for (let round = 0; round < Number(values.rounds); round++) {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const parts = await openDateParts(store, `${pathToFileURL(values.lake).href}/`, date, new Set());
  const totals = { rows: 0, rowsRead: 0, events: 0, tracks: 0, partialBytes: 0 };
  for (const pass of counted) {
    const { accumulator, ...count } = await countPass(parts, pass, passes);
    const partial = accumulator.encodePartial();
    totals.partialBytes += partial.header.length;
    for (const shard of partial.shards()) totals.partialBytes += shard.length;
    totals.rows += count.rows;
    totals.rowsRead += count.rowsRead;
    totals.events += count.events;
    totals.tracks += accumulator.tracks;
  }
  const ms = performance.now() - t0;
  sample();
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `round ${round} pass ${values.pass}/${passes}: rows=${totals.rows} read=${totals.rowsRead} events=${totals.events} ms=${ms.toFixed(0)} cpu_ms=${((cpu.user + cpu.system) / 1000).toFixed(0)}` +
      ` tracks=${totals.tracks} partial_kb=${(totals.partialBytes / 1024).toFixed(0)} peak_mb rss=${mb(peak.rss)} heapUsed=${mb(peak.heapUsed)} heapTotal=${mb(peak.heapTotal)} arrayBuffers=${mb(peak.arrayBuffers)} external=${mb(peak.external)}`,
  );
}
clearInterval(timer);
