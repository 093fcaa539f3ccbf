/**
 * Seeds for property tests: fixed in CI so runs repeat, overridable with MILLRACE_SEED to replay a
 * failure, and more runs under MILLRACE_SOAK=1 (`npm run test:soak`).
 */
export const SOAK = process.env.MILLRACE_SOAK === '1';

export function testSeed(fallback: number): number {
  const s = process.env.MILLRACE_SEED;
  if (s === undefined || s === '') return fallback;
  const n = Number(s);
  if (!Number.isInteger(n)) throw new Error(`MILLRACE_SEED must be an integer, got ${s}`);
  return n;
}

/** Runs per property: `normal` by default, `soak` in soak runs. */
export function runs(normal: number, soak: number): number {
  return SOAK ? soak : normal;
}

/** A small deterministic PRNG (mulberry32) for workloads that must be regenerated to be checked. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
