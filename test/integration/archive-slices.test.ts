/**
 * The archive as jobs of its own (issue 28): a run's ingested files cut into
 * slices of ARCHIVE_FILES_PER_JOB by byte ranges of its file list, each slice
 * an `archive` job on the loader queue. A slice run again after an attempt
 * that died half way moves the rest and counts what that attempt moved: no
 * file moved twice, none lost, rejected files left in place.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds, type ArchiveResult, type RunContext, type RunFile } from '@musicflow/contracts';
import { createServiceContext, runStageWorker, type RunningWorker, type ServiceContext } from '@musicflow/flow';
import { loadedFilesSlices, writeRunFiles } from '@musicflow/lake';
import { loadStage } from '@musicflow/service-loader';
import { dirUrl, REDIS_URL, tempDir, testConfig } from '../helpers/env.ts';

const FILES = 30;
const PER_SLICE = 10;
/** Every tenth file was rejected: it stays in the streams folder. */
const rejected = (i: number) => i % 10 === 3;
const name = (i: number) => `sub/f-${String(i).padStart(2, '0')}.csv`;

describe('archive slices', () => {
  let work: string;
  let ctx: ServiceContext;
  let worker: RunningWorker;
  let events: QueueEvents;
  let run: RunContext;
  let filesUrl: string;

  beforeAll(async () => {
    work = await tempDir();
    ctx = createServiceContext(testConfig({ JOB_ATTEMPTS: '1', ARCHIVE_FILES_PER_JOB: String(PER_SLICE) }), 'test');
    worker = runStageWorker(loadStage, ctx);
    events = new QueueEvents(ctx.queues.queues.load.name, { connection: { url: REDIS_URL }, prefix: ctx.config.QUEUE_PREFIX });
    await events.waitUntilReady();
    const streams = dirUrl(path.join(work, 'streams'));
    run = {
      runId: `archive-${Date.now().toString(36)}`,
      trigger: 'test',
      startedAt: '2024-06-26T02:00:00.000Z',
      sources: { streams, users: 'file:///u.csv', songs: 'file:///s.csv' },
      lake: dirUrl(path.join(work, 'lake')),
      archive: dirUrl(path.join(work, 'archive')),
    };
    await fs.mkdir(path.join(work, 'streams', 'sub'), { recursive: true });
    const files: RunFile[] = [];
    for (let i = 0; i < FILES; i++) {
      await fs.writeFile(path.join(work, 'streams', name(i)), `user_id,track_id,listen_time\n${i},t,2024-06-25 10:00:00\n`);
      // A rejected file's reason quotes what a loaded file's line holds: the slices are cut without parsing lines.
      const status = rejected(i) ? { status: 'rejected' as const, reason: 'its rows say "status":"loaded"' } : { status: 'loaded' as const };
      files.push({ file: `${streams}${name(i)}`, ...status, rowsRead: 1, rowsValid: 1, rowsRejected: 0, duplicate: 0 });
    }
    // Given in batches of any size.
    filesUrl = await writeRunFiles(ctx.store, run, [files.slice(0, 7), [], files.slice(7)]);
  });
  afterAll(async () => {
    await worker?.close();
    await events?.close();
    await ctx?.close();
    await fs.rm(work, { recursive: true, force: true });
  });

  const slicesOf = async (url: string) => {
    const slices = [];
    for await (const slice of loadedFilesSlices(ctx.store, url, PER_SLICE)) slices.push(slice);
    return slices;
  };
  const archiveSlice = async (slice: number, range: { start: number; end: number; loaded: number }, attempt = '') => {
    const job = await ctx.queues.queues.load.add('archive', { run, filesUrl, slice, ...range }, { jobId: `${jobIds.archive(run.runId, slice)}${attempt}` });
    return (await job.waitUntilFinished(events)) as ArchiveResult;
  };

  it('cuts the loaded files into slices, and a slice whose earlier attempt died half way moves only the rest', async () => {
    const slices = await slicesOf(filesUrl);
    // 27 loaded files: 10, 10, 7; ranges of the list that meet end to end.
    expect(slices.map((s) => s.loaded)).toEqual([10, 10, 7]);
    expect(slices[1]!.start).toBe(slices[0]!.end);
    expect(slices[2]!.start).toBe(slices[1]!.end);

    // An attempt of slice 1 moved its first four files, then its worker died.
    const day = path.join(work, 'archive', '2024', '06', '26');
    const sliceOne = Array.from({ length: FILES }, (_, i) => i)
      .filter((i) => !rejected(i))
      .slice(PER_SLICE, 2 * PER_SLICE);
    await fs.mkdir(path.join(day, 'sub'), { recursive: true });
    for (const i of sliceOne.slice(0, 4)) await fs.rename(path.join(work, 'streams', name(i)), path.join(day, name(i)));

    const results = await Promise.all(slices.map((s, i) => archiveSlice(i, s)));
    expect(results.map(({ moved, movedBefore }) => ({ moved, movedBefore }))).toEqual([
      { moved: 10, movedBefore: 0 },
      { moved: 6, movedBefore: 4 },
      { moved: 7, movedBefore: 0 },
    ]);
    // Each loaded file once in the archive under its own name, unchanged; the rejected ones where they were.
    const archived = (await fs.readdir(path.join(day, 'sub'))).sort();
    expect(archived).toEqual(
      Array.from({ length: FILES }, (_, i) => i)
        .filter((i) => !rejected(i))
        .map((i) => path.basename(name(i))),
    );
    for (const file of archived) expect(await fs.readFile(path.join(day, 'sub', file), 'utf8')).toContain(`\n${Number(file.slice(2, 4))},t,`);
    expect((await fs.readdir(path.join(work, 'streams', 'sub'))).sort()).toEqual(['f-03.csv', 'f-13.csv', 'f-23.csv']);

    // A slice run once more (a retry after its result was lost) moves nothing and loses nothing.
    expect(await archiveSlice(2, slices[2]!, '-again')).toMatchObject({ moved: 0, movedBefore: 7 });
    expect((await fs.readdir(path.join(day, 'sub'))).sort()).toEqual(archived);
  });

  it('refuses a slice whose range does not hold the files it names', async () => {
    const [first] = await slicesOf(filesUrl);
    await expect(archiveSlice(9, { ...first!, loaded: 11 })).rejects.toThrow(/lists 10 ingested files, not 11/);
  });
});
