/**
 * Summaries of the worker CPU profiles `npm run bench -- --profile` writes; also on its own, over the
 * profile folders of a kept run (`--profile --keep`): `npx tsx bench/profile-summary.ts <run>/prof/worker1 ...`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = fileURLToPath(new URL('../', import.meta.url));

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/** A stage's module on a stack: `services/<stage>/(src|dist)/<file>`. */
const STAGE_FRAME = /\/services\/([^/]+)\/(?:src|dist)\/([^/.]+)\.[jt]s/;

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
    .replace(REPO, '')
    .replace(/\?.*$/, '');

/** Time per stage module, total and self time per function, self time per file (package), of the main thread's `.cpuprofile` in `dir`: top entries. */
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
    const parentOf = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
    const fnName = ({ functionName, url, lineNumber }: ProfileNode['callFrame']) =>
      `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : ''}`.trim();
    const inRepo = (url: string) => url.includes(REPO) && !url.includes('/node_modules/');
    const stackOf = (id: number): ProfileNode[] => {
      const stack: ProfileNode[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) stack.push(byId.get(at)!);
      return stack;
    };
    // A sample's stage: the nearest service module on its stack; an awaited step resumes with no service
    // on its stack, under its own (package) function, the outermost one named then.
    const stageOf = (stack: ProfileNode[]): string => {
      for (const n of stack) {
        const m = STAGE_FRAME.exec(n.callFrame.url);
        if (m) return `${m[1]}/${m[2]}`;
      }
      const outermost = stack.findLast((n) => inRepo(n.callFrame.url));
      if (outermost) return `(resumed) ${fnName(outermost.callFrame)}`;
      const leaf = stack[0]!.callFrame;
      return !leaf.url && leaf.functionName.startsWith('(') ? leaf.functionName : '(outside the repository)';
    };
    const self = new Map<number, number>();
    profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
    const byStage = new Map<string, number>();
    /** Self plus callees, each function counted once per stack. */
    const totalByFn = new Map<string, number>();
    for (const [id, us] of self) {
      const stack = stackOf(id);
      const stage = stageOf(stack);
      byStage.set(stage, (byStage.get(stage) ?? 0) + us);
      for (const fn of new Set(stack.filter((n) => inRepo(n.callFrame.url)).map((n) => fnName(n.callFrame)))) totalByFn.set(fn, (totalByFn.get(fn) ?? 0) + us);
    }
    const total = [...self.values()].reduce((a, b) => a + b, 0);
    const byFn = new Map<string, number>();
    const byFile = new Map<string, number>();
    for (const [id, us] of self) {
      const { functionName, url } = byId.get(id)!.callFrame;
      const fn = fnName(byId.get(id)!.callFrame);
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
    out.push('  time by stage module (the nearest services/<stage>/<module> on the stack, else the outermost function of the repository):');
    for (const [k, us] of [...byStage].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`    ${pct(us)}  ${k}`);
    out.push("  total time by function of the repository (its callees' included):");
    for (const [k, us] of [...totalByFn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`    ${pct(us)}  ${k}`);
    out.push('  self time by package / source folder:');
    for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`    ${pct(us)}  ${k}`);
    out.push('  self time by function:');
    for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) out.push(`    ${pct(us)}  ${k}`);
  }
  return out.join('\n') || `no CPU profile in ${dir}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const dir of process.argv.slice(2)) console.log(await summarizeProfiles(dir));
}
