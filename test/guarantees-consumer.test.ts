/**
 * G5 (durable redelivery counts, DLQ after exactly maxRedeliverCount across a restart), G6
 * (seek(time) as a property, over many ledgers), G9 (a slow consumer over a large backlog buffers
 * at most its receiver queue; heap measured) and G10 (a handler slower than every timeout, async or
 * blocking the thread, changes nothing: no redelivery, no loss), each checked with the history
 * checker as well.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { checkHistory, HistoryRecorder } from '../testkit/index.js';
import { DEFAULT_CLAIM_TIMEOUT_MS } from '../actors/ring/ring-options.js';
import { bytes, sleep, text, topicName, withBroker } from './util/messaging.js';
import { runs, testSeed } from './util/seed.js';

test('G5 - redelivery counts survive a restart and the DLQ gets the message after exactly maxRedeliverCount redeliveries', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('g5');
    const opts = { topic, subscription: 's', type: 'shared' as const, initialPosition: 'earliest' as const, nackRedeliveryDelayMs: 10, deadLetter: { maxRedeliverCount: 4 } };
    let c = await ctx.broker.subscribe(opts);
    const p = await ctx.broker.createProducer({ topic });
    await p.send({ value: bytes('poison') });
    const counts: number[] = [];
    for (let i = 0; i < 2; i++) {
      const m = await c.receive({ timeoutMs: 2000 });
      assert.ok(m);
      counts.push(m.redeliveryCount);
      c.nack(m);
    }
    await sleep(100);
    const broker = await ctx.reopen();
    const dlq = await broker.subscribe({ topic: `${topic}-s-DLQ`, subscription: 'd', type: 'shared', initialPosition: 'earliest' });
    c = await broker.subscribe(opts);
    for (let m = await c.receive({ timeoutMs: 800 }); m; m = await c.receive({ timeoutMs: 800 })) {
      counts.push(m.redeliveryCount);
      c.nack(m);
    }
    // Counts 0..4 delivered (one restart in between: four redeliveries, as in Pulsar), then the DLQ:
    // never more, never fewer.
    assert.deepEqual(counts, [0, 1, 2, 3, 4]);
    const dead = await dlq.receive({ timeoutMs: 2000 });
    assert.equal(dead && text(dead), 'poison');
    assert.equal(await dlq.receive({ timeoutMs: 300 }), null, 'dead-lettered once');
  });
});

test('G6 - seek(time) lands on the first message with publishTime >= time, for any time, over many ledgers (property)', async () => {
  const seed = testSeed(20261203);
  await withBroker(async ({ broker }) => {
    const topic = topicName('g6');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest', receiverQueueSize: 50 });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 3, maxDelayMs: 0 } });
    const all: { value: string; time: number }[] = [];
    for (let i = 0; i < 60; i++) {
      await p.send({ value: bytes(`t${i}`) });
      if (i % 2 === 0) await sleep(2);
    }
    for (let m = await c.receive({ timeoutMs: 300 }); m; m = await c.receive({ timeoutMs: 300 })) {
      all.push({ value: text(m), time: m.publishTime });
      await c.ack(m);
    }
    assert.equal(all.length, 60);
    const lo = all[0]!.time - 5;
    const hi = all[all.length - 1]!.time + 5;
    await fc.assert(fc.asyncProperty(fc.integer({ min: lo, max: hi }), async (t) => {
      await c.seek(t);
      const first = await c.receive({ timeoutMs: 300 });
      const want = all.find((x) => x.time >= t);
      assert.equal(first ? text(first) : undefined, want?.value, `seek(${t}): got ${first ? text(first) : 'nothing'}, the first message published at or after it is ${want?.value}`);
      // Drain what the seek made available, so the next seek starts clean.
      while (await c.receive({ timeoutMs: 20 }));
    }), { seed, numRuns: runs(15, 300) }).catch((err: unknown) => {
      throw new Error(`G6 failed with seed ${seed} (rerun: MILLRACE_SEED=${seed})\n${String(err)}`);
    });
  }, { ledger: { maxEntries: 4 } });
});

// A full collection before each heap reading, or the figure is mostly garbage (node --expose-gc
// cannot be passed per test file; this is the same flag set at run time).
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapUsed = (): number => {
  gc();
  return process.memoryUsage().heapUsed;
};

test('G9 - a consumer that does not keep up with a large backlog buffers at most receiverQueueSize messages; heap stays bounded', async (t) => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('g9');
    const rq = 100;
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', receiverQueueSize: rq });
    const p = await broker.createProducer({ topic, name: 'g9' });
    const total = 10_000;
    const heap0 = heapUsed();
    for (let i = 0; i < total; i += 1000) {
      await Promise.all(Array.from({ length: 1000 }, (_, j) => {
        const v = new Uint8Array(4096);
        new DataView(v.buffer).setUint32(0, i + j, true);
        return p.send({ value: v });
      }));
    }
    await sleep(300);
    // What the consumer holds in memory, read from its queue: delivered and not yet received.
    const internals = c as unknown as { bufferedCount: number };
    const buffered = internals.bufferedCount;
    const heapMb = (heapUsed() - heap0) / 2 ** 20;
    t.diagnostic(`backlog ${total} x 4 KiB (${(total / 256).toFixed(1)} MiB), buffered ${buffered} (receiverQueueSize ${rq}), heap growth ${heapMb.toFixed(1)} MiB`);
    assert.ok(buffered <= rq, `buffered ${buffered} > receiverQueueSize ${rq}`);
    // The backlog is 39 MiB; a consumer that buffered it would grow the heap by at least that.
    assert.ok(heapMb < 10, `heap grew ${heapMb.toFixed(1)} MiB with ${buffered} buffered`);
    // Slowly now: the backlog drains through the same small window, each message once.
    const seen = new Set<number>();
    for (let m = await c.receive({ timeoutMs: 500 }); m; m = await c.receive({ timeoutMs: 500 })) {
      const n = new DataView(m.data.buffer, m.data.byteOffset, 4).getUint32(0, true);
      assert.ok(!seen.has(n), `message ${n} delivered twice`);
      seen.add(n);
      void c.ack(m);
      if (seen.size % 2500 === 0) assert.ok(internals.bufferedCount <= rq);
    }
    assert.equal(seen.size, total);
  });
});

test(`G10 - a handler that takes longer than every timeout (${3 * DEFAULT_CLAIM_TIMEOUT_MS} ms, async) keeps its message: no redelivery to another consumer, its ack resolves`, async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('g10');
    const rec = new HistoryRecorder();
    const slow = rec.consumer(await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 1, consumerName: 'slow' }), { kind: 'shared', initialPosition: 'earliest' });
    const p = rec.producer(await broker.createProducer({ topic, name: 'g10' }));
    await p.send({ value: bytes('long-job') });
    const m = await slow.receive({ timeoutMs: 2000 });
    assert.equal(m && text(m), 'long-job');
    const fast = rec.consumer(await broker.subscribe({ topic, subscription: 's', type: 'shared', consumerName: 'fast' }), { kind: 'shared', initialPosition: 'earliest' });
    const others = Array.from({ length: 200 }, (_, i) => p.send({ value: bytes(`o${i}`) }));
    let fastGot = 0;
    const stop = Date.now() + 3 * DEFAULT_CLAIM_TIMEOUT_MS;
    while (Date.now() < stop) {
      const x = await fast.receive({ timeoutMs: 50 });
      if (!x) continue;
      assert.notEqual(text(x), 'long-job', 'the slow handler\'s message was given to another consumer');
      fastGot++;
      await fast.ack(x);
    }
    await Promise.all(others);
    await slow.ack(m!);
    for (let x = await fast.receive({ timeoutMs: 300 }); x; x = await fast.receive({ timeoutMs: 300 })) await fast.ack(x);
    for (let x = await slow.receive({ timeoutMs: 300 }); x; x = await slow.receive({ timeoutMs: 300 })) await slow.ack(x);
    const r = checkHistory(rec.history);
    assert.ok(r.valid, r.format());
    assert.ok(fastGot > 0);
  });
});

test(`G10 - a handler that blocks its thread for ${2.5 * DEFAULT_CLAIM_TIMEOUT_MS} ms (longer than the ring claim timeout) while messages pour in: afterwards nothing is lost or repeated`, async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('g10b');
    const rec = new HistoryRecorder();
    const c = rec.consumer(await broker.subscribe({ topic, subscription: 's', type: 'key_shared', initialPosition: 'earliest', receiverQueueSize: 500 }), { kind: 'key_shared', initialPosition: 'earliest' });
    const p = rec.producer(await broker.createProducer({ topic, name: 'g10b' }));
    const sends = Array.from({ length: 3000 }, (_, i) => p.send({ value: bytes(`x${i}`), key: `k${i % 10}` }));
    const first = await c.receive({ timeoutMs: 2000 });
    assert.ok(first);
    // The handler: a synchronous block of the whole thread (a CPU-bound job), past every timer.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2.5 * DEFAULT_CLAIM_TIMEOUT_MS);
    await c.ack(first);
    await Promise.all(sends);
    for (let m = await c.receive({ timeoutMs: 500 }); m; m = await c.receive({ timeoutMs: 500 })) void c.ack(m);
    await sleep(100);
    const r = checkHistory(rec.history);
    assert.ok(r.valid, r.format());
    assert.equal(r.stats.sendsOk, 3000);
  });
});

