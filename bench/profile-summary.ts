import fs from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const shortUrl = (url: string) =>
  url
    .replace(/^file:\/\//, '')
    .replace(/.*\/node_modules\//, '')
    .replace(/.*\/work\/main\//, '')
    .replace(/\?.*$/, '');

/** Self time per function and per file (package) of every `.cpuprofile` in `dir`, top entries. */
export async function summarizeProfiles(dir: string, top = 25): Promise<string> {
  // A process writes one profile per thread (tsx's loader thread too): keep the biggest, the main thread.
  const all = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const sized = await Promise.all(all.map(async (f) => ({ f, size: (await fs.stat(path.join(dir, f))).size })));
  const files = sized
    .sort((a, b) => b.size - a.size)
    .slice(0, 1)
    .map((x) => x.f);
  const out: string[] = [];
  for (const file of files) {
    const profile = JSON.parse(await fs.readFile(path.join(dir, file), 'utf8')) as Profile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const self = new Map<number, number>();
    profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    const byFn = new Map<string, number>();
    const byFile = new Map<string, number>();
    for (const [id, us] of self) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
      const fn = `${functionName || '(anonymous)'} ${where}`.trim();
      byFn.set(fn, (byFn.get(fn) ?? 0) + us);
      const pkg = url
        ? shortUrl(url)
            .split('/')
            .slice(0, url.includes('node_modules') ? (shortUrl(url).startsWith('@') ? 2 : 1) : 3)
            .join('/')
        : functionName;
      byFile.set(pkg, (byFile.get(pkg) ?? 0) + us);
    }
    const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1e6).toFixed(2).padStart(7)} s`;
    out.push(
      `CPU profile ${path.basename(dir)}/${file}: ${(total / 1e6).toFixed(1)} s sampled (wall ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s)`,
    );
    out.push('  self time by package / source folder:');
    for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`    ${pct(us)}  ${k}`);
    out.push('  self time by function:');
    for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`    ${pct(us)}  ${k}`);
  }
  return out.join('\n') || `no CPU profile in ${dir}`;
}
