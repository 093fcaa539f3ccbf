import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManagedLedger, Store } from '../index.js';
import { PartitionMaintenance } from '../actors/partition/maintenance.js';
import { tempDir, removeDir } from './util/tmp.js';

const NAME = 'persistent://public/default/maint-partition-0';

async function withMaintenance(fn: (m: PartitionMaintenance, store: Store) => Promise<void>): Promise<void> {
  const dir = tempDir('millrace-maint');
  const store = Store.open(dir, { durability: 'async' });
  try {
    const ml = await ManagedLedger.open(store, NAME);
    await fn(new PartitionMaintenance(store, ml, () => [], undefined, false), store);
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
