/**
 * `consumer.receiveBatch` (Pulsar's batchReceive): complete on a message count or a byte size, or
 * whatever arrived when the timeout passes; messages taken as they arrive so flow control keeps
 * them coming; each message acked on its own; nothing lost or received twice beside `receive`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, isCode, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

test('receiveBatch - takes a full batch from what is buffered, then the rest in order; all acked, nothing twice', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('rb-full');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest', receiverQueueSize: 500 });
    const p = await broker.createProducer({ topic });
    await sendAll(p, range(250));
    while (c.bufferedCount < 250) await sleep(10);
    // A full batch is there: it comes at once, long before its timeout.
    const first = await c.receiveBatch({ maxMessages: 100, timeoutMs: 60_000 });
    assert.deepEqual(first.map(text), range(250).slice(0, 100));
    const one = await c.receive({ timeoutMs: 1000 });
    assert.equal(text(one!), 'm100');
    const rest = await c.receiveBatch({ maxMessages: 1000, timeoutMs: 300 });
    assert.deepEqual(rest.map(text), range(250).slice(101));
    for (const m of [...first, one!, ...rest]) await c.ack(m);
    assert.deepEqual(await c.receiveBatch({ timeoutMs: 100 }), []);
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 0);
  });
});

test('receiveBatch - waits for messages that arrive later, past receiverQueueSize (permits come back as it takes them)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('rb-flow');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 10 });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 7 } });
    const batch = c.receiveBatch({ maxMessages: 60, timeoutMs: 60_000 });
    await sleep(50);
    await sendAll(p, range(80));
    const got = await batch;
    assert.deepEqual(got.map(text), range(80).slice(0, 60));
    for (const m of got) await c.ack(m);
    const rest = await c.receiveBatch({ maxMessages: 60, timeoutMs: 500 });
    assert.deepEqual(rest.map(text), range(80).slice(60));
  });
});

test('receiveBatch - completes on maxBytes of values; with timeoutMs 0 takes only what is buffered', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('rb-bytes');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic });
    await Promise.all(Array.from({ length: 30 }, (_, i) => p.send({ value: bytes(String(i % 10).repeat(100)) })));
    while (c.bufferedCount < 30) await sleep(10);
    // 100-byte values: the batch is complete with the message that reaches 1,000 bytes.
    const b = await c.receiveBatch({ maxMessages: 100, maxBytes: 1000, timeoutMs: 60_000 });
    assert.equal(b.length, 10);
    assert.deepEqual(await c.receiveBatch({ maxMessages: 5, timeoutMs: 0 }).then((x) => x.length), 5);
    assert.equal((await c.receiveBatch({ timeoutMs: 0 })).length, 15);
    assert.deepEqual(await c.receiveBatch({ timeoutMs: 0 }), []);
  });
});

test('receiveBatch - the timeout or an abort resolves what arrived; close resolves it; bad options are INVALID_ARGUMENT', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('rb-timeout');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic });
    await sendAll(p, range(3));
    const partial = await c.receiveBatch({ maxMessages: 10, timeoutMs: 300 });
    assert.deepEqual(partial.map(text), range(3));
    const ac = new AbortController();
    const pending = c.receiveBatch({ maxMessages: 10, timeoutMs: 60_000, signal: ac.signal });
    await sendAll(p, ['a1']);
    await sleep(100);
    ac.abort();
    assert.deepEqual((await pending).map(text), ['a1']);
    const waiting = c.receiveBatch({ maxMessages: 10, timeoutMs: 60_000 });
    for (const bad of [{ maxMessages: 0 }, { maxMessages: 1.5 }, { maxBytes: 0 }, { timeoutMs: -1 }, { timeoutMs: Number.NaN }]) {
      await assert.rejects(c.receiveBatch(bad), isCode('INVALID_ARGUMENT'), JSON.stringify(bad));
    }
    await c.close();
    assert.deepEqual(await waiting, []);
    await assert.rejects(c.receiveBatch(), isCode('CLOSED'));
  });
});

test('ack(list) - acks each message of a batch individually and durably; a message the consumer does not hold fails the whole call', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('ack-list');
    await ctx.broker.admin.createTopic(topic, { partitions: 2 });
    const opts = { topic, subscription: 's', type: 'shared' as const, initialPosition: 'earliest' as const };
    let c = await ctx.broker.subscribe(opts);
    const p = await ctx.broker.createProducer({ topic, routing: 'round-robin' });
    await sendAll(p, range(40));
    const got = [];
    while (got.length < 40) got.push(...await c.receiveBatch({ maxMessages: 40, timeoutMs: 1000 }));
    const keep = got.filter((m) => text(m) === 'm7');
    const acked = got.filter((m) => text(m) !== 'm7');
    // Both partitions in one call, one message listed twice: one promise, resolved once durable.
    await c.ack([...acked, acked[0]!]);
    await c.ack([]);
    // Unknown (already acked) in a list: ACK_INVALID, and the held message in it stays unacked.
    await assert.rejects(c.ack([keep[0]!, acked[1]!]), isCode('ACK_INVALID'));
    await assert.rejects(c.ack([keep[0]!, 'x' as never]), isCode('INVALID_ARGUMENT'));
    assert.equal((await ctx.broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 1);
    // Durable: after a restart only the unacked message comes back.
    await c.close();
    const broker = await ctx.reopen();
    c = await broker.subscribe(opts);
    const again = [];
    for (let m = await c.receive({ timeoutMs: 1000 }); m; m = await c.receive({ timeoutMs: 300 })) again.push(text(m));
    assert.deepEqual(again, ['m7']);
  });
});
