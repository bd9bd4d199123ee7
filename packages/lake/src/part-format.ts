import type { FileMetaData } from 'hyparquet';
import { basename } from '@musicflow/storage';
import { COARSE_BUCKET_SPAN, LAKE_LAYOUT } from './layout.ts';

/**
 * The lake part format's versions. A part records its version in its footer
 * (PART_FORMAT_KEY); parts written before parts did are known by their columns
 * and footer keys. What a reader allows for an older part is decided here, in
 * `partFormatOf`, and nowhere else; test/integration/lake.test.ts reads a part
 * of every version.
 *
 * 1. SPEC 3b's nine event columns.
 * 2. `user_bucket`: rows grouped by user bucket, each row group's range in its statistics.
 * 3. `source_file`, and the footer's `musicflow.source_files` (packs of many small files).
 * 4. The footer's `musicflow.distinct_tracks` and `musicflow.part_format`.
 * 5. 4,096 user buckets (USER_BUCKETS), every part sorted by bucket, pages cut
 *    at bucket boundaries and a page index (offset index for every column,
 *    column index for `user_bucket`).
 */
export const PART_FORMAT_VERSION = 5;
export const PART_FORMAT_KEY = 'musicflow.part_format';
/** Footer key of a part's source files, a JSON array of file ids (sorted): the commit job reads it without reading rows. */
export const SOURCE_FILES_KEY = 'musicflow.source_files';
/** Footer key of a part's distinct track ids (a decimal number): what a KPI date job sizes its passes by on a long-tail day. */
export const DISTINCT_TRACKS_KEY = 'musicflow.distinct_tracks';

/** What a part of some version holds, as a reader needs it. */
export interface PartFormat {
  version: number;
  /** Row groups record their user bucket range (version 2 on): a KPI pass can skip the others. */
  bucketed: boolean;
  /** How many of USER_BUCKETS one value of the part's `user_bucket` spans: 64 before version 5 (64 buckets then), 1 since. */
  bucketSpan: number;
  /** Pages are cut at bucket boundaries and the page index records their ranges (version 5 on): a pass reads only its pages. */
  pageIndexed: boolean;
  /** The ids of the stream files whose rows the part holds; before version 3, the one file its name says. */
  sourceFiles: readonly string[];
  /** Rows carry `source_file` (version 3 on). */
  hasSourceFileColumn: boolean;
  /** At most this many distinct track ids: the footer's count from version 4, the part's rows before. */
  distinctTracksAtMost: number;
}

export class PartFormatError extends Error {}

/** The format of the part at `url`, from its footer; a part newer than this release reads is refused. */
export function partFormatOf(metadata: FileMetaData, url: string): PartFormat {
  const footer = (key: string) => metadata.key_value_metadata?.find((kv) => kv.key === key)?.value;
  const has = (column: string) => metadata.schema.some((e) => e.name === column);
  const recorded = footer(PART_FORMAT_KEY);
  const distinct = footer(DISTINCT_TRACKS_KEY);
  const version = recorded !== undefined ? Number(recorded) : distinct !== undefined ? 4 : has('source_file') ? 3 : has('user_bucket') ? 2 : 1;
  if (!Number.isSafeInteger(version) || version < 1) {
    throw new PartFormatError(`lake part ${url}: footer ${PART_FORMAT_KEY}=${recorded} is not a format version; the part is damaged, write it again`);
  }
  if (version > PART_FORMAT_VERSION) {
    throw new PartFormatError(
      `lake part ${url} is format version ${version}, newer than this release reads (${PART_FORMAT_VERSION}): upgrade every musicflow service to the release that wrote it`,
    );
  }
  const files = version >= 3 ? sourceFilesOf(footer(SOURCE_FILES_KEY), url) : undefined;
  const rows = Number(metadata.num_rows);
  const tracks = Number(distinct);
  return {
    version,
    bucketed: version >= 2,
    bucketSpan: version >= 5 ? 1 : COARSE_BUCKET_SPAN,
    pageIndexed: version >= 5,
    sourceFiles: files ?? [LAKE_LAYOUT.fileIdOfPart(basename(url))],
    hasSourceFileColumn: version >= 3,
    distinctTracksAtMost: version >= 4 && Number.isSafeInteger(tracks) && tracks >= 0 ? tracks : rows,
  };
}

/** The footer's file list: a non-empty JSON array of file ids, or undefined when the footer has none. */
function sourceFilesOf(value: string | undefined, url: string): string[] | undefined {
  if (value === undefined) return undefined;
  let files: unknown;
  try {
    files = JSON.parse(value);
  } catch {
    files = undefined;
  }
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof f === 'string' && f.length > 0)) {
    throw new PartFormatError(`lake part ${url}: footer ${SOURCE_FILES_KEY} is not a list of file ids; the part is damaged, write it again`);
  }
  return files as string[];
}
