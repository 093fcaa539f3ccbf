/**
 * The two durability modes of the store: `durable` flushes each commit; `async` flushes nothing on
 * the commit path and relies on a periodic background flush (and one at close). What a process
 * crash does to async mode is the crash suite's (test/crash/broker-crash.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, MillraceError, Store } from '../index.js';
import { tempDir, removeDir } from './util/tmp.js';

/** Counts the flushes of a store's environment by wrapping lmdb-js's `sync(callback)`. */
function countSyncs(store: Store): { readonly count: number } {
  const root = store.root as unknown as { sync(cb: (err?: unknown) => void): void };
  const inner = root.sync.bind(root);
  const counter = { count: 0 };
  root.sync = (cb) => {
    counter.count++;
    inner(cb);
  };
  return counter;
}

test('storage - async durability flushes the environment every syncIntervalMs, and at close', async () => {
  const dir = tempDir();
  try {
    const store = Store.open(dir, { durability: 'async', syncIntervalMs: 20 });
    const syncs = countSyncs(store);
    await store.meta.put(['k'], 1);
    await new Promise((r) => setTimeout(r, 150));
    assert.ok(syncs.count >= 2, `expected periodic flushes, saw ${syncs.count}`);
    const before = syncs.count;
    await store.close();
    assert.equal(syncs.count, before + 1, 'close flushes once more');
    await store.close();
    assert.equal(syncs.count, before + 1, 'a second close does nothing');
    const again = Store.open(dir);
    assert.equal(again.meta.get(['k']), 1);
    await again.close();
  } finally {
    removeDir(dir);
  }
});

test('storage - durable mode runs no background flush; concurrent sync() calls share one flush', async () => {
  const dir = tempDir();
  try {
    const store = Store.open(dir, { durability: 'durable', syncIntervalMs: 10 });
    const syncs = countSyncs(store);
    await store.meta.put(['k'], 2);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(syncs.count, 0, 'every durable commit is flushed already');
    await Promise.all([store.sync(), store.sync(), store.sync()]);
    assert.equal(syncs.count, 1);
    await store.close();
    assert.equal(syncs.count, 1, 'a durable close has nothing to flush');
  } finally {
    removeDir(dir);
  }
});

test('storage - a bad syncIntervalMs is a typed error, and the broker leaves the data dir unlocked', async () => {
  const dir = tempDir();
  try {
    for (const bad of [-1, Number.NaN, Infinity, 2 ** 31]) {
      assert.throws(() => Store.open(dir, { durability: 'async', syncIntervalMs: bad }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
      await assert.rejects(Broker.open({ dataDir: dir, durability: 'async', syncIntervalMs: bad }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
    }
    const broker = await Broker.open({ dataDir: dir, durability: 'async', syncIntervalMs: 50 });
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('storage - an async broker acknowledges sends and acks, and a reopen in durable mode finds them', async () => {
  const dir = tempDir();
  try {
    let broker = await Broker.open({ dataDir: dir, durability: 'async', workers: 1, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
    const consumer = await broker.subscribe({ topic: 'd', subscription: 's', initialPosition: 'earliest' });
    const producer = await broker.createProducer({ topic: 'd' });
    for (let i = 0; i < 10; i++) await producer.send({ value: `m${i}` });
    for (let i = 0; i < 4; i++) {
      const m = await consumer.receive({ timeoutMs: 5000 });
      assert.ok(m);
      await consumer.ack(m);
    }
    await broker.close();
    broker = await Broker.open({ dataDir: dir, workers: 1, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
    const again = await broker.subscribe({ topic: 'd', subscription: 's' });
    const m = await again.receive({ timeoutMs: 5000 });
    assert.equal(new TextDecoder().decode(m?.data), 'm4', 'the four acks were kept, and nothing after them lost');
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('storage - a failing background flush is reported to onSyncError as STORAGE_WRITE_FAILED, not dropped', async () => {
  const dir = tempDir();
  try {
    const errors: MillraceError[] = [];
    const store = Store.open(dir, { durability: 'async', syncIntervalMs: 10, onSyncError: (e) => errors.push(e) });
    // fsync failing as it does on a dying disk: lmdb-js calls back with the error.
    (store.root as unknown as { sync(cb: (err?: unknown) => void): void }).sync = (cb) => setImmediate(() => cb(new Error('EIO: i/o error, fsync')));
    await new Promise((r) => setTimeout(r, 80));
    assert.ok(errors.length >= 1, 'the failure was reported');
    assert.ok(errors.every((e) => e.code === 'STORAGE_WRITE_FAILED' && /EIO/.test(String((e.cause as Error).message))));
    await store.close();
  } finally {
    removeDir(dir);
  }
});

test('storage - put commits on the calling thread in async mode (no writer-thread round trip), through the writer in durable mode', async () => {
  for (const durability of ['async', 'durable'] as const) {
    const dir = tempDir();
    try {
      const store = Store.open(dir, { durability });
      const done = store.put(store.meta, ['k'], 7);
      // Async mode: committed once this synchronous run ends, in a microtask, so this thread reads it
      // before any timer or setImmediate. Durable mode: still queued for lmdb-js's writer thread,
      // which starts in a setImmediate.
      await new Promise<void>((resolve) => queueMicrotask(resolve));
      assert.equal(store.meta.get(['k']), durability === 'async' ? 7 : undefined, durability);
      await done;
      assert.equal(store.meta.get(['k']), 7);
      await store.close();
      const again = Store.open(dir);
      assert.equal(again.meta.get(['k']), 7, `${durability}: the value is stored`);
      await again.close();
    } finally {
      removeDir(dir);
    }
  }
});

test('storage - in async mode a put that cannot be written fails its whole transaction, and the next run commits', async () => {
  const dir = tempDir();
  try {
    const store = Store.open(dir, { durability: 'async' });
    const good = store.put(store.meta, ['good'], 1);
    // Over LMDB's maximum key size (1,978 bytes): putSync throws inside the group's transaction.
    const bad = store.put(store.meta, ['k'.repeat(4000)], 2);
    const outcomes = await Promise.allSettled([good, bad]);
    assert.deepEqual(outcomes.map((o) => o.status), ['rejected', 'rejected'], 'one transaction: both fail, neither is half-stored');
    assert.equal(store.meta.get(['good']), undefined);
    await store.put(store.meta, ['after'], 3);
    assert.equal(store.meta.get(['after']), 3, 'a failed group leaves the store usable');
    await store.close();
  } finally {
    removeDir(dir);
  }
});

test('storage - in async mode the puts of one synchronous run share one transaction, in call order', async () => {
  const dir = tempDir();
  try {
    const store = Store.open(dir, { durability: 'async' });
    const txnId = (): number => (store.root.getStats() as { lastTxnId: number }).lastTxnId;
    const before = txnId();
    const puts: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) puts.push(store.put(store.meta, ['n', i], i));
    // The same key twice in one run: the later value is the one stored.
    puts.push(store.put(store.meta, ['same'], 'first'), store.put(store.meta, ['same'], 'second'));
    assert.equal(store.meta.get(['n', 0]), undefined, 'nothing is committed before the run ends');
    await Promise.all(puts);
    assert.equal(txnId() - before, 1, 'one commit for the whole run (a commit per put was most of a host\'s time under unbatched sends)');
    for (let i = 0; i < 100; i++) assert.equal(store.meta.get(['n', i]), i);
    assert.equal(store.meta.get(['same']), 'second');
    // A later run is its own transaction.
    await store.put(store.meta, ['later'], 1);
    assert.equal(txnId() - before, 2);
    await store.close();
  } finally {
    removeDir(dir);
  }
});
