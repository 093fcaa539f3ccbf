/**
 * A partition restarted on a thread that read from LMDB a moment before must recover from the latest
 * commit, not from that thread's reused read snapshot: the entries a dead worker committed and
 * acknowledged (and their sequence IDs, which deduplication rebuilds from the log) would otherwise
 * be sealed out of the ledger, a loss of acknowledged messages. This was the cause of the lost
 * batches in the supervision test whose worker dies by an uncaught error.
 *
 * The file is its own worker: the worker plays the host that dies (appends, then exits without
 * closing anything); the main thread plays the surviving host, which read just before and recovers
 * the partition in the same event-loop turn (Atomics.wait keeps lmdb-js's reset timer from firing).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { ManagedLedger, Store } from '../core/index.js';
import { DedupState } from '../actors/partition/dedup.js';
import { tempDir, removeDir } from './util/tmp.js';

const NAME = 'persistent://t/ns/stale-partition-0';
const enc = new TextEncoder();
const batch = (first: number, n: number) => ({
  producerName: enc.encode('p'),
  messages: Array.from({ length: n }, (_, i) => ({ value: enc.encode(`m${first + i}`), sequenceId: first + i })),
});

if (!isMainThread) {
  const { dir, flag } = workerData as { dir: string; flag: SharedArrayBuffer };
  const store = Store.open(dir, { durability: 'async' });
  const ml = await ManagedLedger.open(store, NAME);
  for (let i = 0; i < 4; i++) await ml.append(batch(100 + i * 10, 10));
  const f = new Int32Array(flag);
  Atomics.store(f, 0, 1);
  Atomics.notify(f, 0);
  // Die like a crashed host: nothing closed, nothing sealed.
  process.exit(0);
} else {
  test('dedup - a partition recovered on a thread with a recent read snapshot sees every entry a dead worker committed, and their sequence IDs', async () => {
    const dir = tempDir('millrace-dedup-stale');
    const store = Store.open(dir, { durability: 'async' });
    try {
      // The first host: a few entries, then it "dies" (closed without sealing, as after a crash).
      {
        const ml = await ManagedLedger.open(store, NAME);
        for (let i = 0; i < 3; i++) await ml.append(batch(i * 10, 10));
      }
      const flag = new SharedArrayBuffer(4);
      const worker = new Worker(new URL(import.meta.url), { workerData: { dir, flag } });
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      await new Promise<void>((resolve) => worker.once('online', resolve));
      // This thread reads now (a read snapshot begins), waits for the worker's commits without
      // yielding to the event loop, then recovers the partition.
      assert.equal(typeof store.meta.get(['ml', NAME]), 'number');
      assert.equal(Atomics.wait(new Int32Array(flag), 0, 0, 30_000), 'ok');
      const ml = await ManagedLedger.open(store, NAME);
      const dedup = await DedupState.recover(store, ml);
      await exited;
      const entries = await ml.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 100 });
      // 3 entries of the first host, 4 of the worker (a ledger of their own: the worker recovered the first).
      assert.equal(entries.length, 7, `recovered ${entries.length} entries`);
      assert.equal(dedup.lastSequenceId(Buffer.from('p').toString('latin1')), 139);
      await ml.close();
    } finally {
      await store.close();
      removeDir(dir);
    }
  });
}
