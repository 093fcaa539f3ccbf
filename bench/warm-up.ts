/**
 * The throughput workloads' warm-up: each runs its own loop for WARMUP messages first and leaves
 * them out of its figure, as `e2e.latency.2k` leaves out its first 10 s and as the OpenMessaging
 * Benchmark runs a warm-up phase before it measures. Right after start, a run measures V8 compiling
 * the send, dispatch and receive paths as they get hot (and the LMDB map growing), not the steady
 * state a long-running pipeline sees: five back-to-back rounds of 1,000,000 messages of e2e.pubsub on
 * one broker ran the first round at 0.89-1.07M msg/s and the later ones at 1.09-1.41M. Every warmed
 * result reports the warm-up's own rate (`warmup_msg_per_s`), so the cold figure stays in view.
 */

/**
 * Messages of the warm-up (a tenth in a quick run). 300,000: e2e.pubsub after it measured as after
 * 500,000 (1.01-1.15M against 0.93-1.13M msg/s, four runs each), with a lower peak RSS (350-366
 * against 375-387 MB: every message read stays mapped from the LMDB file while the data is kept).
 */
export function warmupMessages(quick: boolean): number {
  return quick ? 30_000 : 300_000;
}

/** What a warmed result reports of its warm-up. */
export interface WarmUpFields {
  warmup_messages: number;
  warmup_msg_per_s: number;
}

/**
 * Runs `run(n)` over the warm-up's `n` messages and times it. `run` may resolve with a count of
 * failed sends, which is passed on (a workload counts its warm-up's failures with its own).
 */
export async function warmUp(quick: boolean, run: (n: number) => Promise<number | void>): Promise<{ fields: WarmUpFields; failed: number }> {
  const n = warmupMessages(quick);
  const t0 = performance.now();
  const failed = (await run(n)) ?? 0;
  return { fields: { warmup_messages: n, warmup_msg_per_s: n / ((performance.now() - t0) / 1000) }, failed };
}
