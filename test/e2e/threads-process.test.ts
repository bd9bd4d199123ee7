/**
 * A worker process started the way the start scripts and the image start it
 * (a V8 heap cap on the command line) with WORKER_THREADS on: Node refuses
 * heap flags in a worker thread's execArgv, so the threads must start without
 * them, and the process must still start and stop cleanly.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, REPO, uniqueName } from '../helpers/env.ts';
import { deleteKeys, waitFor } from '../api/fixtures.ts';

describe('worker threads in a heap-capped process', () => {
  const prefix = uniqueName('mfthreads');
  afterAll(() => deleteKeys(prefix));

  it('starts its stage threads and exits 0 on SIGTERM', async () => {
    let output = '';
    const proc = spawn(process.execPath, ['--max-old-space-size=256', path.join(REPO, 'bin', 'musicflow.mjs'), 'start', 'validator', 'transformer', 'kpi'], {
      cwd: REPO,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        REDIS_URL,
        QUEUE_PREFIX: prefix,
        WORKER_THREADS: 'true',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout.on('data', (d) => (output += String(d)));
    proc.stderr.on('data', (d) => (output += String(d)));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    try {
      await waitFor('the services to start', async () => output.includes('"services started"'), 60_000, 100);
      expect(output).not.toContain('worker thread failed to start');
      expect(output).not.toContain('ERR_WORKER_INVALID_EXEC_ARGV');
    } finally {
      proc.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
