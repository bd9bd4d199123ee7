import { Readable } from 'node:stream';
import pMap from 'p-map';
import type { RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import { openLakePart, type LakePartReader } from '../part-reader.ts';
import type { RunArtifact } from './artifact.ts';

/**
 * A KPI date's parts as its date job opened them, for its pass jobs: a pass
 * opens every part from its tail here (page index and footer) instead of a
 * HEAD and a tail read per part, so a date's footers are read from the lake
 * once, and a pass job's data does not grow with the date's parts.
 */
export const DATE_PARTS: RunArtifact = {
  path: 'tmp/run=<run>/kpis/parts-<date>.bin',
  format: 'per part, in reading order: u32 n, n bytes of JSON (url, counting, file, size, tail start), u32 m, the last m bytes of the part',
  version: 1,
  writers: ['kpi-date'],
  readers: ['kpi-pass'],
};

/** A part of a date as a KPI pass reads it. */
export interface DatePart {
  url: string;
  /** The part's one source file; undefined for a pack, whose rows say theirs (`source_file`). */
  fileId: string | undefined;
  /** A part this run published: its events already known count as duplicates. */
  counting: boolean;
  reader: LakePartReader;
}

interface DatePartEntry {
  url: string;
  counting: boolean;
  file?: string;
  size: number;
  start: number;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** Parts whose tails are read at once when the date job writes them. */
const TAIL_CONCURRENCY = 16;

/** `parts` (opened, in the order passes read them) for the date's passes; each part's tail is read once more, here. */
export async function writeDateParts(store: ObjectStore, run: RunContext, listenDate: string, parts: readonly DatePart[]): Promise<string> {
  const url = LAKE_LAYOUT.kpiDateParts(run.lake, run.runId, listenDate);
  const tails = await pMap(parts, (p) => p.reader.tail(), { concurrency: TAIL_CONCURRENCY });
  function* records() {
    for (const [i, part] of parts.entries()) {
      const tail = tails[i]!;
      const entry: DatePartEntry = { url: part.url, counting: part.counting, file: part.fileId, size: tail.size, start: tail.start };
      const json = Buffer.from(JSON.stringify(entry));
      yield Buffer.concat([u32(json.length), json, u32(tail.bytes.length), tail.bytes]);
    }
  }
  await store.write(url, Readable.from(records(), { objectMode: false }));
  return url;
}

/** The date's parts as its date job wrote them, opened from their tails: no read of any part's footer. */
export async function readDateParts(store: ObjectStore, run: RunContext, listenDate: string): Promise<DatePart[]> {
  const url = LAKE_LAYOUT.kpiDateParts(run.lake, run.runId, listenDate);
  const bytes = await store.readBuffer(url);
  const parts: Promise<DatePart>[] = [];
  for (let at = 0; at < bytes.length;) {
    const jsonLength = bytes.readUInt32LE(at);
    const entry = JSON.parse(bytes.toString('utf8', at + 4, at + 4 + jsonLength)) as DatePartEntry;
    at += 4 + jsonLength;
    const tailLength = bytes.readUInt32LE(at);
    const tail = { size: entry.size, start: entry.start, bytes: bytes.subarray(at + 4, at + 4 + tailLength) };
    at += 4 + tailLength;
    parts.push(openLakePart(store, entry.url, tail).then((reader) => ({ url: entry.url, fileId: entry.file, counting: entry.counting, reader })));
  }
  if (!parts.length) throw new Error(`${url} lists no parts: the date job writes it only for a date with parts`);
  return Promise.all(parts);
}
