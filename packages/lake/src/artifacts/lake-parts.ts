import pMap from 'p-map';
import type { RunContext, Segment } from '@musicflow/contracts';
import { basename, joinUrl, moveOnce, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT, partFileName } from '../layout.ts';
import { PART_FORMAT_VERSION } from '../part-format.ts';
import { rewritePart, type PartEnrichment } from '../part-rewrite.ts';
import { LakePartWriter } from '../part-writer.ts';
import type { LakeTrackTable } from '../track-table.ts';
import type { RunArtifact } from './artifact.ts';

/** Lake parts: Parquet (part-writer.ts), versions in part-format.ts; staged by a transform, published by the run's commit, read by KPI jobs. */
export const LAKE_PARTS: Record<'staged' | 'published', RunArtifact> = {
  staged: {
    path: 'tmp/run=<run>/parts/listen_date=<date>/<file>[.part-<n>].parquet, pack+<chunk>.parquet',
    format: 'Parquet, LAKE_PARQUET_SCHEMA (part-writer.ts); its versions in part-format.ts',
    version: PART_FORMAT_VERSION,
    writers: ['transform'],
    readers: ['commit'],
  },
  published: {
    path: 'processed/listen_date=<date>/<file>[.part-<n>].parquet, pack+<chunk>.parquet',
    format: 'Parquet, LAKE_PARQUET_SCHEMA (part-writer.ts); its versions in part-format.ts',
    version: PART_FORMAT_VERSION,
    writers: ['commit', 'recompute'],
    readers: ['kpi-date', 'kpi-pass', 'recompute', 'catalogue'],
  },
};

/** The writer of one segment's staged parts (one per listen date). */
export const segmentPartsWriter = (store: ObjectStore, run: RunContext, segment: Pick<Segment, 'fileId' | 'index' | 'count'>, tracks: LakeTrackTable) =>
  new LakePartWriter(store, (date) => LAKE_LAYOUT.stagedPart(run.lake, run.runId, date, partFileName(segment.fileId, segment.index, segment.count)), tracks);

/** The writer of a chunk's pack of small files (one part per listen date, for all of them). */
export const packPartsWriter = (store: ObjectStore, run: RunContext, chunkId: string, tracks: LakeTrackTable) =>
  new LakePartWriter(store, (date) => LAKE_LAYOUT.stagedPart(run.lake, run.runId, date, LAKE_LAYOUT.packPartName(chunkId)), tracks);

/** The URLs of a listen date's published parts. */
export async function publishedPartsOf(store: ObjectStore, lake: string, listenDate: string): Promise<string[]> {
  const urls: string[] = [];
  for await (const obj of store.list(LAKE_LAYOUT.processedDate(lake, listenDate))) {
    if (obj.url.endsWith('.parquet')) urls.push(obj.url);
  }
  return urls;
}

/** Rewrites a published part joined with `enrich`'s catalogue (a recompute's re-enrich). */
export const reEnrichPart = (store: ObjectStore, run: RunContext, url: string, enrich: PartEnrichment) =>
  rewritePart(store, url, LAKE_LAYOUT.rewrittenPart(run.lake, run.runId, 're-enrich', url), { enrich });

export interface StagedPart {
  listenDate: string;
  url: string;
  rows: number;
}

/** Objects moved, deleted or rewritten at once: thousands of small files are mostly waiting on the store. */
const STORE_CONCURRENCY = 16;

/**
 * Moves accepted files' staged parts into `processed/listen_date=…/`, first
 * taking those files' earlier rows out of the dates they touch: parts an
 * earlier ingestion left under other names are deleted, packs holding them
 * are rewritten without them (repacked). `ingested` gives the accepted
 * files' ids, asked for only when a date holds parts of earlier runs. Safe
 * to repeat: a part already moved is skipped, a pack already rewritten holds
 * none of them. Returns the parts as published.
 */
export async function publishParts(
  store: ObjectStore,
  run: RunContext,
  staged: readonly StagedPart[],
  ingested: () => Promise<ReadonlySet<string>>,
): Promise<StagedPart[]> {
  const dates = [...new Set(staged.map((p) => p.listenDate))];
  const others = await pMap(
    dates,
    async (date) => {
      const fresh = new Set(staged.filter((p) => p.listenDate === date).map((p) => basename(p.url)));
      const urls: string[] = [];
      for await (const obj of store.list(LAKE_LAYOUT.processedDate(run.lake, date))) if (!fresh.has(basename(obj.url))) urls.push(obj.url);
      return urls;
    },
    { concurrency: STORE_CONCURRENCY },
  );
  const ids = others.some((urls) => urls.length) ? await ingested() : new Set<string>();
  const earlier = others.flat().filter((url) => LAKE_LAYOUT.isPack(basename(url)) || ids.has(LAKE_LAYOUT.fileIdOfPart(basename(url))));
  await pMap(
    earlier,
    async (url) => {
      if (!LAKE_LAYOUT.isPack(basename(url))) return store.delete(url);
      await rewritePart(store, url, LAKE_LAYOUT.rewrittenPart(run.lake, run.runId, 'repack', url), { drop: ids });
    },
    { concurrency: STORE_CONCURRENCY },
  );
  return pMap(
    staged,
    async (part) => {
      const target = joinUrl(LAKE_LAYOUT.processedDate(run.lake, part.listenDate), basename(part.url));
      await moveOnce(store, part.url, target);
      return { listenDate: part.listenDate, url: target, rows: part.rows };
    },
    { concurrency: STORE_CONCURRENCY },
  );
}
