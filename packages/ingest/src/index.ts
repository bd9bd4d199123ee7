export { parseListenTime } from './timestamp.ts';
export { STREAM_COLUMNS, validateStreamRow, type StreamRowResult } from './stream-rules.ts';
export { duplicatedColumns, missingColumns, parseHeader } from './header.ts';
export { HEADER_SCAN_BYTES, scanRecords, type ScannedChunk, type ScanResult } from './scan.ts';
export { csvRecordBatches, csvRecords, CsvFileError, type CsvBatch, type CsvRecord } from './csv.ts';
export { openStreamFile, segmentsReadAhead, type OpenableSegment } from './open.ts';
export {
  SONG_COLUMNS,
  USER_COLUMNS,
  CatalogueFixCounts,
  validateSongRow,
  validateUserRow,
  type Song,
  type CatalogueRowProblem,
  type CatalogueFix,
} from './catalogue.ts';
export { readCatalogueSource, SourceFormatError, type CatalogueRows, type SourceRow, type CatalogueLookup } from './catalogue-source.ts';
export { RunTrackKeys, RunUserKeys, TrackFingerprintSet } from './catalogue-keys.ts';
export { QuarantineWriter, QUARANTINE_HEADER } from './quarantine.ts';
export { SongsSnapshotWriter, UsersSnapshotWriter, readChunkCatalogue, readKeysCatalogue, type KeysCatalogue } from './catalogue-snapshot.ts';
export { CleanEventsWriter, readCleanEvents, type CleanEventsBlock } from './clean-events.ts';
export { UserIdSet, encodeChunkKeys, forEachLine, readChunkKeys, readRunUserIds } from './run-ids.ts';
export { csvByteBatches, fieldText, recordFields, type CsvByteBatch } from './csv-bytes.ts';
export { StreamRowChecker, readUserId } from './stream-rows.ts';
export { fileRejectionReasons } from './file-rules.ts';
export { FileBoundError, fileBoundsOf, reasonText, type FileBounds, type RecordBounds } from './bounds.ts';
