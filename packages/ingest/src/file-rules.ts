import type { SegmentOutcome, SegmentValidation, TransformResult } from '@musicflow/contracts';

/**
 * Why a stream file is rejected whole (SPEC 3), from the validation of its
 * segments (all of them): a segment that cannot be parsed or breaks a bound
 * (its reason names it), or more bad rows
 * than `threshold` of the file's rows. Empty when the file is accepted. The
 * transformer asks it of each small file in a pack (a whole file in one
 * segment), the commit step of every file: the two always agree.
 */
export function fileRejectionReasons(
  segments: readonly Pick<SegmentValidation, 'parseError' | 'boundBroken' | 'rowsRead' | 'rowsValid'>[],
  threshold: number,
): string[] {
  const reasons = segments.flatMap((s) => (s.boundBroken ? [s.boundBroken] : s.parseError ? [`cannot be parsed as CSV: ${s.parseError}`] : []));
  const read = segments.reduce((n, s) => n + s.rowsRead, 0);
  const bad = read - segments.reduce((n, s) => n + s.rowsValid, 0);
  if (bad > threshold * read) {
    reasons.push(`${bad} of ${read} rows are bad (${((100 * bad) / read).toFixed(1)}%), more than the ${(threshold * 100).toFixed(1)}% allowed`);
  }
  return reasons;
}

export interface FileOutcome {
  fileId: string;
  url: string;
  segments: SegmentOutcome[];
  rejectedReasons: string[];
}

/**
 * Decides each file's fate from its segments (SPEC 3): a segment that cannot
 * be parsed, or more bad rows than `threshold` of the file's rows, rejects the
 * whole file.
 */
export function decideFiles(transforms: TransformResult[], threshold: number): FileOutcome[] {
  const byFile = new Map<string, FileOutcome>();
  for (const t of transforms) {
    for (const segment of t.segments) {
      const v = segment.validation;
      let file = byFile.get(v.fileUrl);
      if (!file) byFile.set(v.fileUrl, (file = { fileId: v.fileId, url: v.fileUrl, segments: [], rejectedReasons: [] }));
      file.segments.push(segment);
    }
  }
  for (const file of byFile.values()) {
    file.segments.sort((a, b) => a.validation.index - b.validation.index);
    file.rejectedReasons = fileRejectionReasons(
      file.segments.map((s) => s.validation),
      threshold,
    );
  }
  return [...byFile.values()].sort((a, b) => a.url.localeCompare(b.url));
}
