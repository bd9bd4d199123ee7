import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.ts';

/** Which code and which settings a process runs: what every run records (analytics.etl_runs, the run report). */
export interface BuildInfo {
  /** The root package.json's version. */
  version: string;
  /** The git commit the code was built from, `-dirty` when the tree had changes; absent when unknown (no .git, no stamp). */
  commit?: string;
}

/** The root folder of the installation: packages/config/src or packages/config/dist are two levels below it. */
const ROOT = new URL('../../../', import.meta.url);
/** Written by `npm run build` (packages/config/build-info.mjs), next to the compiled module. */
const STAMP = new URL('./build-info.json', import.meta.url);

let cached: BuildInfo | undefined;

/**
 * The version from the root package.json; the commit from the stamp the build
 * wrote (a Docker image has no .git: the build gets MUSICFLOW_COMMIT), else,
 * for a clone run from its sources, from `git` at start-up. Read once per process.
 */
export function buildInfo(): BuildInfo {
  if (cached) return cached;
  const { version } = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { version: string };
  cached = { version, ...definedCommit(stampedCommit() ?? gitCommit(fileURLToPath(ROOT))) };
  return cached;
}

const definedCommit = (commit: string | undefined) => (commit ? { commit } : {});

function stampedCommit(): string | undefined {
  try {
    return (JSON.parse(readFileSync(STAMP, 'utf8')) as { commit?: string }).commit || undefined;
  } catch {
    return undefined;
  }
}

/** `HEAD`'s commit, `-dirty` with uncommitted changes to tracked files; undefined outside a git checkout. */
export function gitCommit(dir: string): string | undefined {
  const git = (...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git('rev-parse', 'HEAD');
    return git('status', '--porcelain', '--untracked-files=no') ? `${head}-dirty` : head;
  } catch {
    return undefined;
  }
}

/**
 * The settings that change which events count and so the KPIs a run computes from the same
 * input: which files and rows are accepted and read. Not the ones that change only how
 * (concurrency, pass sizes, retries, threads) or where (URLs: each run records its sources).
 */
export const KPI_SETTINGS = [
  'REJECT_THRESHOLD',
  'MAX_RECORD_BYTES',
  'MAX_COLUMNS',
  'MAX_DECOMPRESSED_BYTES',
  'MAX_GZIP_RATIO',
  'MAX_FILE_KEY_BYTES',
  'FILE_LINKS',
] as const satisfies readonly (keyof Config)[];

export type KpiSettings = { [K in (typeof KPI_SETTINGS)[number]]: Config[K] };

export const kpiSettings = (config: Config): KpiSettings => Object.fromEntries(KPI_SETTINGS.map((name) => [name, config[name]])) as KpiSettings;

/** sha256 (first 16 hex digits) of the KPI settings in a fixed order: two runs with the same hash had the same settings. */
export const settingsHash = (settings: KpiSettings): string =>
  createHash('sha256')
    .update(JSON.stringify(KPI_SETTINGS.map((name) => [name, settings[name]])))
    .digest('hex')
    .slice(0, 16);
