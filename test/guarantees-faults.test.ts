/**
 * G1 under storage faults: an LMDB write that fails (ENOSPC, EIO) or is slow surfaces as a typed
 * error to the caller, and never as a lost acknowledged message, a phantom of a failed send, a
 * redelivery after a resolved ack, or a damaged log, also after a restart without the fault.
 * The faults are injected in every thread's store through MILLRACE_FAULTS (core/storage/faults.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, ManagedLedger, MessageId, MillraceError, Store } from '../index.js';
import { FAULTS_ENV, type FaultSpec } from '../core/storage/faults.js';
import { checkHistory, HistoryRecorder } from '../testkit/index.js';
import { bytes, topicName } from './util/messaging.js';
import { tempDir, removeDir } from './util/tmp.js';

async function openWithFaults(dir: string, faults: FaultSpec[] | undefined): Promise<Broker> {
  if (faults) process.env[FAULTS_ENV] = JSON.stringify(faults);
  try {
    // One worker: the fault counters are per thread, so the window of failing writes is exact.
    return await Broker.open({ dataDir: dir, workers: 1, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
  } finally {
    delete process.env[FAULTS_ENV];
  }
}

/** Drains a recorded consumer, acking; returns how many acks failed. */
async function drainAcking(c: ReturnType<HistoryRecorder['consumer']>, idleMs = 300): Promise<{ got: number; ackErrors: unknown[] }> {
  const ackErrors: unknown[] = [];
  let got = 0;
  for (let m = await c.receive({ timeoutMs: idleMs }); m; m = await c.receive({ timeoutMs: idleMs })) {
    got++;
    await c.ack(m).catch((e: unknown) => ackErrors.push(e));
  }
  return { got, ackErrors };
}

// These found two bugs in the managed ledger's failure path: a failed append rolled the ledger's
// byte count back under its sparse-index entry, so every later append to the ledger failed ("sparse
// index add: entries must come in order"); and an entry put failing before its ledger row's write
// settled was an unhandled rejection, which killed the worker.
for (const error of ['ENOSPC', 'EIO'] as const) {
  test(`faults - entry writes failing with ${error}: those sends fail with STORAGE_WRITE_FAILED, none is read, every acknowledged one is delivered, the log reads back whole after a restart`, async () => {
    const dir = tempDir('millrace-faults');
    const topic = topicName('faults');
    const rec = new HistoryRecorder();
    let broker = await openWithFaults(dir, [{ db: 'entries', error, after: 15, count: 12 }]);
    try {
      const c = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'shared', initialPosition: 'earliest' }), { kind: 'shared', initialPosition: 'earliest' });
      const p = rec.producer(await broker.createProducer({ topic, name: 'fp', batching: { enabled: false } }));
      const errors: unknown[] = [];
      for (let round = 0; round < 12; round++) {
        await Promise.all(Array.from({ length: 5 }, (_, i) => p.send({ value: bytes(`v${round}-${i}`), key: `k${i % 3}` }).catch((e: unknown) => errors.push(e))));
      }
      assert.ok(errors.length >= 12, `expected the injected write failures to fail sends, got ${errors.length} failures`);
      for (const e of errors) assert.ok(e instanceof MillraceError && e.code === 'STORAGE_WRITE_FAILED', `a failed write surfaced as ${String(e)}`);
      await drainAcking(c);
      let r = checkHistory(rec.history);
      assert.ok(r.valid, r.format());
      assert.ok(r.stats.sendsOk >= 40 && r.stats.sendsFailed === errors.length, r.format());
      await p.close();
      await broker.close();
      // Restart without faults: nothing failed appears, nothing acknowledged is missing; a reader
      // from the start sees every stored message exactly once and the log has no damaged entry.
      broker = await openWithFaults(dir, undefined);
      const reader = rec.reader(await broker.createReader({ topic, startMessageId: MessageId.earliest }), { name: 'after-restart', initialPosition: 'earliest' });
      while (await reader.readNext({ timeoutMs: 300 }));
      const c2 = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'shared' }), { kind: 'shared', initialPosition: 'earliest' });
      await drainAcking(c2);
      r = checkHistory(rec.history);
      assert.ok(r.valid, r.format());
      await broker.close();
      const store = Store.open(dir);
      try {
        const names = store.managedLedgerNames().filter((n) => n.includes('faults'));
        for (const n of names) {
          const ml = await ManagedLedger.open(store, n);
          const all = await ml.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 10_000 });
          assert.ok(all.length >= 40);
          await ml.close();
        }
      } finally {
        await store.close();
      }
    } finally {
      await broker.close().catch(() => undefined);
      removeDir(dir);
    }
  });
}

test('faults - cursor writes failing with EIO: those acks fail with STORAGE_WRITE_FAILED; after a restart nothing acked comes back and nothing is lost', async () => {
  const dir = tempDir('millrace-faults');
  const topic = topicName('faults-ack');
  const rec = new HistoryRecorder();
  let broker = await openWithFaults(dir, [{ db: 'cursors', error: 'EIO', after: 3, count: 4 }]);
  try {
    const p = rec.producer(await broker.createProducer({ topic, name: 'fa' }));
    const c = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 10 }), { kind: 'shared', initialPosition: 'earliest' });
    await Promise.all(Array.from({ length: 60 }, (_, i) => p.send({ value: bytes(`a${i}`) })));
    const ackErrors: unknown[] = [];
    // Ack one at a time so each ack is its own cursor write.
    for (let m = await c.receive({ timeoutMs: 300 }); m; m = await c.receive({ timeoutMs: 300 })) {
      await c.ack(m).catch((e: unknown) => ackErrors.push(e));
    }
    assert.ok(ackErrors.length > 0, 'no ack failed: the fault was not injected');
    for (const e of ackErrors) assert.ok(e instanceof MillraceError && e.code === 'STORAGE_WRITE_FAILED', `a failed cursor write surfaced as ${String(e)}`);
    await p.close();
    await broker.close();
    broker = await openWithFaults(dir, undefined);
    const c2 = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'shared' }), { kind: 'shared', initialPosition: 'earliest' });
    const again = await drainAcking(c2);
    assert.deepEqual(again.ackErrors, []);
    const r = checkHistory(rec.history);
    assert.ok(r.valid, r.format());
  } finally {
    await broker.close().catch(() => undefined);
    removeDir(dir);
  }
});

test('faults - slow entry and cursor writes (50 ms, 10 ms each) delay sends and acks but lose and repeat nothing', async () => {
  const dir = tempDir('millrace-faults');
  const topic = topicName('faults-slow');
  const rec = new HistoryRecorder();
  const broker = await openWithFaults(dir, [{ db: 'entries', delayMs: 50 }, { db: 'cursors', delayMs: 10 }]);
  try {
    const c = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'key_shared', initialPosition: 'earliest' }), { kind: 'key_shared', initialPosition: 'earliest' });
    const p = rec.producer(await broker.createProducer({ topic, name: 'fs', batching: { maxMessages: 10 } }));
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 100 }, (_, i) => p.send({ value: bytes(`s${i}`), key: `k${i % 4}` })));
    assert.ok(Date.now() - t0 >= 50, 'the writes were not delayed: the fault was not injected');
    await drainAcking(c);
    const r = checkHistory(rec.history);
    assert.ok(r.valid, r.format());
    assert.equal(r.stats.sendsOk, 100);
  } finally {
    await broker.close();
    removeDir(dir);
  }
});

test('faults - a malformed MILLRACE_FAULTS is refused with INVALID_ARGUMENT', async () => {
  process.env[FAULTS_ENV] = '{"db":"nope"}';
  try {
    assert.throws(() => Store.open(tempDir('millrace-faults')), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
  } finally {
    delete process.env[FAULTS_ENV];
  }
});

test('faults - closing the broker while a housekeeping pass writes: the pass finishes before the store closes', async () => {
  const dir = tempDir();
  try {
    const topic = topicName('close-pass');
    // Every cursor write takes 1.5 s; passes every 50 ms, each expiring what is over 1 ms old.
    process.env[FAULTS_ENV] = JSON.stringify([{ db: 'cursors', delayMs: 1500 }]);
    let broker: Broker;
    try {
      broker = await Broker.open({ dataDir: dir, workers: 1, maintenanceIntervalMs: 50, policies: { retention: { timeMs: -1, sizeBytes: -1 }, ttlMs: 1 } });
    } finally {
      delete process.env[FAULTS_ENV];
    }
    const consumer = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    await consumer.close();
    const producer = await broker.createProducer({ topic });
    for (const v of ['a', 'b']) await producer.send({ value: bytes(v) });
    // Wait until a pass has expired both messages (the cursor moved in memory): its write of that
    // takes 1.5 s, so it is still in flight when the close begins.
    for (const until = Date.now() + 10_000; Date.now() < until;) {
      if ((await broker.admin.stats(topic)).subscriptions['s']?.msgBacklog === 0) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']?.msgBacklog, 0, 'a pass expired the messages');
    await broker.close();
    broker = await Broker.open({ dataDir: dir, workers: 1, maintenanceIntervalMs: 3_600_000, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
    const again = await broker.subscribe({ topic, subscription: 's' });
    // Before the fix the store closed under the pass: its write failed and the expiry was lost.
    assert.equal(await again.receive({ timeoutMs: 300 }), null, 'the expiry the pass was writing was kept');
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('faults - closing the broker with an unawaited ack whose cursor write is slow: the ack resolves and is kept', async () => {
  const dir = tempDir();
  try {
    const topic = topicName('close-ack');
    let broker = await openWithFaults(dir, [{ db: 'cursors', delayMs: 300 }]);
    const consumer = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const producer = await broker.createProducer({ topic });
    for (const v of ['a', 'b']) await producer.send({ value: bytes(v) });
    const m = await consumer.receive({ timeoutMs: 5000 });
    assert.ok(m);
    const ack = consumer.ack(m).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 50));
    await broker.close();
    assert.equal(await ack, undefined, 'the ack resolved');
    broker = await openWithFaults(dir, undefined);
    const again = await broker.subscribe({ topic, subscription: 's' });
    const next = await again.receive({ timeoutMs: 5000 });
    assert.equal(new TextDecoder().decode(next?.data), 'b', 'the acked message is not delivered again');
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('faults - an ack nobody awaits that fails (its cursor write hits EIO) is no unhandled rejection; an awaited one rejects with STORAGE_WRITE_FAILED', async () => {
  const dir = tempDir('millrace-faults');
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);
  // The cursor's first write (its creation) passes; every later one fails.
  const broker = await openWithFaults(dir, [{ db: 'cursors', error: 'EIO', after: 1 }]);
  try {
    const topic = topicName('ack-unawaited');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic });
    await Promise.all(['a', 'b'].map((v) => p.send({ value: new TextEncoder().encode(v) })));
    const a = await c.receive({ timeoutMs: 2000 });
    const b = await c.receive({ timeoutMs: 2000 });
    void c.ack(a!); // the contract: calling ack without awaiting it is allowed
    await new Promise((r) => setTimeout(r, 300)); // its request fails meanwhile, with no handler of ours
    assert.deepEqual(unhandled, []);
    await assert.rejects(c.ack(b!), (e: unknown) => e instanceof MillraceError && e.code === 'STORAGE_WRITE_FAILED');
  } finally {
    process.off('unhandledRejection', onUnhandled);
    await broker.close();
    removeDir(dir);
  }
});
