/**
 * node --max-old-space-size=256 --import tsx bench/kpi-pass.ts --lake DIR --date YYYY-MM-DD [--passes N] [--pass P]
 *
 * One KPI pass job's work over a kept bench lake (`npm run bench -- --keep`),
 * in this process: time, CPU and memory (peak RSS, heap, array buffers)
 * sampled every 10 ms, to tune the KPI stage without a whole run.
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { createObjectStore } from '@musicflow/storage';
import { countPass, openDateParts } from '../services/kpi/src/date-pass.ts';

const { values } = parseArgs({
  options: { lake: { type: 'string' }, date: { type: 'string' }, passes: { type: 'string', default: '1' }, pass: { type: 'string', default: '0' } },
});
if (!values.lake || !values.date) throw new Error('usage: --lake DIR --date YYYY-MM-DD [--passes N] [--pass P]');
const passes = Number(values.passes);
const pass = Number(values.pass);
const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
const peak = { rss: 0, heapUsed: 0, heapTotal: 0, arrayBuffers: 0, external: 0 };
const sample = () => {
  const m = process.memoryUsage();
  for (const k of Object.keys(peak) as (keyof typeof peak)[]) peak[k] = Math.max(peak[k], m[k]);
};
const timer = setInterval(sample, 10);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const parts = await openDateParts(store, `${pathToFileURL(values.lake).href}/`, values.date, new Set());
const { accumulator, ...counted } = await countPass(parts, pass, passes);
const partial = accumulator.encodePartial();
let partialBytes = partial.header.length;
for (const shard of partial.shards()) partialBytes += shard.length;
const ms = performance.now() - t0;
sample();
clearInterval(timer);
const cpu = process.cpuUsage(cpu0);
const mb = (n: number) => (n / 2 ** 20).toFixed(0);
console.log(
  `pass ${pass}/${passes}: rows=${counted.rows} read=${counted.rowsRead} events=${counted.events} ms=${ms.toFixed(0)} cpu_ms=${((cpu.user + cpu.system) / 1000).toFixed(0)}` +
    ` tracks=${accumulator.tracks} partial_kb=${(partialBytes / 1024).toFixed(0)} peak_mb rss=${mb(peak.rss)} heapUsed=${mb(peak.heapUsed)} heapTotal=${mb(peak.heapTotal)} arrayBuffers=${mb(peak.arrayBuffers)} external=${mb(peak.external)}`,
);
