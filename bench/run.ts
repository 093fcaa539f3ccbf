/**
 * `npm run bench [-- --quick] [-- --json] [-- --rounds=N] [-- name-filter...]`: runs the scenarios,
 * prints a table on stderr and, with --json, one JSON document on stdout: { machine, params, results }.
 * Whole workloads (the e2e ones and the queue) run in each of N rounds (default 3, 1 with --quick),
 * and their figures are the medians of those runs (./rounds.ts); the rest run once.
 */
import os from 'node:os';
import { createContext, type BenchResult, type Scenario } from './harness.js';
import { combineRounds, DEFAULT_ROUNDS } from './rounds.js';
import { scenarios } from './scenarios.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const filters = args.filter((a) => !a.startsWith('--'));
const roundsArg = args.find((a) => a.startsWith('--rounds'));
const rounds = roundsArg === undefined ? (quick ? 1 : DEFAULT_ROUNDS) : Number(roundsArg.slice('--rounds='.length));
if (!Number.isSafeInteger(rounds) || rounds < 1) {
  process.stderr.write(`--rounds=N takes a whole number of rounds, 1 or more (got ${roundsArg})\n`);
  process.exit(2);
}

const selected: Scenario[] = scenarios.filter((s) => filters.length === 0 || filters.some((f) => s.name.includes(f)));
const ctx = createContext(quick);
/** Per round, the results of the whole workloads (the rest run in the first round only). */
const wholeRuns: BenchResult[][] = [];
/** Every result of the first round, in order: the order of the report. */
const firstRound: BenchResult[] = [];
try {
  for (let k = 1; k <= rounds; k++) {
    const inRound = selected.filter((s) => k === 1 || s.whole === true);
    if (inRound.length === 0) break;
    if (rounds > 1) ctx.log(`## round ${k} of ${rounds}${k > 1 ? ' (whole workloads only)' : ''}`);
    const wholeResults: BenchResult[] = [];
    for (const s of inRound) {
      ctx.log(`# ${s.name}: ${s.description}`);
      const rs = await s.run(ctx);
      for (const r of rs) {
        if (s.whole === true) wholeResults.push(r);
        if (k === 1) firstRound.push(r);
        logResult(r);
      }
    }
    wholeRuns.push(wholeResults);
  }
} finally {
  ctx.cleanup();
}
const combined = wholeRuns.length > 0 && wholeRuns[0]!.length > 0 ? combineRounds(wholeRuns) : [];
if (rounds > 1 && combined.length > 0) {
  ctx.log(`## whole workloads: medians of ${wholeRuns.length} rounds`);
  for (const r of combined) logResult(r);
}
// In the order the scenarios ran: each whole workload's median where its first run was (later
// rounds run a subset of the first, so the medians are the first round's whole results, in order).
const firstWhole = new Set(wholeRuns[0] ?? []);
let nextCombined = 0;
const results = firstRound.map((r) => (firstWhole.has(r) ? combined[nextCombined++]! : r));

function logResult(r: BenchResult): void {
  const extras = Object.entries(r)
    .filter(([k]) => !['name', 'unit', 'value'].includes(k))
    .map(([k, v]) => `${k}=${typeof v === 'number' ? round(v) : v}`)
    .join(' ');
  ctx.log(`  ${r.name.padEnd(28)} ${round(r.value).toLocaleString('en-US').padStart(14)} ${r.unit.padEnd(8)} ${extras}`);
}
if (json) {
  const doc = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, memGiB: round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()}-${os.arch()}` },
    params: { quick, filters, rounds, durability: 'durable unless the result name says async' },
    results,
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100;
}
