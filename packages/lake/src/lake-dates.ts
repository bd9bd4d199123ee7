import type { ObjectInfo, ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from './layout.ts';

/** Listen dates from `from` to `to` (both included; no `to`: every date from `from` on), only those of `dates` when given. */
export interface LakeDateRange {
  from: string;
  to?: string;
  dates?: string[];
}

/** The lake's parts of the listen dates in the range, by URL. */
export async function lakePartsIn(store: ObjectStore, lake: string, range: LakeDateRange): Promise<(ObjectInfo & { listenDate: string })[]> {
  const parts: (ObjectInfo & { listenDate: string })[] = [];
  const only = range.dates && new Set(range.dates);
  for await (const obj of store.list(LAKE_LAYOUT.processed(lake))) {
    const listenDate = LAKE_LAYOUT.listenDateOfPart(obj.url);
    if (listenDate && listenDate >= range.from && (!range.to || listenDate <= range.to) && (!only || only.has(listenDate))) parts.push({ ...obj, listenDate });
  }
  return parts.sort((a, b) => a.url.localeCompare(b.url));
}

/** The listen dates with parts in the lake, within the range, in order. */
export async function lakeDatesIn(store: ObjectStore, lake: string, range: LakeDateRange): Promise<string[]> {
  return [...new Set((await lakePartsIn(store, lake, range)).map((p) => p.listenDate))].sort();
}
