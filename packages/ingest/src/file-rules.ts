import type { SegmentOutcome, SegmentValidation } from '@musicflow/contracts';

type RejectingFields = 'headerProblem' | 'parseError' | 'boundBroken';

/** Why a segment rejects its whole file whatever its rows: its header, a bound broken, or bytes that cannot be parsed. */
export function segmentRejection(s: Pick<SegmentValidation, RejectingFields>): string | undefined {
  return s.headerProblem ?? s.boundBroken ?? (s.parseError ? `cannot be parsed as CSV: ${s.parseError}` : undefined);
}

/**
 * Why a stream file is rejected whole (SPEC 3), from the validation of its
 * segments (all of them): a segment whose header rejects it, that cannot be parsed or breaks a bound
 * (its reason names it), or more bad rows
 * than `threshold` of the file's rows. Empty when the file is accepted. The
 * transformer asks it of each small file in a pack (a whole file in one
 * segment), the commit step of every file: the two always agree.
 */
export function fileRejectionReasons(segments: readonly Pick<SegmentValidation, RejectingFields | 'rowsRead' | 'rowsValid'>[], threshold: number): string[] {
  const reasons = segments.flatMap((s) => {
    const reason = segmentRejection(s);
    return reason ? [reason] : [];
  });
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
 * whole file. Segments come one at a time, in any order; a file is decided as
 * soon as all of its segments came, so only the files cut into several
 * segments (big ones, a few per chunk at most) wait in memory.
 */
export class FileDecisions {
  private readonly waiting = new Map<string, FileOutcome>();

  constructor(private readonly threshold: number) {}

  /** The file `segment` completes, if it does. */
  add(segment: SegmentOutcome): FileOutcome | undefined {
    const v = segment.validation;
    const file = this.waiting.get(v.fileUrl) ?? { fileId: v.fileId, url: v.fileUrl, segments: [], rejectedReasons: [] };
    file.segments.push(segment);
    if (file.segments.length < v.count) {
      this.waiting.set(v.fileUrl, file);
      return undefined;
    }
    this.waiting.delete(v.fileUrl);
    return this.decide(file);
  }

  /** Files some of whose segments never came (a chunk left out), decided on those that did. */
  finish(): FileOutcome[] {
    const rest = [...this.waiting.values()].map((f) => this.decide(f));
    this.waiting.clear();
    return rest;
  }

  private decide(file: FileOutcome): FileOutcome {
    file.segments.sort((a, b) => a.validation.index - b.validation.index);
    file.rejectedReasons = fileRejectionReasons(
      file.segments.map((s) => s.validation),
      this.threshold,
    );
    return file;
  }
}
