import { Readable } from 'node:stream';
import { setImmediate as turn } from 'node:timers/promises';
import pMap from 'p-map';
import {
  decodePartialHeader,
  KpiMerge,
  partialHeaderBytes,
  PARTIAL_PREFIX_BYTES,
  PARTIAL_VERSION,
  type EncodedPartial,
  type KpiTables,
  type PartialHeader,
} from '@musicflow/kpi';
import type { RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** A pass job's partial counts, for its date job's merge. */
export const KPI_PARTIAL: RunArtifact = {
  path: 'tmp/run=<run>/kpis/partial-<date>-pass<p>of<n>.kpip',
  format: "@musicflow/kpi's binary partial (partial.ts): a header with shard offsets, then track shards",
  version: PARTIAL_VERSION,
  writers: ['kpi-pass'],
  readers: ['kpi-date'],
};

/** Partials read at once in a merge. */
const READ_CONCURRENCY = 8;

/** Pass `pass` of `count`'s partial (KpiAccumulator.encodePartial), streamed shard by shard: never whole in memory. */
export async function writeKpiPartial(
  store: ObjectStore,
  run: RunContext,
  at: { listenDate: string; pass: number; count: number },
  partial: EncodedPartial,
): Promise<{ url: string; bytes: number }> {
  const url = LAKE_LAYOUT.kpiPartial(run.lake, run.runId, at.listenDate, at.pass, at.count);
  const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  function* chunks() {
    yield asBuffer(partial.header);
    for (const shard of partial.shards()) yield asBuffer(shard);
  }
  return { url, bytes: (await store.write(url, Readable.from(chunks(), { objectMode: false }))).size };
}

async function readKpiPartialHeader(store: ObjectStore, url: string): Promise<PartialHeader> {
  const headerBytes = partialHeaderBytes(await store.readBuffer(url, { start: 0, end: PARTIAL_PREFIX_BYTES }), url);
  return decodePartialHeader(await store.readBuffer(url, { start: 0, end: headerBytes }), url);
}

/**
 * The KPI rows of a date from its passes' partials (in pass order), merged
 * a group of track shards at a time: each group is one ranged read per
 * partial of at most about `groupBytes` in all, so the merge holds a group's
 * tracks and artists, not the date's.
 */
export async function mergeKpiPartials(store: ObjectStore, urls: readonly string[], groupBytes: number): Promise<KpiTables> {
  const headers = await pMap(urls, (url) => readKpiPartialHeader(store, url), { concurrency: READ_CONCURRENCY });
  const merge = new KpiMerge(headers);
  const bytesOf = (s: number, end: number) => headers.reduce((n, h) => n + h.shardOffsets[end]! - h.shardOffsets[s]!, 0);
  for (let s = 0; s < merge.shards;) {
    let end = s + 1;
    while (end < merge.shards && bytesOf(s, end + 1) <= groupBytes) end++;
    const first = s;
    const slices = await pMap(
      headers,
      (h, i) =>
        h.shardOffsets[end] === h.shardOffsets[first]
          ? Buffer.alloc(0)
          : store.readBuffer(urls[i]!, { start: h.headerBytes + h.shardOffsets[first]!, end: h.headerBytes + h.shardOffsets[end]! }),
      { concurrency: READ_CONCURRENCY },
    );
    merge.addGroup(slices);
    // Timers (the job's lock renewal) run between groups, even when the store answers synchronously (file://).
    await turn();
    s = end;
  }
  return merge.result();
}
