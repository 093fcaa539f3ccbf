/**
 * Whole workloads measured over several rounds: one figure per figure, from runs minutes apart.
 *
 * A whole workload gives one figure per run, and on a shared machine one run can fall in a slow
 * stretch: in thirteen full runs of the e2e workloads (2026-11-26) each target was missed now and
 * then, in runs where every workload read low at once, and the next run of the same build passed.
 * The peers the targets compare with were measured as medians of three runs; so are these, with
 * each round a pass over every selected workload (so the three runs of one workload are minutes
 * apart, not back to back in one slow stretch). Every run's figure is reported beside the median.
 */
import type { BenchResult } from './harness.js';

/** Rounds of the whole workloads unless `--rounds=N` says otherwise; one with `--quick`. */
export const DEFAULT_ROUNDS = 3;

/** Fields whose runs are listed beside their median (`value_runs`, `p99_us_runs`). */
const LISTED = ['value', 'p99_us'] as const;

/**
 * One result per name from the results of each round (`rounds[k]` holds round k's results, in
 * the order the workloads ran). Each numeric field is the median over the rounds (the middle run
 * of an odd count, the lower middle of an even one), except the memory figures (`rss*`): those are
 * the run with the largest peak RSS, whole, as a peak over rounds is what a memory bound must
 * hold for. Other fields come from the first round. A name given twice in a round (a ceiling
 * measured before each of two workloads) is two results: the n-th of a name is combined with the
 * n-th of that name in the other rounds. One missing from some rounds is combined over the rounds
 * that have it. The results come in the order of their first appearance.
 */
export function combineRounds(rounds: readonly (readonly BenchResult[])[]): BenchResult[] {
  if (rounds.length === 1) return [...rounds[0]!];
  const byKey = new Map<string, BenchResult[]>();
  for (const round of rounds) {
    const seen = new Map<string, number>();
    for (const r of round) {
      const n = seen.get(r.name) ?? 0;
      seen.set(r.name, n + 1);
      const key = `${r.name}#${n}`;
      let runs = byKey.get(key);
      if (runs === undefined) byKey.set(key, (runs = []));
      runs.push(r);
    }
  }
  return [...byKey.values()].map(combine);
}

function combine(runs: BenchResult[]): BenchResult {
  const first = runs[0]!;
  if (runs.length === 1) return first;
  const out: BenchResult = { ...first };
  for (const [k, v] of Object.entries(first)) {
    if (typeof v !== 'number' || k.startsWith('rss')) continue;
    const xs = runs.map((r) => r[k]).filter((x): x is number => typeof x === 'number' && !Number.isNaN(x));
    if (xs.length > 0) out[k] = median(xs);
  }
  const peak = runs.reduce((a, b) => (numberOr(b.rss_mb, -1) > numberOr(a.rss_mb, -1) ? b : a));
  for (const [k, v] of Object.entries(peak)) if (k.startsWith('rss')) out[k] = v;
  for (const k of LISTED) {
    if (typeof first[k] === 'number') out[`${k}_runs`] = runs.map((r) => r[k]).map((x) => (typeof x === 'number' && !Number.isNaN(x) ? compact(x) : 'n/a')).join(' ');
  }
  out.rounds = runs.length;
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function numberOr(x: unknown, d: number): number {
  return typeof x === 'number' && !Number.isNaN(x) ? x : d;
}

/** Three significant figures: a run's figure for people, beside the median. */
function compact(x: number): string {
  return Number(x.toPrecision(3)).toString();
}
