/**
 * npx tsx bench/csv-compare.ts [--events 1000000] [--rounds 2]
 *
 * The validator's loop over one stream file, csv-parse against the byte-level
 * reader, side by side in one process (A B A B ...): reading only (records
 * counted), and reading + the SPEC 2.1 row rules + the clean-events hand-off
 * (to a sink). Prints wall and CPU time (user + system) per run.
 */
import { createReadStream } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { csvByteBatches, csvRecordBatches, StreamRowChecker, validateStreamRow } from '@musicflow/ingest';
import { CleanEventsWriter } from '@musicflow/lake';
import { generate } from './generate.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    events: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '2' },
    'data-root': { type: 'string', default: path.join(os.tmpdir(), 'musicflow-bench') },
  },
});

const sink = () => new Writable({ write: (_chunk, _enc, done) => done() });

async function countCsvParse(file: string): Promise<number> {
  let n = 0;
  for await (const { records } of csvRecordBatches(createReadStream(file))) n += records.length;
  return n;
}

async function countBytes(file: string): Promise<number> {
  let n = 0;
  for await (const batch of csvByteBatches(createReadStream(file))) n += batch.records;
  return n;
}

/** The validator's loop before the byte reader (csv-parse records, validateStreamRow, add by string). */
async function validateCsvParse(file: string): Promise<number> {
  const clean = new CleanEventsWriter(sink());
  let valid = 0;
  let header = true;
  for await (const { records } of csvRecordBatches(createReadStream(file))) {
    for (const fields of records) {
      if (header) {
        header = false;
        continue;
      }
      const row = validateStreamRow(fields[0] ?? '', fields[1] ?? '', fields[2] ?? '');
      if (row.ok) {
        valid++;
        const draining = clean.add(row.userId, row.trackId, row.listenTime);
        if (draining) await draining;
      }
    }
  }
  await clean.end();
  return valid;
}

/** The validator's loop now. */
async function validateBytes(file: string): Promise<number> {
  const clean = new CleanEventsWriter(sink());
  const rows = new StreamRowChecker(0, 1, 2, clean);
  let valid = 0;
  let header = true;
  for await (const batch of csvByteBatches(createReadStream(file))) {
    for (let r = 0; r < batch.records; r++) {
      if (header) {
        header = false;
        continue;
      }
      if (!rows.check(batch, r)) {
        valid++;
        const draining = clean.addIndexed(rows.userId, rows.trackIndex, rows.listenTime);
        if (draining) await draining;
      }
    }
  }
  await clean.end();
  return valid;
}

async function timed(name: string, run: () => Promise<number>): Promise<void> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const n = await run();
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${name.padEnd(28)} ${wall.toFixed(2).padStart(6)} s wall ${((cpu.user + cpu.system) / 1e6).toFixed(2).padStart(6)} s CPU  (${n} rows)`);
}

async function main(): Promise<void> {
  const data = await generate({ events: Number(values.events), files: 1, root: values['data-root'], sampleDir: path.join(REPO, 'data', 'sample') });
  const file = data.streamFiles[0]!;
  console.log(`${file}: ${data.events} events`);
  for (let round = 1; round <= Number(values.rounds); round++) {
    console.log(`round ${round}`);
    await timed('read: csv-parse', () => countCsvParse(file));
    await timed('read: byte reader', () => countBytes(file));
    await timed('validate: csv-parse', () => validateCsvParse(file));
    await timed('validate: byte reader', () => validateBytes(file));
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
