import { segmentValidationSchema, type RunContext, type SegmentValidation } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readAllRecords, writeAllRecords, type RecordDecoder, type RecordEncoder } from './records.ts';

/** What validation found in each segment of a chunk (counts, reasons, quarantine), the validator's hand-off to the transformer. */
export const SEGMENT_VALIDATIONS: RunArtifact = {
  path: 'tmp/run=<run>/valid/<chunk>.validations.bin',
  format:
    'binary records (records.ts), a segment each: u32 index, count; f64 rows read, rows valid, events (its clean events in the hand-off to the transform); text file id, file URL; optional text: JSON of its findings (parse error, bound, header problem, reasons, quarantine), absent when none',
  version: 5,
  writers: ['validate'],
  readers: ['transform'],
};

/** A validation's findings: rare (a clean small file has none), so kept as JSON beside the counts. */
const findingsSchema = segmentValidationSchema
  .pick({ parseError: true, boundBroken: true, headerProblem: true, rejected: true, quarantineUrl: true })
  .partial();

/** A segment's findings as JSON, or none for a clean one (most segments). */
function findingsJson({ parseError, boundBroken, headerProblem, rejected, quarantineUrl }: SegmentValidation): string | undefined {
  const found = parseError !== undefined || boundBroken !== undefined || headerProblem !== undefined || quarantineUrl !== undefined || !isEmpty(rejected);
  return found ? JSON.stringify({ parseError, boundBroken, headerProblem, rejected, quarantineUrl }) : undefined;
}

/** Whether `record` has no key, without a list of its keys (12,500 segments a pack). */
function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

/**
 * A segment's validation as a record: counts and names without a JSON line
 * each. A chunk of small files is 12,500 of them, and as JSON lines the
 * transform spent 4-8 µs a line parsing and checking them (a throwaway
 * script, 12,500 lines, the first read of a process the slowest).
 */
function encodeSegmentValidation(out: RecordEncoder, v: SegmentValidation): void {
  out.begin();
  out.u32(v.index);
  out.u32(v.count);
  // f64: a `.gz` file's one segment may hold more rows than a u32 counts under a raised MAX_DECOMPRESSED_BYTES.
  out.f64(v.rowsRead);
  out.f64(v.rowsValid);
  out.f64(v.events);
  out.text(v.fileId);
  out.text(v.fileUrl);
  out.optionalText(findingsJson(v));
  out.end();
}

function decodeSegmentValidation(d: RecordDecoder): SegmentValidation {
  const index = d.u32();
  const count = d.u32();
  const rowsRead = d.count('rows read');
  const rowsValid = d.count('rows valid');
  const events = d.count('events');
  const fileId = d.text();
  const fileUrl = d.text();
  const findings = d.optionalText();
  const validation: SegmentValidation = { fileId, fileUrl, index, count, rowsRead, rowsValid, rejected: {}, events };
  if (findings !== undefined) {
    let value: unknown;
    try {
      value = JSON.parse(findings);
    } catch (err) {
      d.refuse(`its findings are not JSON: ${(err as Error).message}`);
    }
    const parsed = findingsSchema.safeParse(value);
    if (!parsed.success) d.refuse(`its findings: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`);
    const { parseError, boundBroken, headerProblem, rejected, quarantineUrl } = parsed.data;
    Object.assign(validation, { parseError, boundBroken, headerProblem, rejected: rejected ?? {}, quarantineUrl });
  }
  if (count < 1 || index >= count || rowsValid > rowsRead) d.refuse(`segment ${index} of ${count}, ${rowsValid} of ${rowsRead} rows valid`);
  return validation;
}

/** Writes chunk `chunkId`'s segment validations; returns their URL. */
export async function writeSegmentValidations(
  store: ObjectStore,
  run: RunContext,
  chunkId: string,
  validations: readonly SegmentValidation[],
): Promise<string> {
  const url = LAKE_LAYOUT.segmentValidations(run.lake, run.runId, chunkId);
  await writeAllRecords(store, url, validations, encodeSegmentValidation);
  return url;
}

/** A chunk's segment validations; what is not such records is refused, naming `url`, the record and the byte. */
export const readSegmentValidations = (store: ObjectStore, url: string) => readAllRecords(store, url, decodeSegmentValidation);
