/**
 * The run's artifacts, one file each: where it lives (LAKE_LAYOUT), its
 * format and version, and the functions that write and read it. Processors
 * hand these their inputs and outputs; they never build a path or pick a
 * format themselves. docs/artifacts.md lists the same (a test checks it).
 */
import type { RunArtifact } from './artifact.ts';
import { CATALOGUE_SNAPSHOTS } from './catalogue-snapshot.ts';
import { CHUNK_KEYS } from './chunk-keys.ts';
import { CLEAN_EVENTS } from './clean-events.ts';
import { DATE_PARTS } from './date-parts.ts';
import { FILE_DUPLICATES } from './file-duplicates.ts';
import { KPI_PARTIAL } from './kpi-partial.ts';
import { KPI_ROWS } from './kpi-rows.ts';
import { LAKE_PARTS } from './lake-parts.ts';
import { QUARANTINE } from './quarantine.ts';
import { RUN_FILES } from './run-files.ts';
import { PACK_FILES } from './pack-files.ts';
import { SOURCE_HEADERS, STREAM_HEADER_TALLIES } from './source-headers.ts';
import { CHUNK_SEGMENTS } from './chunk-segments.ts';
import { PLANNED_OUT_FILES } from './planned-out-files.ts';
import { SEGMENT_OUTCOMES } from './segment-outcomes.ts';
import { SEGMENT_VALIDATIONS } from './segment-validations.ts';

export type { RunArtifact } from './artifact.ts';
export {
  CleanEventsCursor,
  CleanEventsWriter,
  createCleanEvents,
  openCleanEvents,
  readCleanEvents,
  type CleanEventsBlock,
  type CleanEventsPiece,
  type CleanEventsUpload,
} from './clean-events.ts';
export { encodeChunkKeys, readChunkKeys, readRunUserIds, writeChunkKeys } from './chunk-keys.ts';
export {
  catalogueSnapshotsFor,
  joinCatalogueShards,
  readChunkCatalogue,
  readKeysCatalogue,
  SongsSnapshotWriter,
  songsSnapshotGroup,
  songsSnapshotOf,
  UsersSnapshotWriter,
  usersSnapshotOf,
  type KeysCatalogue,
  type RunCatalogue,
  type SongsSnapshot,
} from './catalogue-snapshot.ts';
export { catalogueQuarantineOf, gatherFileQuarantines, QUARANTINE_HEADER, QuarantineWriter, segmentQuarantineOf } from './quarantine.ts';
export { packPartsWriter, publishedPartsOf, publishParts, reEnrichPart, segmentPartsWriter, type StagedPart } from './lake-parts.ts';
export { readDateParts, writeDateParts, type DatePart } from './date-parts.ts';
export { readFileDuplicates, writeFileDuplicates } from './file-duplicates.ts';
export { mergeKpiPartials, writeKpiPartial } from './kpi-partial.ts';
export { readKpiRows, writeKpiRows } from './kpi-rows.ts';
export {
  loadedFileIds,
  loadedFilesSlices,
  readRunFiles,
  RunFilesWriter,
  runFilesWithDuplicates,
  RunTally,
  writeRunFiles,
  type LoadedFilesSlice,
} from './run-files.ts';
export { readPackQuarantines, writePackFiles } from './pack-files.ts';
export { HeaderTally, MAX_SOURCE_HEADERS, mergeStreamHeaderTallies, readSourceHeaders, writeSourceHeaders, writeStreamHeaderTally } from './source-headers.ts';
export { readChunkSegments, writeChunkSegments } from './chunk-segments.ts';
export { plannedOutFilesWriter, readPlannedOutFiles } from './planned-out-files.ts';
export { readDecidedFiles, writeSegmentOutcomes } from './segment-outcomes.ts';
export { readSegmentValidations, writeSegmentValidations } from './segment-validations.ts';

/** Every artifact of a run, by name. */
export const RUN_ARTIFACTS: Record<string, RunArtifact> = {
  'chunk segments': CHUNK_SEGMENTS,
  'segment validations': SEGMENT_VALIDATIONS,
  'segment outcomes': SEGMENT_OUTCOMES,
  'pack files': PACK_FILES.files,
  'pack quarantines': PACK_FILES.quarantines,
  'planned-out files': PLANNED_OUT_FILES,
  'clean events': CLEAN_EVENTS,
  'chunk keys': CHUNK_KEYS,
  'segment quarantine': QUARANTINE.segment,
  quarantine: QUARANTINE.file,
  'catalogue shard quarantine': QUARANTINE.catalogueShard,
  'songs snapshot': CATALOGUE_SNAPSHOTS.songs,
  'users snapshot': CATALOGUE_SNAPSHOTS.users,
  'staged parts': LAKE_PARTS.staged,
  'published parts': LAKE_PARTS.published,
  'date parts': DATE_PARTS,
  'KPI partial': KPI_PARTIAL,
  'file duplicates': FILE_DUPLICATES,
  'KPI rows': KPI_ROWS,
  'run files': RUN_FILES,
  'source headers': SOURCE_HEADERS,
  'stream header tallies': STREAM_HEADER_TALLIES,
};
