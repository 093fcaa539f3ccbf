/**
 * Parking a thread on a ring word. The protocol (the same for "reader waits for data" and "writer
 * waits for space"):
 *
 *   waiter:  store(flag, 1); v = load(word); if (condition met) done; else wait(word, v, timeout)
 *   waker:   store(word, new); if (load(flag) != 0) { store(flag, 0); notify(word) }
 *
 * All four are sequentially consistent Atomics, so either the waiter sees the new word or the waker
 * sees the flag (Dekker); and a notify that lands before the waiter reaches `wait` is not lost,
 * because `wait(word, v)` returns at once when the word no longer holds `v`. The waker pays one
 * plain atomic load per publish and makes a syscall only while someone is parked.
 */

/**
 * Sync park: `Atomics.wait`. Blocks the calling thread, event loop included: worker threads only
 * (on the main thread it freezes every timer and I/O callback for up to `timeoutMs`).
 */
export function parkSync(i32: Int32Array, index: number, expected: number, timeoutMs: number): void {
  Atomics.wait(i32, index, expected, timeoutMs);
}

/**
 * A short busy pause without touching shared memory (JS has no PAUSE instruction). Measured with a
 * main-thread writer and a worker reader of 64 B records: when the reader polls tail and the header
 * at head back to back, it steals the cache lines the writer is writing and drains one record per
 * batch (16-18M msg/s); pausing ~50 iterations between polls lets batches grow (avg 4+ records) and
 * gave 24-26M msg/s, at a cost of tens of nanoseconds of latency.
 */
export function pause(iterations: number): void {
  let x = 0;
  for (let i = 0; i < iterations; i++) x += i;
  pauseSink ^= x;
}
/** Written so the optimizer cannot drop the pause loop. */
let pauseSink = 0;
export const PAUSE_ITERATIONS = 200;

/** An interval far in the future: a ref'd handle that only keeps the event loop alive. */
const KEEP_ALIVE_MS = 2 ** 30;

/**
 * Async park: `Atomics.waitAsync`, for the main thread. A pending waitAsync does NOT keep Node's
 * event loop alive (measured: the process exits under an awaited waitAsync), so a ref'd interval is
 * held for the duration of the wait and cleared when it settles.
 */
export async function parkAsync(i32: Int32Array, index: number, expected: number, timeoutMs: number): Promise<void> {
  const r = waitAsync(i32, index, expected, timeoutMs);
  if (!r.async) return;
  const keepAlive = setInterval(noop, KEEP_ALIVE_MS);
  try {
    await r.value;
  } finally {
    clearInterval(keepAlive);
  }
}

function noop(): void {}

/**
 * Async park for a caller that keeps the event loop alive itself for as long as it may park (see
 * {@link holdEventLoop}): no interval per park, which was most of a park's garbage. Returns
 * undefined when the word already differs.
 */
export function parkAsyncHeld(i32: Int32Array, index: number, expected: number, timeoutMs: number): Promise<unknown> | undefined {
  const r = waitAsync(i32, index, expected, timeoutMs);
  return r.async ? r.value : undefined;
}

/** A ref'd handle that keeps the event loop alive until the returned function is called. */
export function holdEventLoop(): () => void {
  const keepAlive = setInterval(noop, KEEP_ALIVE_MS);
  return () => clearInterval(keepAlive);
}

/** Atomics.waitAsync exists in Node 20 (V8 8.7+) but the project's lib is ES2022, which lacks its type. */
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as {
  waitAsync(i32: Int32Array, index: number, expected: number, timeoutMs: number): WaitAsyncResult;
}).waitAsync;

/** Wakes a parked peer if its flag says it is parked (or about to park). */
export function wakeIfParked(i32: Int32Array, flagIndex: number, wordIndex: number): void {
  if (Atomics.load(i32, flagIndex) !== 0) {
    Atomics.store(i32, flagIndex, 0);
    Atomics.notify(i32, wordIndex);
  }
}
