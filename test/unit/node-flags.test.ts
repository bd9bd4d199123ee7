/**
 * Every way of starting a service process runs node with the same memory flags: the image (its NODE_OPTIONS
 * and the flags its ENTRYPOINT gives node, for those NODE_OPTIONS refuses), the npm start scripts, and the
 * benches' worker processes. The memory figures in the docs were measured with them.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WORKER_NODE_FLAGS } from '../../bench/node-flags.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string) => readFileSync(path.join(REPO, file), 'utf8');
const sorted = (flags: Iterable<string>) => [...flags].sort();

/** The image's flags: NODE_OPTIONS, then the ENTRYPOINT's arguments to node before its script. */
function imageFlags(): string[] {
  const dockerfile = read('infra/Dockerfile');
  const options = /NODE_OPTIONS="([^"]*)"/.exec(dockerfile)?.[1];
  const entrypoint = /^ENTRYPOINT (\[.*\])$/m.exec(dockerfile)?.[1];
  if (options === undefined || entrypoint === undefined) throw new Error('infra/Dockerfile: no NODE_OPTIONS or ENTRYPOINT');
  const [node, ...args] = JSON.parse(entrypoint) as string[];
  expect(node).toBe('node');
  return sorted([...options.split(/\s+/), ...args.filter((a) => a.startsWith('--'))]);
}

/** The node flags of an npm start script (`... node <flags> <script> ...`). */
function scriptFlags(script: string): string[] {
  const words = script.split(/\s+/);
  return sorted(words.slice(words.indexOf('node') + 1).filter((w) => w.startsWith('--')));
}

describe('node flags of the service processes', () => {
  const image = imageFlags();

  it('the image sets the heap cap, the young generation and the old generation floor', () => {
    expect(image).toEqual(['--initial-old-space-size=64', '--max-old-space-size=256', '--max-semi-space-size=8']);
  });

  it('the npm start scripts use the same flags', () => {
    const manifests = ['package.json', ...readdirSync(path.join(REPO, 'services')).map((s) => path.join('services', s, 'package.json'))];
    for (const manifest of manifests) {
      const start = (JSON.parse(read(manifest)) as { scripts?: { start?: string } }).scripts?.start;
      expect(start, `${manifest} has a start script`).toBeDefined();
      expect(scriptFlags(start!), manifest).toEqual(image);
    }
  });

  it("the benches' worker processes use the same flags", () => {
    expect(sorted(WORKER_NODE_FLAGS)).toEqual(image);
  });
});
