import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManagedLedger, Store, type Position } from '../index.js';
import { PartitionMaintenance } from '../actors/partition/maintenance.js';
import { tempDir, removeDir } from './util/tmp.js';

const NAME = 'persistent://public/default/maint-partition-0';

async function withMaintenance(fn: (m: PartitionMaintenance, store: Store, ml: ManagedLedger) => Promise<void>,
  beforeTrim?: (through: Position) => Promise<void>): Promise<void> {
  const dir = tempDir('millrace-maint');
  const store = Store.open(dir, { durability: 'async' });
  try {
    const ml = await ManagedLedger.open(store, NAME, { maxEntries: 1 });
    await fn(new PartitionMaintenance(store, ml, () => [], undefined, false, undefined, Date.now, beforeTrim), store, ml);
    await ml.close();
  } finally {
    await store.close();
    removeDir(dir);
  }
}

test('maintenance - a request made while a pass runs gets a pass of its own that sees what changed before it', async () => {
  await withMaintenance(async (m, store) => {
    const first = m.run();
    // Written after the first pass read the policies, then asked for: the answer must include it.
    await store.settle(store.topics.put(['policies', 'public/default'], { ttlMs: 1234 }));
    await m.run();
    assert.equal(m.policies.ttlMs, 1234);
    await first;
    // Concurrent requests share passes instead of queueing one each, and all resolve.
    await Promise.all([m.run(), m.run(), m.run({ light: true })]);
  });
});

test('maintenance - a light pass skips the offload step unless an offload is asked for', async () => {
  await withMaintenance(async (m) => {
    await m.run({ light: true });
    assert.equal(m.offloadStatus.status, 'NOT_RUN');
    // Forced: the step runs (and reports that no tiered storage is configured).
    await m.run({ light: true, offloadNow: true });
    assert.equal(m.offloadStatus.status, 'ERROR');
  });
});

test('maintenance - stop() during a pass lets it finish trimming, so a short-lived process still deletes what nothing needs', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let entered!: () => void;
  const inTrim = new Promise<void>((r) => (entered = r));
  // The snapshot before a trim is a durable commit: slow on a slow disk, and a close can come
  // meanwhile. The pass used to give up there and leave the ledgers for the next process.
  await withMaintenance(async (m, _store, ml) => {
    const value = new TextEncoder().encode('x');
    for (let i = 0; i < 3; i++) await ml.append({ producerName: new TextEncoder().encode('p'), messages: [{ value, sequenceId: i }] });
    assert.ok(ml.ledgers().filter((l) => l.state !== 'open').length >= 2, 'one entry per ledger: sealed ledgers to trim');
    const pass = m.run();
    await inTrim;
    const stopped = m.stop();
    release();
    await stopped;
    await pass;
    assert.deepEqual(ml.ledgers().filter((l) => l.state !== 'open').map((l) => l.ledgerId), [], 'sealed ledgers trimmed (no subscription, default retention)');
    // And no pass starts after stop().
    const before = ml.ledgers().length;
    await ml.append({ producerName: new TextEncoder().encode('p'), messages: [{ value, sequenceId: 9 }] });
    await m.run();
    assert.ok(ml.ledgers().length > before, 'nothing trimmed after stop');
  }, async () => {
    entered();
    await gate;
  });
});
