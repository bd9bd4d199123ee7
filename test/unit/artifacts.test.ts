/** The run artifacts' reference (docs/artifacts.md) says what packages/lake/src/artifacts says. */
import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { FLOW_CHILDREN, JOB_KIND_NAMES } from '@musicflow/contracts';
import { RUN_ARTIFACTS } from '@musicflow/lake';

const doc = await fs.readFile(new URL('../../docs/artifacts.md', import.meta.url), 'utf8');
/** The table's rows by artifact name: its cells with backticks and escapes taken out. */
const rows = new Map(
  doc
    .split('\n')
    .filter((line) => line.startsWith('| ') && !line.startsWith('| artifact') && !line.startsWith('| ---'))
    .map((line) =>
      line
        .split(/(?<!\\)\|/)
        .slice(1, -1)
        .map((cell) => cell.trim().replace(/[`\\]/g, '')),
    )
    .map((cells) => [cells[0]!, cells] as const),
);

describe('run artifacts', () => {
  it('lists every artifact in docs/artifacts.md with its path, version, writers and readers', () => {
    expect([...rows.keys()].sort()).toEqual(Object.keys(RUN_ARTIFACTS).sort());
    for (const [name, artifact] of Object.entries(RUN_ARTIFACTS)) {
      const [, path, , version, writers, readers] = rows.get(name)!;
      expect(path, name).toBe(artifact.path);
      expect(Number(version), name).toBe(artifact.version);
      expect(writers!.split(', ').sort(), name).toEqual([...artifact.writers].sort());
      for (const reader of artifact.readers) expect(readers, name).toContain(reader);
    }
  });

  it('names only job kinds that exist, each written by a job of the flow', () => {
    const inFlow = new Set([...Object.keys(FLOW_CHILDREN), ...Object.values(FLOW_CHILDREN).flat()]);
    for (const artifact of Object.values(RUN_ARTIFACTS)) {
      for (const kind of [...artifact.writers, ...artifact.readers]) {
        expect(JOB_KIND_NAMES).toContain(kind);
        expect(inFlow.has(kind)).toBe(true);
      }
    }
  });
});
