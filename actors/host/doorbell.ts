/**
 * A doorbell: how a thread that reads several rings sleeps until any of them has work. Each ring's
 * own wait flag serves one reader of one ring; a partition host reads one request ring per client
 * thread, and a client reads one reply ring per host, so each gets one doorbell that every writer
 * rings after publishing.
 *
 * ```
 * Doorbell, version 1 (Int32 words in a 256-byte SharedArrayBuffer)
 *  word 0   sequence  incremented by a writer that finds the sleeper parked
 *  word 32  parked    1 while the sleeper is (about to be) parked; 128 bytes from the sequence
 * ```
 * Ringing costs one atomic load when nobody sleeps: the notify (a futex syscall, 30-64 us to wake
 * here; the call itself 10-20 us) happens only when the flag is up, once per park. The sleeper raises the flag, re-checks its rings, then
 * waits; writers publish before they load the flag. Both sides use sequentially consistent atomics,
 * so one of them always sees the other: no lost wake-up.
 */
import { parkAsyncHeld } from '../ring/wait.js';

const SEQ = 0;
const PARKED = 32;
const BYTES = 256;

export class Doorbell {
  private readonly i32: Int32Array;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.i32 = new Int32Array(buffer);
  }

  static create(): Doorbell {
    return new Doorbell(new SharedArrayBuffer(BYTES));
  }

  static attach(buffer: SharedArrayBuffer): Doorbell {
    return new Doorbell(buffer);
  }

  /**
   * Writer side, after publishing work. The writer that finds the flag up takes it down before it
   * notifies: the sleeper needs one wake-up, and it takes tens of microseconds to wake, during which
   * every later write (of this writer or another) would otherwise notify again (measured: about three
   * notifies per park at 2,000 round trips a second). A writer that finds the flag down relies on the
   * one that took it: the sleeper, once woken, drains every ring and re-checks them after raising
   * the flag again, and that re-check comes after the write.
   */
  ring(): void {
    if (Atomics.load(this.i32, PARKED) !== 0 && Atomics.compareExchange(this.i32, PARKED, 1, 0) === 1) {
      Atomics.add(this.i32, SEQ, 1);
      Atomics.notify(this.i32, SEQ);
    }
  }

  /**
   * Sleeper side: parks without blocking the event loop (Atomics.waitAsync, so LMDB commits and
   * timers keep running) until a writer rings or `timeoutMs` passes. `hasWork` is re-checked after
   * the flag is raised; if it finds work, parking is skipped. The caller keeps the event loop
   * alive meanwhile (holdEventLoop): a pending waitAsync does not.
   */
  // Not async: an async function's promise and frame per park were a good part of a parking
  // thread's garbage at low rates (a park per message). One reaction clears the flag instead.
  park(timeoutMs: number, hasWork: () => boolean): Promise<unknown> {
    const i32 = this.i32;
    const seq = Atomics.load(i32, SEQ);
    Atomics.store(i32, PARKED, 1);
    let woken: Promise<unknown> | undefined;
    try {
      if (!hasWork()) woken = parkAsyncHeld(i32, SEQ, seq, timeoutMs);
    } finally {
      if (woken === undefined) Atomics.store(i32, PARKED, 0);
    }
    return woken === undefined ? NOW : woken.then(this.lower);
  }

  private readonly lower = (): void => {
    Atomics.store(this.i32, PARKED, 0);
  };
}

const NOW: Promise<unknown> = Promise.resolve();
