/**
 * `npm run bench [-- --quick] [-- --json] [-- name-filter...]`: runs the scenarios, prints a table on
 * stderr and, with --json, one JSON document on stdout: { machine, params, results }.
 */
import os from 'node:os';
import { createContext, type BenchResult, type Scenario } from './harness.js';
import { scenarios } from './scenarios.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const filters = args.filter((a) => !a.startsWith('--'));

const selected: Scenario[] = scenarios.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
const ctx = createContext(quick);
const results: BenchResult[] = [];
try {
  for (const s of selected) {
    ctx.log(`# ${s.name}: ${s.description}`);
    const rs = await s.run(ctx);
    for (const r of rs) {
      results.push(r);
      const extras = Object.entries(r)
        .filter(([k]) => !['name', 'unit', 'value'].includes(k))
        .map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`)
        .join(' ');
      ctx.log(`  ${r.name.padEnd(28)} ${round(r.value).toLocaleString('en-US').padStart(14)} ${r.unit.padEnd(8)} ${extras}`);
    }
  }
} finally {
  ctx.cleanup();
}
if (json) {
  const doc = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()}-${os.arch()}` },
    params: { quick, filters, durability: 'durable unless the result name says async' },
    results,
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100;
}
