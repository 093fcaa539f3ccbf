/**
 * The feature workers, from the parent's side: starts them (compiled JS, as worker threads need), sums
 * their counts, tells them to stop once every event is acked, and reports a worker's failure as the
 * run's.
 */
import { Worker } from 'node:worker_threads';
import { Broker, MillraceError } from '../index.js';
import type { FeatureWorkerCounts, FeatureWorkerData, FeatureWorkerMessage } from './feature-worker.js';

export const FEATURE_SUBSCRIPTION = 'feature-workers';
export const FEATURE_PRODUCER_PREFIX = 'features-';

const zero = (): FeatureWorkerCounts => ({ received: 0, published: 0, acked: 0, retriesDropped: 0, retriesStored: 0, redeliveriesDropped: 0, misrouted: 0 });

interface Slot {
  worker: Worker;
  counts: FeatureWorkerCounts;
  done: boolean;
  exited: Promise<number>;
}

export class FeaturePool {
  private failure: MillraceError | undefined;
  private readonly wake = new Set<() => void>();

  private constructor(private readonly slots: Slot[]) {}

  /** Starts `workers` feature workers on the events topic's Shared subscription; resolves once all subscribed. */
  static async start(broker: Broker, options: { eventsTopic: string; featuresTopic: string; workers: number; retryEvery: number }): Promise<FeaturePool> {
    const handle = broker.handle();
    const slots: Slot[] = [];
    const ready: Promise<void>[] = [];
    for (let i = 0; i < options.workers; i++) {
      const data: FeatureWorkerData = {
        handle, eventsTopic: options.eventsTopic, featuresTopic: options.featuresTopic, subscription: FEATURE_SUBSCRIPTION,
        name: `worker-${i}`, featuresProducerPrefix: FEATURE_PRODUCER_PREFIX, retryEvery: options.retryEvery,
      };
      const worker = new Worker(new URL('./feature-worker.js', import.meta.url), { workerData: data });
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      slots.push({ worker, counts: zero(), done: false, exited });
    }
    const pool = new FeaturePool(slots);
    for (const slot of slots) {
      ready.push(new Promise<void>((resolve, reject) => {
        slot.worker.on('message', (m: FeatureWorkerMessage) => {
          if (m.t === 'ready') resolve();
          else if (m.t === 'error') {
            pool.fail(new MillraceError('WORKER_DIED', `feature worker failed: ${m.message}`));
            reject(pool.failure);
          } else {
            slot.counts = m.counts;
            if (m.t === 'done') slot.done = true;
            pool.notify();
          }
        });
        slot.worker.on('error', (err) => {
          pool.fail(new MillraceError('WORKER_DIED', `feature worker crashed: ${err.message}`, { cause: err }));
          reject(pool.failure);
        });
        void slot.exited.then((code) => {
          if (!slot.done) {
            pool.fail(new MillraceError('WORKER_DIED', `feature worker exited (code ${code}) before it was done`));
            reject(pool.failure);
          }
        });
      }));
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await pool.terminate();
      throw err;
    }
    return pool;
  }

  private fail(err: MillraceError): void {
    this.failure ??= err;
    this.notify();
  }

  private notify(): void {
    for (const w of this.wake) w();
  }

  /** The workers' counts, summed. */
  totals(): FeatureWorkerCounts {
    const t = zero();
    for (const s of this.slots) for (const k of Object.keys(t) as (keyof FeatureWorkerCounts)[]) t[k] += s.counts[k];
    return t;
  }

  /** Features each worker stored. */
  perWorker(): number[] {
    return this.slots.map((s) => s.counts.published);
  }

  /**
   * Waits until `total` events are acked (TIMEOUT when none is for `stallMs`), then stops the
   * workers and waits for their final counts.
   */
  async finish(total: number, stallMs: number, onProgress: (t: FeatureWorkerCounts) => void): Promise<FeatureWorkerCounts> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      if (this.failure) throw this.failure;
      const t = this.totals();
      onProgress(t);
      if (t.acked >= total) break;
      if (t.acked !== last) {
        last = t.acked;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > stallMs) {
        throw new MillraceError('TIMEOUT', `feature workers acked ${t.acked} of ${total} events and none more for ${stallMs} ms`);
      }
      await this.nextReport(200);
    }
    for (const s of this.slots) s.worker.postMessage({ t: 'stop' });
    const deadline = Date.now() + stallMs;
    while (!this.slots.every((s) => s.done)) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new MillraceError('TIMEOUT', `feature workers did not stop within ${stallMs} ms`);
      await this.nextReport(200);
    }
    await Promise.all(this.slots.map((s) => s.exited));
    const t = this.totals();
    onProgress(t);
    return t;
  }

  private nextReport(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
  }

  /** Stops every worker at once (after a failure). Idempotent. */
  async terminate(): Promise<void> {
    for (const s of this.slots) s.done = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate().catch(() => undefined)));
  }
}
