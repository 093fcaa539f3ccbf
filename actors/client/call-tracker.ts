/**
 * The calls running on an object that a close must wait for: a broker's opening calls and admin
 * calls read and write the data directory's store between their awaits, and the store must not close
 * under them (lmdb-js then fails inside the call, not with CLOSED, and its own timers throw later,
 * out of a callback, which ends the process).
 */
import { MillraceError } from '../../core/errors.js';

export class CallTracker {
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  /** @param closedMessage the CLOSED error's message, e.g. 'the broker is closed'. */
  constructor(private readonly closedMessage: string) {}

  /** CLOSED once {@link close} has begun. */
  assertOpen(): void {
    if (this.closed) throw new MillraceError('CLOSED', this.closedMessage);
  }

  /** Runs one call (rejects CLOSED once close has begun); {@link close} waits for it to end. */
  run<R>(call: () => Promise<R>): Promise<R> {
    try {
      this.assertOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const running = call();
    this.running.add(running);
    const done = (): void => {
      this.running.delete(running);
    };
    running.then(done, done);
    return running;
  }

  /** Refuses new calls; resolves once the running ones have ended, however they end. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([...this.running]);
  }
}
