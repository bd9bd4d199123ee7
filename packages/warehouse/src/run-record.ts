/**
 * A run's record as analytics.etl_runs can always hold it: whatever a run was
 * given or met (a 1,100-character source URL, a 70 KB error, thousands of
 * dates, a password in a catalogue URL), its record is redacted and fits its
 * columns, so recording a run can never fail, and never fails a later one.
 * Pure: no I/O.
 */
import { redactDeep } from '@musicflow/config';
import type { RunReport } from '@musicflow/contracts';
import { ETL_RUN_TEXT_BYTES } from './sql.ts';
import { cutToBytes, utf8Bytes } from './text-contract.ts';

/** Any one text of a report (a source URL, a file name, a reason) is cut to this many bytes; the error to its column. */
const REPORT_TEXT_BYTES = 1024;
/** Rejected files a report still names when the whole list does not fit. */
const FEW_REJECTED = 5;

function capTexts<T>(value: T): T {
  if (typeof value === 'string') return cutToBytes(value, REPORT_TEXT_BYTES) as T;
  if (Array.isArray(value)) return value.map(capTexts) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, capTexts(v)])) as T;
}

/** Ever smaller reports, the last one of bounded size whatever the run: counts only. */
const SHRINK: ((r: RunReport) => RunReport)[] = [
  (r) => ({ ...r, files: { ...r.files, firstRejected: r.files.firstRejected.slice(0, FEW_REJECTED) } }),
  (r) => ({
    ...r,
    checks: r.checks?.filter((c) => !c.passed).slice(0, FEW_REJECTED),
    blockedDates: r.blockedDates?.slice(0, FEW_REJECTED),
    schemaDrift: r.schemaDrift?.slice(0, FEW_REJECTED),
  }),
  (r) => ({ ...r, dates: r.dates.length > 2 ? [r.dates[0]!, r.dates.at(-1)!] : r.dates }),
  (r) => ({
    ...r,
    files: { ...r.files, firstRejected: [] },
    rows: { ...r.rows, rejectedByReason: {} },
    catalogue: { users: r.catalogue.users, songs: r.catalogue.songs, rejected: r.catalogue.rejected },
    checks: undefined,
    blockedDates: undefined,
    schemaDrift: undefined,
    dates: [],
    stageMs: {},
  }),
];

const fits = (r: RunReport) => utf8Bytes(JSON.stringify(r)) <= ETL_RUN_TEXT_BYTES.report;

/**
 * The report with every credential redacted, each text cut to a bound (the
 * error to its column) and, when its JSON is still over the `report` column,
 * the long lists shortened (`truncated: true`).
 */
export function fitRunRecord(report: RunReport): RunReport {
  const { error, ...rest } = redactDeep(report);
  let fitted: RunReport = { ...capTexts(rest), ...(error === undefined ? {} : { error: cutToBytes(error, ETL_RUN_TEXT_BYTES.error) }) };
  for (const shrink of SHRINK) {
    if (fits(fitted)) return fitted;
    fitted = { ...shrink(fitted), truncated: true };
  }
  return fitted;
}
