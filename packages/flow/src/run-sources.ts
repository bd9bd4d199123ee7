import { normalizeSourceUrl, redactDeep, redactSecrets, type Config } from '@musicflow/config';
import type { Sources } from '@musicflow/contracts';

/**
 * A run's sources travel in every job's data, which Redis stores and Bull
 * Board shows: they travel with their credentials redacted, and a worker
 * restores each redacted one from its own settings when it reads it. So a
 * run may read a database with a password only when that database is a
 * configured one (USERS_URL, SONGS_URL; the password best in
 * *_PASSWORD_FILE): a credential of the run's own would be stored.
 */

const SETTINGS = { streams: 'STREAMS_URL', users: 'USERS_URL', songs: 'SONGS_URL' } as const satisfies Record<keyof Sources, keyof Config>;
const PASSWORD_FILES: Partial<Record<keyof Sources, string>> = { users: 'USERS_PASSWORD_FILE', songs: 'SONGS_PASSWORD_FILE' };

/** One spelling per source (normalizeSourceUrl; the streams folder ends in `/`), so one location is one run and one match. */
export function sourceSpelling(field: keyof Sources, url: string): string {
  const spelled = normalizeSourceUrl(url);
  return field === 'streams' && !spelled.endsWith('/') ? `${spelled}/` : spelled;
}

/** The sources as job data carries them and the warehouse records them. */
export const recordedSources = (sources: Sources): Sources => redactDeep(sources);

const holdsCredential = (url: string) => redactSecrets(url) !== url;

/** The configured locations, spelled as a `field` source, the field's own setting first. */
const configured = (config: Config, field: keyof Sources) =>
  [SETTINGS[field], ...Object.values(SETTINGS).filter((setting) => setting !== SETTINGS[field])].map((setting) => sourceSpelling(field, config[setting]));

/** Where a credential of a `field` source belongs: the setting, and for a database its password file. */
export function credentialSetting(field: keyof Sources): string {
  const file = PASSWORD_FILES[field];
  return `${SETTINGS[field]}${file ? `, its password in ${file}` : ''}`;
}

/** A run request naming a credential of its own. */
export class CredentialedSourceError extends Error {}

/** Refuses a source that carries a credential and is not a configured location. */
export function assertNoRunCredential(config: Config, sources: Sources): void {
  for (const field of Object.keys(SETTINGS) as (keyof Sources)[]) {
    const url = sources[field];
    if (!holdsCredential(url)) continue;
    if (configured(config, field).includes(url)) continue;
    throw new CredentialedSourceError(
      `the ${field} source ${redactSecrets(url)} carries a credential: a run's sources are stored in Redis with every job, so a run ` +
        `never names one; put the credential in the settings (${credentialSetting(field)}) ` +
        `and start the run without naming that source`,
    );
  }
}

/**
 * The real sources of recorded ones: each redacted one is mapped back to the
 * configured location it came from; `missing` says why there is none.
 */
export function restoreSources(config: Config, recorded: Sources, missing: (field: keyof Sources) => Error): Sources {
  const restore = (field: keyof Sources) => {
    const url = recorded[field];
    if (!url.includes('***')) return url;
    const original = configured(config, field).find((candidate) => candidate !== url && redactSecrets(candidate) === url);
    if (original) return original;
    throw missing(field);
  };
  return { streams: restore('streams'), users: restore('users'), songs: restore('songs') };
}

/** The sources a worker reads for a run: redacted ones restored from this process's settings. */
export function runSources(config: Config, run: { runId: string; sources: Sources }): Sources {
  return restoreSources(
    config,
    run.sources,
    (field) =>
      new Error(
        `run ${run.runId}'s ${field} source ${run.sources[field]} held a credential that this worker's ${SETTINGS[field]} does not: ` +
          'give every service the same settings',
      ),
  );
}
