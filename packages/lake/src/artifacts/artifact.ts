import type { JobKind } from '@musicflow/contracts';

/**
 * What the artifacts module says of each thing a run writes for a later job:
 * where it lives (a `LAKE_LAYOUT` path), how it is encoded, and which version
 * of that encoding the code writes and reads. Run temporaries live under
 * `tmp/run=<id>/` for one run only, so a reader only ever meets the version
 * its own release wrote; a change to one of them bumps `version` here and in
 * docs/artifacts.md.
 */
export interface RunArtifact {
  /** The path under LAKE_URL, placeholders in angle brackets. */
  path: string;
  format: string;
  version: number;
  /** The job kinds that write it and those that read it. */
  writers: readonly JobKind[];
  readers: readonly JobKind[];
}
