#!/usr/bin/env node
// Runs the compiled CLI (`npm run build`) on plain node when there is a build; without one, the
// TypeScript sources through tsx, so a clone runs with no build step.
import { existsSync } from 'node:fs';

const built = new URL('../apps/cli/dist/bin.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { registerSourceLoader } = await import('../packages/flow/src/source-loader.mjs');
  registerSourceLoader();
  await import('../apps/cli/src/bin.ts');
}
