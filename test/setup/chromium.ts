/**
 * Vitest global setup: finds the Chromium the Bull Board browser test drives
 * (test/api/bull-board.test.ts), installing Debian's `chromium` with apt-get
 * when it is missing and this process may (root on Debian), so a fresh
 * machine passes `npm test` with no step of its own. Elsewhere it stops with
 * a message naming CHROMIUM_PATH.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { TestProject } from 'vitest/node';

export const DEFAULT_CHROMIUM = '/usr/bin/chromium';

declare module 'vitest' {
  export interface ProvidedContext {
    chromiumPath: string;
  }
}

const executable = (file: string) => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** The browser's path: CHROMIUM_PATH when set (it must exist), else Debian's, installed when missing. */
export function findChromium(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = console.log): string {
  const configured = env.CHROMIUM_PATH;
  if (configured) {
    if (executable(configured)) return configured;
    throw new Error(
      `CHROMIUM_PATH=${configured}: no executable there. Point CHROMIUM_PATH at a Chromium or Chrome binary, ` +
        `or unset it to use (and on Debian as root, install) ${DEFAULT_CHROMIUM}.`,
    );
  }
  if (executable(DEFAULT_CHROMIUM)) return DEFAULT_CHROMIUM;
  const canInstall = process.platform === 'linux' && process.getuid?.() === 0 && executable('/usr/bin/apt-get');
  if (!canInstall) {
    throw new Error(
      `The Bull Board browser test needs Chromium and there is none at ${DEFAULT_CHROMIUM}: ` +
        `install it (Debian: apt-get install chromium) or set CHROMIUM_PATH to a Chromium or Chrome executable.`,
    );
  }
  log(`Chromium is missing: installing Debian's chromium with apt-get (once per machine, a minute or two)`);
  const apt = (...args: string[]) =>
    execFileSync('apt-get', ['-qq', '-o', 'DPkg::Lock::Timeout=600', ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  apt('update');
  apt('install', '-y', '--no-install-recommends', 'chromium');
  if (!executable(DEFAULT_CHROMIUM)) throw new Error(`apt-get installed chromium but ${DEFAULT_CHROMIUM} is still missing: set CHROMIUM_PATH`);
  return DEFAULT_CHROMIUM;
}

export default function setup(project: TestProject): void {
  project.provide('chromiumPath', findChromium());
}
