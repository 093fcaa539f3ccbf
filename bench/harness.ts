/**
 * The benchmark contract: every scenario file exports one {@link Scenario}; `bench/run.ts` runs them
 * and prints one JSON document on stdout (progress and tables on stderr). A result names what it
 * measured and its unit; a comparison carries its baseline from the same run as a separate result,
 * so ratios are taken between figures measured minutes apart on the same noisy machine.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** One measured figure. Extra numeric fields (p50_us, bytes_per_s, rss_mb...) sit beside `value`. */
export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  [extra: string]: number | string | boolean | undefined;
}

/** What a scenario gets from the runner. */
export interface BenchContext {
  /** Shorten every workload to a few seconds (smoke runs). */
  readonly quick: boolean;
  /** Progress for people, on stderr. */
  log(message: string): void;
  /** A fresh temporary directory, removed when the run ends. */
  tmpDir(prefix: string): string;
}

/** A benchmark scenario, named by topology (`ring.spsc`, `log.append`). */
export interface Scenario {
  readonly name: string;
  /** What the scenario's results are compared against, for the reader of the table. */
  readonly description: string;
  /**
   * A whole workload (one figure per run, no iterations of its own to average): the runner runs it
   * in each of its rounds and reports the median (see ./rounds.ts).
   */
  readonly whole?: boolean;
  run(ctx: BenchContext): Promise<BenchResult[]>;
}

export function createContext(quick: boolean): BenchContext & { cleanup(): void } {
  const dirs: string[] = [];
  return {
    quick,
    log: (m) => process.stderr.write(`${m}\n`),
    tmpDir(prefix) {
      const d = mkdtempSync(join(tmpdir(), `millrace-bench-${prefix}-`));
      dirs.push(d);
      return d;
    },
    cleanup() {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Percentile of an ascending-sorted array (nearest rank). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Peak resident set size of this process so far, in MB (the kernel's high-water mark). */
export function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** Resident memory split as Linux reports it: anonymous (heaps, rings, malloc) and file-backed (mmap'd LMDB pages, the node binary). */
export interface RssParts {
  rss_anon_mb: number;
  rss_file_mb: number;
}

/**
 * Samples this process's resident memory every 25 ms until stopped; `stop()` returns the peak in
 * MB. Worker threads are threads of this process, so their heaps count; so do touched LMDB file
 * pages (mmap). On Linux `parts()` (after `stop()`) splits the peak sample into anonymous and
 * file-backed memory, which tells heap growth from LMDB's map; elsewhere it is undefined.
 */
export function rssSampler(): { stop(): number; parts(): RssParts | undefined } {
  let peak = 0;
  let peakParts: RssParts | undefined;
  const sample = (): void => {
    const parts = readRssParts();
    const rss = parts ? (parts.rss_anon_mb + parts.rss_file_mb) * 2 ** 20 : process.memoryUsage.rss();
    if (rss > peak) {
      peak = rss;
      peakParts = parts;
    }
  };
  sample();
  const t = setInterval(sample, 25);
  return {
    stop() {
      clearInterval(t);
      sample();
      return peak / 2 ** 20;
    },
    parts: () => peakParts,
  };
}

let procStatus = process.platform === 'linux';

function readRssParts(): RssParts | undefined {
  if (!procStatus) return undefined;
  try {
    const status = readFileSync('/proc/self/status', 'latin1');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    const anon = kb('RssAnon');
    const file = kb('RssFile') + kb('RssShmem');
    if (Number.isNaN(anon) || Number.isNaN(file)) throw new Error('no RssAnon/RssFile');
    return { rss_anon_mb: Math.round(anon / 10.24) / 100, rss_file_mb: Math.round(file / 10.24) / 100 };
  } catch {
    procStatus = false;
    return undefined;
  }
}
