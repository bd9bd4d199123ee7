import { json } from 'node:stream/consumers';
import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import type { Config, Logger } from '@musicflow/config';
import {
  extractResultSchema,
  jobIds,
  kpiDateResultSchema,
  kpiPartialSchema,
  kpiPassResultSchema,
  transformResultSchema,
  type KpiDateJob,
  type KpiDateResult,
  type KpiPassJob,
  type KpiPassResult,
  type KpiRecomputeJob,
  type KpiResult,
  type KpiRunJob,
  type RunContext,
} from '@musicflow/contracts';
import { QUARANTINE_HEADER } from '@musicflow/ingest';
import { KpiAccumulator, userPassOf, type KpiTables } from '@musicflow/kpi';
import { LAKE_LAYOUT, openLakePart, type LakePartReader } from '@musicflow/lake';
import { basename, joinUrl, readConcatenated, type ObjectStore } from '@musicflow/storage';
import { kpiRowsToCsv } from '@musicflow/warehouse';
import { jobOptions, type PipelineQueues, type ServiceContext } from '@musicflow/flow';
import { biggestDatesFirst, buildReport, decideFiles, type FileOutcome } from './outcome.ts';
import { createRecomputeKpiProcessor } from './recompute.ts';

/**
 * The KPI queue's three jobs. The run's KPI job, once every chunk is done,
 * decides each file, publishes accepted files' parts to the lake and adds one
 * date job per listen date they touch; date jobs compute a date's KPIs from
 * all of that date's parts (SPEC 3b, 4.3), in parallel on any KPI worker, so
 * late and re-delivered files give the same rows as one run over everything.
 * A date too big for one job is split into pass jobs over shares of its
 * users, which run in parallel too; the date job merges what they counted.
 * The run's job then runs again and combines the dates for the loader.
 */
export function createKpiProcessor(ctx: ServiceContext) {
  const runKpis = createRunKpiProcessor(ctx);
  const dateKpis = createDateKpiProcessor(ctx);
  const passKpis = createPassKpiProcessor(ctx);
  const recomputeKpis = createRecomputeKpiProcessor(ctx);
  return (
    job: Job,
    data: KpiRunJob | KpiDateJob | KpiPassJob | KpiRecomputeJob,
    log: Logger,
    token: string | undefined,
  ): Promise<KpiResult | KpiDateResult | KpiPassResult> =>
    'pass' in data
      ? passKpis(job, data, log)
      : 'listenDate' in data
        ? dateKpis(job, data, log, token)
        : 'recompute' in data
          ? recomputeKpis(job, data, log, token)
          : runKpis(job, data, log, token);
}

function createRunKpiProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, data: KpiRunJob, log: Logger, token: string | undefined): Promise<KpiResult> => {
    const { run } = data;
    const failures = await job.getIgnoredChildrenFailures();
    if (Object.keys(failures).length) {
      const detail = Object.entries(failures).map(([key, reason]) => `${key.split(':').pop()}: ${reason}`);
      throw new UnrecoverableError(`${detail.length} step(s) failed after retries: ${detail.join('; ')}`);
    }
    let values = await job.getChildrenValues();
    const childrenOf = (stage: 'extract' | 'transform' | 'kpi') =>
      Object.entries(values)
        .filter(([key]) => key.startsWith(`${queues.queueKey(stage)}:`))
        .map(([, value]) => value);
    const extract = extractResultSchema.parse(childrenOf('extract')[0]);
    const files = decideFiles(childrenOf('transform').map((v) => transformResultSchema.parse(v)), config.REJECT_THRESHOLD);

    let dates = data.dates;
    if (!dates) {
      const startedAt = Date.now();
      const accepted = files.filter((f) => f.rejectedReasons.length === 0);
      await gatherQuarantine(store, run, files);
      const published = await publishParts(store, run, accepted);
      // Redis' clock orders concurrent runs: a later snapshot of a date's parts never loses to an earlier one.
      const [seconds, micros] = await queues.connection.time();
      const listenDates = [...new Set(published.map((p) => p.listenDate))].sort();
      dates = { snapshotSeq: Number(seconds) * 1_000_000 + Number(micros), startedAt, listenDates };
      // Jobs first, then the step: a retry after a crash in between adds the same jobs again (fixed ids), harmlessly.
      await addDateJobs(config, queues, run, job, published);
      await job.updateData({ ...data, dates });
      await job.updateProgress({ percent: 20, rows: 0 });
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
    }

    // Read again when the date jobs were added by this very call (and were all done already, or there are none).
    if (!data.dates) values = await job.getChildrenValues();
    const results = childrenOf('kpi').map((v) => kpiDateResultSchema.parse(v)).sort((a, b) => a.listenDate.localeCompare(b.listenDate));
    const missing = dates.listenDates.filter((d) => !results.some((r) => r.listenDate === d));
    if (missing.length) throw new Error(`KPIs of ${missing.join(', ')} are missing although every date job is done`);
    const duplicate = results.reduce((n, r) => n + r.duplicate, 0);
    log.info({ dates: dates.listenDates, duplicate }, 'KPIs computed');

    const report = buildReport(run, extract, files, { duplicate, dates: dates.listenDates, kpiStartedAt: dates.startedAt });
    report.kpiRows = { genre: results.reduce((n, r) => n + r.genreRows, 0), hourly: results.reduce((n, r) => n + r.hourlyRows, 0) };
    await job.updateProgress({ percent: 100, rows: results.reduce((n, r) => n + r.rows, 0) });
    return {
      startedAt: dates.startedAt,
      finishedAt: Date.now(),
      report,
      genreUrls: results.map((r) => r.genreUrl),
      hourlyUrls: results.map((r) => r.hourlyUrl),
      snapshotSeq: dates.snapshotSeq,
      dateEvents: Object.fromEntries(results.map((r) => [r.listenDate, r.events ?? 0])),
    };
  };
}

/** One job per date under the run's KPI job, biggest first; fixed ids, so a retry does not add them twice. */
async function addDateJobs(config: Config, queues: PipelineQueues, run: RunContext, parent: Job, published: PublishedPart[]) {
  const opts = jobOptions(config);
  await queues.queues.kpi.addBulk(
    biggestDatesFirst(published).map((listenDate) => ({
      // Named after their stage, so run progress counts them with it.
      name: 'kpi',
      data: { run, listenDate, ours: published.filter((p) => p.listenDate === listenDate).map((p) => p.url) } satisfies KpiDateJob,
      opts: {
        ...opts,
        jobId: jobIds.kpiDate(run.runId, listenDate),
        parent: { id: parent.id!, queue: queues.queueKey('kpi') },
        failParentOnFailure: true,
      },
    })),
  );
}

function createDateKpiProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, data: KpiDateJob, log: Logger, token: string | undefined): Promise<KpiDateResult> => {
    if (data.passes) return mergePasses(job, { ...data, passes: data.passes }, log);
    const { run, listenDate } = data;
    const startedAt = Date.now();
    const parts = await openDateParts(store, run.lake, listenDate, new Set(data.ours));
    const rows = parts.reduce((n, p) => n + p.reader.rows, 0);
    const count = Math.ceil(rows / config.KPI_EVENTS_PER_PASS);
    if (count > 1) {
      const passes = { count, rows, startedAt };
      // Jobs first, then the step: a retry after a crash in between adds the same jobs again (fixed ids), harmlessly.
      await addPassJobs(config, queues, job, { run, listenDate, ours: data.ours, parts: parts.map((p) => p.url), count });
      await job.updateData({ ...data, passes } satisfies KpiDateJob);
      log.info({ listenDate, rows, passes: count }, 'date split into passes');
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
      return mergePasses(job, { ...data, passes }, log);
    }
    const accumulator = new KpiAccumulator({ expectedPlaysPerDate: rows });
    const { duplicate, events } = await accumulatePass(parts, accumulator, 0, 1);
    return writeDateKpis(job, { run, listenDate, startedAt, tables: accumulator.result(), duplicate, rows, passes: 1, events }, log);
  };

  /** The date's KPIs from its pass jobs' partials, once they are all done. */
  async function mergePasses(job: Job, data: KpiDateJob & { passes: NonNullable<KpiDateJob['passes']> }, log: Logger): Promise<KpiDateResult> {
    const { count, rows, startedAt } = data.passes;
    const results = Object.values(await job.getChildrenValues())
      .map((v) => kpiPassResultSchema.parse(v))
      .filter((r) => r.count === count);
    const missing = Array.from({ length: count }, (_, p) => p).filter((p) => !results.some((r) => r.pass === p));
    if (missing.length) throw new Error(`${data.listenDate}: pass(es) ${missing.join(', ')} missing although every pass job is done`);
    const accumulator = new KpiAccumulator();
    for (const r of results.sort((a, b) => a.pass - b.pass)) {
      const parsed = kpiPartialSchema.safeParse(await json(await store.read(r.partialUrl)));
      if (!parsed.success) throw new UnrecoverableError(`${r.partialUrl}: not a KPI partial: ${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message}`);
      accumulator.addPartial(parsed.data);
    }
    const duplicate = results.reduce((n, r) => n + r.duplicate, 0);
    const events = results.reduce((n, r) => n + (r.events ?? 0), 0);
    return writeDateKpis(job, { run: data.run, listenDate: data.listenDate, startedAt, tables: accumulator.result(), duplicate, rows, passes: count, events }, log);
  }

  async function writeDateKpis(
    job: Job,
    date: { run: RunContext; listenDate: string; startedAt: number; tables: KpiTables; duplicate: number; rows: number; passes: number; events: number },
    log: Logger,
  ): Promise<KpiDateResult> {
    const { run, listenDate, tables, duplicate, rows, passes } = date;
    const tmp = LAKE_LAYOUT.runTemp(run.lake, run.runId);
    const csv = kpiRowsToCsv(tables);
    const genreUrl = joinUrl(tmp, 'kpis', `genre-${listenDate}.csv`);
    const hourlyUrl = joinUrl(tmp, 'kpis', `hourly-${listenDate}.csv`);
    await store.write(genreUrl, csv.genre);
    await store.write(hourlyUrl, csv.hourly);
    log.info({ listenDate, rows, passes, duplicate, genreRows: tables.genre.length, hourlyRows: tables.hourly.length }, 'date KPIs computed');
    // Pass jobs report the rows they counted; a date job that merged them adds none.
    await job.updateProgress({ percent: 100, rows: passes > 1 ? 0 : rows });
    return {
      startedAt: date.startedAt,
      finishedAt: Date.now(),
      listenDate,
      genreUrl,
      hourlyUrl,
      genreRows: tables.genre.length,
      hourlyRows: tables.hourly.length,
      duplicate,
      rows,
      passes,
      events: date.events,
    };
  }
}

/** One job per pass under the date's job; fixed ids, so a retry does not add them twice. */
async function addPassJobs(config: Config, queues: PipelineQueues, parent: Job, pass: Omit<KpiPassJob, 'pass'>) {
  const opts = jobOptions(config);
  await queues.queues.kpi.addBulk(
    Array.from({ length: pass.count }, (_, p) => ({
      name: 'kpi',
      data: { ...pass, pass: p } satisfies KpiPassJob,
      opts: {
        ...opts,
        jobId: jobIds.kpiPass(pass.run.runId, pass.listenDate, p, pass.count),
        parent: { id: parent.id!, queue: queues.queueKey('kpi') },
        failParentOnFailure: true,
      },
    })),
  );
}

function createPassKpiProcessor({ store }: ServiceContext) {
  return async (job: Job, { run, listenDate, parts, ours, pass, count }: KpiPassJob, log: Logger): Promise<KpiPassResult> => {
    const startedAt = Date.now();
    const readers = await openParts(store, parts, new Set(ours));
    const rows = readers.reduce((n, p) => n + p.reader.rows, 0);
    const accumulator = new KpiAccumulator({ expectedPlaysPerDate: Math.ceil(rows / count) });
    const counted = await accumulatePass(readers, accumulator, pass, count);
    const partialUrl = joinUrl(LAKE_LAYOUT.runTemp(run.lake, run.runId), 'kpis', `partial-${listenDate}-pass${pass}.json`);
    await store.write(partialUrl, JSON.stringify(accumulator.toPartial()));
    log.info({ listenDate, pass, count, ...counted }, 'pass counted');
    await job.updateProgress({ percent: 100, rows: counted.rows });
    return { startedAt, finishedAt: Date.now(), pass, count, partialUrl, ...counted };
  };
}

/** One CSV per source file under `quarantine/run=<id>/`, gathered from its chunks. */
async function gatherQuarantine(store: ObjectStore, run: RunContext, files: FileOutcome[]): Promise<void> {
  for (const file of files) {
    const urls = file.chunks.map((c) => c.validation.quarantineUrl).filter((u): u is string => !!u).sort();
    if (!urls.length) continue;
    const body = readConcatenated(store, urls, `${QUARANTINE_HEADER.join(',')}\n`);
    await store.write(LAKE_LAYOUT.quarantine(run.lake, run.runId, file.fileId), body);
  }
}

interface PublishedPart {
  listenDate: string;
  url: string;
  rows: number;
}

/**
 * Moves accepted files' staged parts into `processed/listen_date=…/`, first
 * removing parts an earlier ingestion of the same file left under other names.
 * Safe to repeat: a part already moved is skipped.
 */
async function publishParts(store: ObjectStore, run: RunContext, accepted: FileOutcome[]): Promise<PublishedPart[]> {
  const published: PublishedPart[] = [];
  const existing = new Map<string, string[]>();
  const listDate = async (date: string) => {
    let names = existing.get(date);
    if (!names) {
      names = [];
      for await (const obj of store.list(LAKE_LAYOUT.processedDate(run.lake, date))) names.push(obj.url);
      existing.set(date, names);
    }
    return names;
  };
  for (const file of accepted) {
    const parts = file.chunks.flatMap((c) => c.parts);
    for (const date of new Set(parts.map((p) => p.listenDate))) {
      const fresh = new Set(parts.filter((p) => p.listenDate === date).map((p) => basename(p.url)));
      for (const url of await listDate(date)) {
        const name = basename(url);
        if (LAKE_LAYOUT.isPartOf(name, file.fileId) && !fresh.has(name)) await store.delete(url);
      }
    }
    for (const part of parts) {
      const target = joinUrl(LAKE_LAYOUT.processedDate(run.lake, part.listenDate), basename(part.url));
      if (await store.head(part.url)) await store.move(part.url, target);
      else if (!(await store.head(target))) throw new Error(`staged part ${part.url} is missing and was never published`);
      published.push({ listenDate: part.listenDate, url: target, rows: part.rows });
    }
  }
  return published;
}

/** What every pass reads besides the tracks: who played when, and whether the row carries catalogue info. */
const PLAY_COLUMNS = ['user_id', 'listen_time', 'track_name'] as const;
/** The rest of a track's catalogue info, read only for row groups that bring a track without it. */
const TRACK_INFO_COLUMNS = ['artists', 'genres', 'popularity', 'duration_ms'] as const;

interface DatePart {
  url: string;
  /** A part this run published: its events already known count as duplicates. */
  counting: boolean;
  reader: LakePartReader;
}

/**
 * Every part of a date in the lake, footers read. Other files' parts go
 * first, so `duplicate` counts this run's events that were already known.
 */
async function openDateParts(store: ObjectStore, lake: string, date: string, ours: Set<string>): Promise<DatePart[]> {
  const urls: string[] = [];
  for await (const obj of store.list(LAKE_LAYOUT.processedDate(lake, date))) {
    if (obj.url.endsWith('.parquet')) urls.push(obj.url);
  }
  urls.sort((a, b) => Number(ours.has(a)) - Number(ours.has(b)) || a.localeCompare(b));
  return openParts(store, urls, ours);
}

/** `urls` opened in their order; `ours` are the ones whose known events count as duplicates. */
function openParts(store: ObjectStore, urls: string[], ours: ReadonlySet<string>): Promise<DatePart[]> {
  return Promise.all(urls.map(async (url) => ({ url, counting: ours.has(url), reader: await openLakePart(store, url) })));
}

/**
 * Adds the plays of the users in pass `pass` of `passes` (all of them for
 * one pass) to `accumulator`; returns how many events they had, how many were
 * distinct (`events`), and how many of the counting parts' events were duplicates. Every pass gives every track its catalogue info from the
 * first row that has it, whoever played it, so all passes agree on it.
 */
async function accumulatePass(parts: DatePart[], accumulator: KpiAccumulator, pass: number, passes: number) {
  let duplicate = 0;
  let rows = 0;
  let events = 0;
  const internTrack = (trackId: string) => accumulator.internTrack(trackId);
  // Per row of the group at hand: whether its user is in this pass.
  let inPass = new Uint8Array(0);
  for (const { counting, reader } of parts) {
    for (let g = 0; g < reader.rowGroups; g++) {
      const { rows: n, user_id, listen_time, track_name } = await reader.readGroup(g, PLAY_COLUMNS);
      const tracks = await reader.readTrackIndexes(g, internTrack);
      if (inPass.length < n) inPass = new Uint8Array(n);
      let lacksInfo = false;
      for (let i = 0; i < n; i++) {
        inPass[i] = passes === 1 || userPassOf(user_id[i]!, passes) === pass ? 1 : 0;
        if (track_name[i] != null && accumulator.needsTrackInfo(tracks[i]!)) lacksInfo = true;
      }
      if (lacksInfo) {
        const info = await reader.readGroup(g, TRACK_INFO_COLUMNS);
        for (let i = 0; i < n; i++) {
          const t = tracks[i]!;
          const name = track_name[i];
          // Every event of a track carries the same enrichment: split it once per track.
          if (name != null && accumulator.needsTrackInfo(t)) {
            accumulator.setTrackInfo(t, {
              name,
              artists: info.artists[i] ? info.artists[i]!.split(';') : [],
              genres: info.genres[i] ? info.genres[i]!.split(';') : [],
              durationMs: info.duration_ms[i] ?? 0,
              popularity: info.popularity[i] ?? 0,
            });
          }
        }
      }
      for (let i = 0; i < n; i++) {
        if (!inPass[i]) continue;
        rows++;
        if (accumulator.addPlay(user_id[i]!, tracks[i]!, listen_time[i]!, track_name[i] != null)) events++;
        else if (counting) duplicate++;
      }
    }
  }
  return { rows, duplicate, events };
}
