import { buildInfo, kpiSettings, settingsHash, type Config } from '@musicflow/config';
import type { RunBuild } from '@musicflow/contracts';

/** This process's build and KPI settings: what the loader stamps on every run it records. */
export function runBuild(config: Config): RunBuild {
  const settings = kpiSettings(config);
  return { ...buildInfo(), settingsHash: settingsHash(settings), settings };
}
