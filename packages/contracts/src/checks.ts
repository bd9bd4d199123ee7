/**
 * Data checks and schema drift: the names settings refer to, and what a run
 * report says about them.
 */
import { z } from 'zod';

/**
 * Every data check of a load, each over one listen date as it will be after
 * the merge (docs/data-team.md, "Data checks"). The anomaly checks compare a
 * date's plays, and its busiest hour's listeners, with the median of the loaded dates
 * before it.
 */
export const DATA_CHECK_NAMES = [
  'hourly_rows_present',
  'hourly_plays_match_lake',
  'measures_not_negative_or_null',
  'track_diversity_in_range',
  'daily_plays_anomaly',
  'daily_listeners_anomaly',
] as const;
export type DataCheckName = (typeof DATA_CHECK_NAMES)[number];
export const isDataCheckName = (name: string): name is DataCheckName => (DATA_CHECK_NAMES as readonly string[]).includes(name);

/** `error`: a failure makes the run partial, and blocks its date's load with CHECKS_BLOCK_ON_ERROR; `warn`: it is reported and alerted only. */
export const CHECK_SEVERITIES = ['warn', 'error'] as const;
export type CheckSeverity = (typeof CHECK_SEVERITIES)[number];

/** Broken rows are errors; a day that breaks from its trailing days may be real (a launch, an outage), so a warning. */
export const DEFAULT_CHECK_SEVERITY: Readonly<Record<DataCheckName, CheckSeverity>> = {
  hourly_rows_present: 'error',
  hourly_plays_match_lake: 'error',
  measures_not_negative_or_null: 'error',
  track_diversity_in_range: 'error',
  daily_plays_anomaly: 'warn',
  daily_listeners_anomaly: 'warn',
};

/** A listen date a load left out because an error-level check failed on it (CHECKS_BLOCK_ON_ERROR). */
export const blockedDateSchema = z.object({ listenDate: z.string(), checks: z.array(z.string()) });
export type BlockedDate = z.infer<typeof blockedDateSchema>;

/** The sources whose columns a run compares with the previous run's. */
export const SCHEMA_SOURCES = ['streams', 'users', 'songs'] as const;
export type SchemaSource = (typeof SCHEMA_SOURCES)[number];

/**
 * One source's columns that changed since the previous run that read it:
 * `renamed` pairs a missing column with an added one at the same position.
 * For stream files, one entry per distinct new header, with how many of the
 * run's files carry it and the first few of them.
 */
export const schemaDriftSchema = z.object({
  source: z.enum(SCHEMA_SOURCES),
  url: z.string(),
  added: z.array(z.string()),
  missing: z.array(z.string()),
  renamed: z.array(z.object({ from: z.string(), to: z.string() })),
  files: z.number().int().optional(),
  examples: z.array(z.string()).optional(),
});
export type SchemaDrift = z.infer<typeof schemaDriftSchema>;

/**
 * The distinct headers of one source a run read, with how many files carry
 * each and the first few of them: a run temporary the loader compares with
 * the previous run's (at most 20 distinct stream headers a run).
 */
export const sourceHeadersSchema = z.object({
  source: z.enum(SCHEMA_SOURCES),
  url: z.string(),
  headers: z.array(z.object({ columns: z.array(z.string()), files: z.number().int(), examples: z.array(z.string()) })),
});
export type SourceHeaders = z.infer<typeof sourceHeadersSchema>;
