import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageId, type Message } from '../index.js';
import { bytes, drain, isCode, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

test('acks - an acked message is never delivered again on that subscription, also after the broker restarts', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('acks');
    let broker = ctx.broker;
    let c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 5 } });
    await sendAll(p, range(20));
    const got = await drain(c, 20);
    assert.equal(got.length, 20);
    // Ack every other message (batch-index acks inside batches of 5), then nack-free close.
    for (const m of got.filter((_, i) => i % 2 === 0)) await c.ack(m);
    await c.close();
    c = await broker.subscribe({ topic, subscription: 's', type: 'shared' });
    const again = await drain(c, 20, { idleMs: 500 });
    assert.deepEqual(again.map(text).sort(), range(20).filter((_, i) => i % 2 === 1).sort());
    await c.ack(again[0]!);
    broker = await ctx.reopen();
    c = await broker.subscribe({ topic, subscription: 's', type: 'shared' });
    const after = await drain(c, 20, { idleMs: 500 });
    assert.deepEqual(after.map(text).sort(), range(20).filter((_, i) => i % 2 === 1).filter((v) => v !== text(again[0]!)).sort());
  });
});

test('acks - acks made just before close(), not awaited, are applied: those messages are not delivered again', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('acks-close');
    const p = await broker.createProducer({ topic });
    await sendAll(p, range(200));
    const opts = { topic, subscription: 's', type: 'shared', initialPosition: 'earliest' } as const;
    const c = await broker.subscribe(opts);
    const acks: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) {
      const m = await c.receive({ timeoutMs: 2000 });
      assert.ok(m);
      acks.push(c.ack(m));
    }
    // The close request overtook the acks still queued for their microtask: they failed CLOSED and
    // all 50 messages came again.
    await c.close();
    await Promise.all(acks);
    // A second close() during the first ends with it: it resolved as soon as the consumer was
    // marked closed (which ends a waiting receive), before the first had left the subscription.
    const idle = await broker.subscribe({ topic, subscription: 'idle', initialPosition: 'latest' });
    const order: string[] = [];
    const waiting = idle.receive().then(() => idle.close().then(() => void order.push('second')));
    const first = idle.close().then(() => void order.push('first'));
    await Promise.all([first, waiting]);
    assert.deepEqual(order, ['first', 'second']);
    const reopened = await broker.subscribe(opts);
    const rest = await drain(reopened, 500);
    assert.equal(rest.length, 150, `${rest.length} delivered after the close; 150 were not acked`);
  });
});

test('acks - cumulative ack on shared is refused with ACK_INVALID', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('cum');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic });
    await sendAll(p, range(3));
    const got = await drain(c, 3);
    await assert.rejects(c.ackCumulative(got[2]!), isCode('ACK_INVALID'));
    // Nothing was acked by the refused call.
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 3);
  });
});

test('acks - cumulative ack on exclusive acks everything up to the message', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('cumx');
    let c = await ctx.broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    const p = await ctx.broker.createProducer({ topic, batching: { maxMessages: 3 } });
    await sendAll(p, range(10));
    const got = await drain(c, 10);
    await c.ackCumulative(got[6]!);
    assert.equal((await ctx.broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 3);
    const broker = await ctx.reopen();
    c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive' });
    assert.deepEqual((await drain(c, 10, { idleMs: 500 })).map(text), range(10).slice(7));
  });
});

test('acks - acking a message this consumer never received is ACK_INVALID', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('ackinv');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 1 });
    const p = await broker.createProducer({ topic });
    const ids = await Promise.all(range(3).map((v) => p.send({ value: bytes(v) })));
    await assert.rejects(c.ack(new MessageId(ids[2]!.ledgerId, ids[2]!.entryId + 100, -1, 0)), isCode('ACK_INVALID'));
    const m = await c.receive({ timeoutMs: 1000 });
    assert.ok(m);
    await c.ack(m);
    await assert.rejects(c.ack(m), isCode('ACK_INVALID'), 'a second ack of the same message');
    // A message another consumer of the subscription holds (shared: one consumer at a time).
    const other = await broker.subscribe({ topic, subscription: 's', type: 'shared' });
    await p.send({ value: bytes('late') });
    const held = await other.receive({ timeoutMs: 1000 });
    assert.ok(held);
    await assert.rejects(c.ack(held.id), isCode('ACK_INVALID'));
    await other.ack(held);
  });
});

test('nack - a nacked message comes back with redeliveryCount + 1', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('nack');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', nackRedeliveryDelayMs: 50 });
    const p = await broker.createProducer({ topic });
    await sendAll(p, ['a', 'b']);
    const [a, b] = await drain(c, 2);
    assert.equal(a!.redeliveryCount, 0);
    const t0 = Date.now();
    c.nack(a!);
    await c.ack(b!);
    const again = await c.receive({ timeoutMs: 2000 });
    assert.ok(again);
    assert.ok(Date.now() - t0 >= 45, 'not before the nack delay');
    assert.equal(text(again), 'a');
    assert.equal(again.redeliveryCount, 1);
    c.nack(again);
    const third = await c.receive({ timeoutMs: 2000 });
    assert.equal(third?.redeliveryCount, 2);
    await c.ack(third!);
    assert.equal(await c.receive({ timeoutMs: 200 }), null);
  });
});

test('dlq - after maxRedeliverCount redeliveries the message goes to <topic>-<subscription>-DLQ', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('dlq');
    const dlq = await broker.subscribe({ topic: `${topic}-s-DLQ`, subscription: 'd', type: 'shared', initialPosition: 'earliest' });
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', nackRedeliveryDelayMs: 20, deadLetter: { maxRedeliverCount: 3 } });
    const p = await broker.createProducer({ topic });
    await p.send({ value: bytes('poison'), key: 'k1', properties: { a: '1' } });
    await p.send({ value: bytes('fine') });
    const counts: number[] = [];
    for (;;) {
      const m = await c.receive({ timeoutMs: 500 });
      if (!m) break;
      if (text(m) === 'fine') { await c.ack(m); continue; }
      counts.push(m.redeliveryCount);
      c.nack(m);
    }
    // As in Pulsar: maxRedeliverCount redeliveries (counts 0..3, four deliveries), then the DLQ.
    assert.deepEqual(counts, [0, 1, 2, 3], 'redelivered exactly maxRedeliverCount times before the DLQ');
    const dead = await dlq.receive({ timeoutMs: 2000 });
    assert.ok(dead);
    assert.equal(text(dead), 'poison');
    assert.equal(dead.key, 'k1');
    assert.equal(dead.properties['a'], '1');
    assert.equal(dead.properties['REAL_TOPIC'], topic);
    await sleep(100);
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 0, 'the original is acked once dead-lettered');
  });
});

test('redelivery - the redelivery count survives a broker restart', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('redeliv');
    let c = await ctx.broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', nackRedeliveryDelayMs: 10 });
    const p = await ctx.broker.createProducer({ topic });
    await p.send({ value: bytes('x') });
    for (let i = 0; i < 2; i++) {
      const m = await c.receive({ timeoutMs: 2000 });
      assert.equal(m?.redeliveryCount, i);
      c.nack(m!);
    }
    await sleep(100);
    const broker = await ctx.reopen();
    c = await broker.subscribe({ topic, subscription: 's', type: 'shared' });
    const m = await c.receive({ timeoutMs: 2000 });
    assert.equal(m?.redeliveryCount, 2);
  });
});

test('ack timeout - an unacked message is redelivered after ackTimeoutMs', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('ackto');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', ackTimeoutMs: 200 });
    const p = await broker.createProducer({ topic });
    await sendAll(p, ['a', 'b']);
    const [a, b] = await drain(c, 2);
    const t0 = Date.now();
    await c.ack(b!);
    const again = await c.receive({ timeoutMs: 2000 });
    assert.ok(again);
    assert.equal(text(again), text(a!));
    assert.ok(Date.now() - t0 >= 150, `not before the timeout (${Date.now() - t0} ms)`);
    assert.equal(again.redeliveryCount, 1);
    await c.ack(again);
    assert.equal(await c.receive({ timeoutMs: 400 }), null, 'an acked message does not time out');
  });
});

test('redeliverUnacknowledgedMessages - what the application took and did not ack comes back at once, counted; buffered and acked messages do not', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('redeliver-all');
    await broker.admin.createTopic(topic, { partitions: 2 });
    // No nack delay would apply: the redelivery is immediate.
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', nackRedeliveryDelayMs: 60_000 });
    const p = await broker.createProducer({ topic, routing: 'round-robin' });
    await sendAll(p, range(20));
    const taken: Message<Uint8Array>[] = [];
    for (let i = 0; i < 10; i++) taken.push((await c.receive({ timeoutMs: 2000 }))!);
    for (const m of taken.slice(0, 3)) await c.ack(m);
    c.redeliverUnacknowledgedMessages();
    await assert.rejects(c.ack(taken[5]!), isCode('ACK_INVALID'), 'given back: no longer held');
    const rest: Message<Uint8Array>[] = [];
    for (let m = await c.receive({ timeoutMs: 1000 }); m; m = await c.receive({ timeoutMs: 300 })) {
      rest.push(m);
      await c.ack(m);
    }
    const back = rest.filter((m) => m.redeliveryCount === 1).map(text).sort();
    assert.deepEqual(back, taken.slice(3).map(text).sort(), 'the seven taken and unacked, once each');
    assert.deepEqual(rest.map(text).sort(), range(20).filter((v) => !taken.slice(0, 3).map(text).includes(v)).sort(), 'nothing lost, nothing twice');
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 0);
  });
});

test('ack by ID - a message acked by its ID while still in the receive buffer is not handed out from there', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('ack-buffered');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', nackRedeliveryDelayMs: 50 });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 4 } });
    const ids = await Promise.all(range(4).map((v) => p.send({ value: bytes(v) })));
    while (c.bufferedCount < 4) await sleep(5);
    await c.ack(ids[1]!);
    const got: Message<Uint8Array>[] = [];
    for (let m = await c.receive({ timeoutMs: 1000 }); m; m = await c.receive({ timeoutMs: 300 })) {
      got.push(m);
      await c.ack(m);
    }
    assert.deepEqual(got.map(text), ['m0', 'm2', 'm3'], 'm1 was acked: not handed out');
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 0);
  });
});

test('ack timeout - the clock starts when the application receives a message, not when it reached the receive buffer', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('ack-timeout-clock');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', ackTimeoutMs: 300 });
    const p = await broker.createProducer({ topic });
    await sendAll(p, ['waited']);
    while (c.bufferedCount < 1) await sleep(5);
    await sleep(500); // buffered longer than the ack timeout
    const m = await c.receive({ timeoutMs: 1000 });
    assert.equal(m && text(m), 'waited');
    await sleep(150); // within the timeout since it was received
    // Timed from delivery, it was given back at the next tick and came straight back into the buffer.
    assert.equal(c.bufferedCount, 0, 'given back while the application held it');
    await c.ack(m!);
    assert.equal(await c.receive({ timeoutMs: 500 }), null, 'not redelivered');
  });
});
