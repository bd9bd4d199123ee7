/**
 * npm run build && node --max-old-space-size=256 --max-semi-space-size=8 --initial-old-space-size=64 --import tsx bench/validate-job.ts
 *   [--events 1000000] [--files 100000] [--chunk-files 12500] [--rounds 4] [--data-root DIR]
 *
 * (the packages' compiled `dist/`, as workers run them; `--conditions=@musicflow/source` runs their sources)
 *
 * One validate job over a pack of small stream files (the first `--chunk-files` of the bench's generated
 * day of `--files` files), run `--rounds` times in this process with the validator's own processor, a
 * real object store and Redis: each round's wall time and CPU (user, system) per file. The first round
 * is what a worker's first pack costs (its code not yet compiled by V8's optimizing tiers); the later
 * ones what a warm worker pays. Without the other worker, the plan and the run's other jobs beside it.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { loadConfig } from '@musicflow/config';
import type { ChunkRef, RunContext, Segment, ValidateResult } from '@musicflow/contracts';
import { createServiceContext } from '@musicflow/flow';
import { writeChunkSegments } from '@musicflow/lake';
import { validateStage } from '@musicflow/service-validator';
import { generate } from './generate.ts';

const REPO = fileURLToPath(new URL('../', import.meta.url));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '1000000' },
      files: { type: 'string', default: '100000' },
      'chunk-files': { type: 'string', default: '12500' },
      rounds: { type: 'string', default: '4' },
      'data-root': { type: 'string', default: path.join(os.tmpdir(), 'musicflow-bench') },
    },
  });
  const [events, files, chunkFiles, rounds] = [values.events, values.files, values['chunk-files'], values.rounds].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  // The same cache as `npm run bench`: a day it generated is reused.
  const data = await generate({ events, files, root: values['data-root'], sampleDir: path.join(REPO, 'data', 'sample') });
  const picked = data.streamFiles.slice(0, chunkFiles);
  const streams = pathToFileURL(path.dirname(picked[0]!)).href + '/';
  const lake = await fs.mkdtemp(path.join(os.tmpdir(), 'musicflow-validate-job-'));
  const config = loadConfig({ ...process.env, STREAMS_URL: streams, LAKE_URL: pathToFileURL(lake).href + '/', LOG_LEVEL: 'warn' });
  const ctx = createServiceContext(config, 'bench-validate-job');
  try {
    const run: RunContext = {
      runId: `bench-validate-${Date.now()}`,
      trigger: 'bench',
      kind: 'ingest',
      startedAt: new Date().toISOString(),
      sources: { streams, users: config.USERS_URL, songs: config.SONGS_URL },
      lake: config.LAKE_URL,
      archive: config.ARCHIVE_URL,
    };
    // Small files as the plan packs them from their listing entries: whole, one segment each, header left to the validator.
    const segments: Segment[] = await Promise.all(
      picked.map(async (file) => ({
        fileId: path.basename(file),
        fileUrl: pathToFileURL(file).href,
        index: 0,
        count: 1,
        start: 0,
        end: (await fs.stat(file)).size,
        firstLine: 1,
        gzip: false,
      })),
    );
    const validate = validateStage.createProcessors(ctx).validate;
    const job = { id: 'bench-validate-job', updateProgress: async () => undefined } as unknown as Parameters<typeof validate>[0];
    console.log(`one validate job of ${segments.length} files (${data.dir}), ${rounds} rounds in one process`);
    for (let round = 1; round <= rounds; round++) {
      // Each round reads its segments from the lake afresh, as a job does.
      const chunkId = `bench${String(round).padStart(12, '0')}`;
      const segmentsUrl = await writeChunkSegments(ctx.store, run, chunkId, segments);
      const chunk: ChunkRef = { chunkId, segmentsUrl, segments: segments.length, bytes: segments.reduce((n, s) => n + s.end, 0) };
      const cpu = process.cpuUsage();
      const started = performance.now();
      const result = (await validate(job, { run, chunk }, ctx.logger, undefined)) as ValidateResult;
      const wall = performance.now() - started;
      const { user, system } = process.cpuUsage(cpu);
      if (result.segments !== segments.length) throw new Error(`round ${round} validated ${result.segments} segments of ${segments.length}`);
      console.log(
        `round ${round}: ${wall.toFixed(0)} ms, user ${(user / segments.length).toFixed(1)} µs a file, system ${(system / segments.length).toFixed(1)} µs a file`,
      );
    }
  } finally {
    await ctx.close();
    await fs.rm(lake, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.stack : err);
  process.exit(1);
});
