/**
 * Runs one workload in a fresh child process, so its `rss_mb` (the process's peak resident memory
 * during the workload) counts only what that workload holds, not what an earlier workload of the
 * same bench run left behind: freed V8 heap that was never returned, touched LMDB pages of an
 * earlier data directory, grown worker heaps. The child (`bench/isolated-child.ts`) imports the
 * scenario module, runs the named workload with its own context, and prints the results as the last
 * line of its stdout; its progress goes to the parent's stderr.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchContext, BenchResult } from './harness.js';

/** A workload a scenario module exports by name (in its `workloads` record), runnable in a child. */
export type Workload = (ctx: BenchContext) => Promise<BenchResult[]>;

const CHILD = fileURLToPath(new URL('./isolated-child.js', import.meta.url));
export const RESULT_PREFIX = 'MILLRACE-BENCH-RESULT ';

/**
 * Runs `workloads[name]` of the module at `moduleUrl` in a fresh Node process with this process's
 * exec flags (so `node --trace-gc dist/bench/run.js` reaches the children) and returns its results.
 */
export function runIsolated(ctx: BenchContext, moduleUrl: string, name: string): Promise<BenchResult[]> {
  const args = [...process.execArgv, CHILD, moduleUrl, name, ...(ctx.quick ? ['--quick'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      const line = out.split('\n').reverse().find((l) => l.startsWith(RESULT_PREFIX));
      if (code !== 0 || line === undefined) {
        reject(new Error(`workload ${name} (child process) failed: exit ${code ?? signal}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as BenchResult[]);
    });
  });
}
