import type { RunContext, Segment } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readAllRecords, writeAllRecords, type RecordDecoder, type RecordEncoder } from './records.ts';

/**
 * A chunk's segments (the plan's packing of ranges and small files), read by
 * its validate job: the job's data names this object, so it has the same
 * size for a chunk of one file or of thousands.
 */
export const CHUNK_SEGMENTS: RunArtifact = {
  path: 'tmp/run=<run>/chunks/<chunk>.segments.bin',
  format:
    'binary records (records.ts), a Segment (@musicflow/contracts) each: u32 index, count; f64 start, end, first line; u8 gzip; text file id, file URL; u8 has header, then u32 fields and a text each',
  version: 3,
  writers: ['plan'],
  readers: ['validate'],
};

function encodeSegment(out: RecordEncoder, s: Segment): void {
  out.begin();
  out.u32(s.index);
  out.u32(s.count);
  out.f64(s.start);
  out.f64(s.end);
  out.f64(s.firstLine);
  out.u8(s.gzip ? 1 : 0);
  out.text(s.fileId);
  out.text(s.fileUrl);
  out.u8(s.header ? 1 : 0);
  if (s.header) {
    out.u32(s.header.length);
    for (const field of s.header) out.text(field);
  }
  out.end();
}

function decodeSegment(d: RecordDecoder): Segment {
  const index = d.u32();
  const count = d.u32();
  const start = d.count('start');
  const end = d.count('end');
  const firstLine = d.count('first line');
  const gzip = d.flag('gzip');
  const fileId = d.text();
  const fileUrl = d.text();
  let header: string[] | undefined;
  if (d.flag('has header')) {
    header = [];
    for (let n = d.u32(); n > 0; n--) header.push(d.text());
  }
  if (count < 1 || index >= count || end < start || firstLine < 1) d.refuse(`segment ${index} of ${count}, bytes ${start}-${end} from line ${firstLine}`);
  return { fileId, fileUrl, index, count, start, end, firstLine, header, gzip };
}

/** Writes chunk `chunkId`'s segments; returns their URL. */
export async function writeChunkSegments(store: ObjectStore, run: RunContext, chunkId: string, segments: readonly Segment[]): Promise<string> {
  const url = LAKE_LAYOUT.chunkSegments(run.lake, run.runId, chunkId);
  await writeAllRecords(store, url, segments, encodeSegment);
  return url;
}

export const readChunkSegments = (store: ObjectStore, url: string) => readAllRecords(store, url, decodeSegment);
