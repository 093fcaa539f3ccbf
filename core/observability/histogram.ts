/**
 * A fixed-bucket latency histogram (Prometheus' cumulative-bucket model): recording is a short loop
 * over the bounds and three additions, with no allocation, so it can sit on a per-batch path.
 */

/** Upper bounds in seconds: 100 us to 10 s, as Prometheus' default buckets extended downward. */
export const LATENCY_BUCKETS_S: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** A snapshot: `counts[i]` observations fell in (bounds[i-1], bounds[i]]; the last slot is +Inf. */
export interface HistogramSnapshot {
  bounds: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram {
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;
  /** Also called with every observation (an OpenTelemetry histogram's `record`), when set. */
  forward: ((seconds: number) => void) | undefined;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS_S) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one observation, in seconds. */
  record(seconds: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.counts[i]! += 1;
    this.sum += seconds;
    this.count++;
    this.forward?.(seconds);
  }

  snapshot(): HistogramSnapshot {
    return { bounds: this.bounds, counts: [...this.counts], sum: this.sum, count: this.count };
  }
}

/** Append round trips (client to partition actor to durable and back) of this thread's producers, per batch. */
export const appendLatency = new Histogram();
