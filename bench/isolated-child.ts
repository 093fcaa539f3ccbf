/**
 * Child process entry of `runIsolated` (./isolated.ts): `isolated-child.js <module URL> <workload>
 * [--quick]`. Runs the workload once with a fresh context and prints its results on stdout.
 */
import { createContext } from './harness.js';
import { RESULT_PREFIX, type Workload } from './isolated.js';

const [moduleUrl, name] = process.argv.slice(2);
const quick = process.argv.includes('--quick');
const mod = (await import(moduleUrl!)) as { workloads?: Record<string, Workload> };
const workload = mod.workloads?.[name!];
if (!workload) throw new Error(`no workload named ${name} in ${moduleUrl}`);
const ctx = createContext(quick);
try {
  const results = await workload(ctx);
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(results)}\n`);
} finally {
  ctx.cleanup();
}
