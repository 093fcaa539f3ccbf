/**
 * Which threads of this process have ended. A worker thread stopped by `worker.terminate()` (or by
 * its parent's end) runs no more JavaScript, so its own `process.on('exit')` goodbye never comes;
 * only its parent thread sees it end, as the Worker's 'exit' event. So every thread that loads the
 * client watches the workers it starts and announces their ends on one process-wide channel, and
 * the broker's main thread drops the clients of a thread that ended (their consumers leave, and
 * what they held is redelivered). A worker started before this module loaded in its parent thread
 * is not watched.
 */
import { BroadcastChannel, type Worker } from 'node:worker_threads';

/** The channel of thread ends, one per process. */
const CHANNEL = `millrace-thread-exits-${process.pid}`;

interface ThreadExit { t: 'thread-exit'; threadId: number }

let watching = false;
let announcer: BroadcastChannel | undefined;

/** Starts watching the worker threads this thread starts from now on. Idempotent. */
export function watchThreadExits(): void {
  if (watching) return;
  watching = true;
  process.on('worker', (w: Worker) => {
    // Read now: a Worker's threadId reads -1 once it has exited.
    const threadId = w.threadId;
    w.once('exit', () => {
      if (!announcer) {
        announcer = new BroadcastChannel(CHANNEL);
        // Announcing must never keep a thread alive.
        announcer.unref();
      }
      announcer.postMessage({ t: 'thread-exit', threadId } satisfies ThreadExit);
    });
  });
}

/** Calls `fn` with the thread ID of each watched thread that ends, until `close()`. */
export function onThreadExit(fn: (threadId: number) => void): { close(): void } {
  const channel = new BroadcastChannel(CHANNEL);
  channel.unref();
  channel.onmessage = (e: unknown) => {
    const m = (e as { data: unknown }).data as Partial<ThreadExit> | null;
    if (m !== null && typeof m === 'object' && m.t === 'thread-exit' && typeof m.threadId === 'number') fn(m.threadId);
  };
  return { close: () => channel.close() };
}
