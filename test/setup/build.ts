/**
 * Vitest global setup: compiles every workspace (`npm run build`, incremental, seconds when
 * nothing changed) before any test file runs, so the tests that start the CLI as a process
 * (bin/musicflow.mjs runs the build when there is one) run today's code, and a broken build
 * fails the test command.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: fileURLToPath(new URL('../../', import.meta.url)), stdio: 'inherit' });
}
