import { segmentValidationSchema, type RunContext, type SegmentValidation } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** What validation found in each segment of a chunk (counts, reasons, quarantine), the validator's hand-off to the transformer. */
export const SEGMENT_VALIDATIONS: RunArtifact = {
  path: 'tmp/run=<run>/valid/<chunk>.validations.bin',
  format:
    'per segment: u32 index, count, blocks; f64 rows read, rows valid; u32-length-prefixed UTF-8 file id, file URL, and JSON of its findings (parse error, bound, header problem, reasons, quarantine; length 0 when none)',
  version: 3,
  writers: ['validate'],
  readers: ['transform'],
};

/** A validation's findings: rare (a clean small file has none), so kept as JSON beside the counts. */
const findingsSchema = segmentValidationSchema
  .pick({ parseError: true, boundBroken: true, headerProblem: true, rejected: true, quarantineUrl: true })
  .partial();

/** A segment's findings as JSON, or '' for a clean one (most segments; its record then holds none). */
function findingsJson({ parseError, boundBroken, headerProblem, rejected, quarantineUrl }: SegmentValidation): string {
  const found = parseError !== undefined || boundBroken !== undefined || headerProblem !== undefined || quarantineUrl !== undefined || !isEmpty(rejected);
  return found ? JSON.stringify({ parseError, boundBroken, headerProblem, rejected, quarantineUrl }) : '';
}

/** Whether `record` has no key, without a list of its keys (12,500 segments a pack). */
function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

/**
 * The fixed part of a segment's record: index, count, blocks (u32), rows read and valid (f64: a `.gz` file's one
 * segment may hold more rows than a u32 counts under a raised MAX_DECOMPRESSED_BYTES), its three text lengths.
 */
const FIXED_BYTES = 3 * 4 + 2 * 8 + 3 * 4;

/**
 * A chunk's segment validations as bytes: counts and names without a JSON
 * line each. A chunk of small files is 12,500 of them, and as JSON lines
 * the transform spent 4-8 µs a line parsing and checking them (a throwaway
 * script, 12,500 lines, the first read of a process the slowest).
 */
export function encodeSegmentValidations(validations: readonly SegmentValidation[]): Buffer {
  const findings = validations.map(findingsJson);
  let size = 0;
  for (let i = 0; i < validations.length; i++)
    size += FIXED_BYTES + Buffer.byteLength(validations[i]!.fileId) + Buffer.byteLength(validations[i]!.fileUrl) + Buffer.byteLength(findings[i]!);
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  // A length, then its text: the length is known once the text is written.
  const text = (value: string) => {
    const length = value ? bytes.write(value, at + 4) : 0;
    bytes.writeUInt32LE(length, at);
    at += 4 + length;
  };
  for (let i = 0; i < validations.length; i++) {
    const v = validations[i]!;
    at = bytes.writeUInt32LE(v.index, at);
    at = bytes.writeUInt32LE(v.count, at);
    at = bytes.writeUInt32LE(v.blocks, at);
    at = bytes.writeDoubleLE(v.rowsRead, at);
    at = bytes.writeDoubleLE(v.rowsValid, at);
    text(v.fileId);
    text(v.fileUrl);
    text(findings[i]!);
  }
  return bytes;
}

/** The validations `encodeSegmentValidations` wrote; what is not such bytes is refused, naming `url` and the record. */
export function decodeSegmentValidations(bytes: Buffer, url: string): SegmentValidation[] {
  const validations: SegmentValidation[] = [];
  let at = 0;
  const refuse = (what: string): never => {
    throw new Error(
      `${url}: not segment validations (record ${validations.length + 1}, byte ${at}: ${what}); the run's temporaries were written by another release or cut short`,
    );
  };
  const u32 = () => {
    if (at + 4 > bytes.length) refuse('cut short');
    at += 4;
    return bytes.readUInt32LE(at - 4);
  };
  const f64 = () => {
    if (at + 8 > bytes.length) refuse('cut short');
    at += 8;
    return bytes.readDoubleLE(at - 8);
  };
  const text = (length: number) => {
    if (at + length > bytes.length) refuse('cut short');
    at += length;
    return bytes.toString('utf8', at - length, at);
  };
  while (at < bytes.length) {
    const index = u32();
    const count = u32();
    const blocks = u32();
    const rowsRead = f64();
    const rowsValid = f64();
    const fileId = text(u32());
    const fileUrl = text(u32());
    const findingsLength = u32();
    const validation: SegmentValidation = { fileId, fileUrl, index, count, rowsRead, rowsValid, rejected: {}, blocks };
    if (findingsLength) {
      const json = text(findingsLength);
      let value: unknown;
      try {
        value = JSON.parse(json);
      } catch (err) {
        refuse(`its findings are not JSON: ${(err as Error).message}`);
      }
      const parsed = findingsSchema.safeParse(value);
      if (!parsed.success) refuse(`its findings: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`);
      else {
        const { parseError, boundBroken, headerProblem, rejected, quarantineUrl } = parsed.data;
        Object.assign(validation, { parseError, boundBroken, headerProblem, rejected: rejected ?? {}, quarantineUrl });
      }
    }
    if (count < 1 || index >= count || !Number.isSafeInteger(rowsRead) || !Number.isSafeInteger(rowsValid) || rowsValid < 0 || rowsValid > rowsRead)
      refuse(`segment ${index} of ${count}, ${rowsValid} of ${rowsRead} rows valid`);
    validations.push(validation);
  }
  return validations;
}

/** Writes chunk `chunkId`'s segment validations; returns their URL. */
export async function writeSegmentValidations(
  store: ObjectStore,
  run: RunContext,
  chunkId: string,
  validations: readonly SegmentValidation[],
): Promise<string> {
  const url = LAKE_LAYOUT.segmentValidations(run.lake, run.runId, chunkId);
  await store.write(url, encodeSegmentValidations(validations));
  return url;
}

export const readSegmentValidations = async (store: ObjectStore, url: string): Promise<SegmentValidation[]> =>
  decodeSegmentValidations(await store.readBuffer(url), url);
