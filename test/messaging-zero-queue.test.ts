/**
 * receiverQueueSize 0 (Pulsar's zero-queue consumer): nothing is buffered, a message is asked for
 * only while a receive waits. On a Shared subscription of workers with long tasks, a worker busy
 * with one message never holds another that an idle worker could take.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageId } from '../index.js';
import { isCode, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

test('zero-queue - on Shared, a worker holding one message buffers nothing: the other takes all the rest', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('zq-shared');
    const opts = { topic, subscription: 'work', type: 'shared' as const, receiverQueueSize: 0 };
    const busy = await broker.subscribe(opts);
    const idle = await broker.subscribe(opts);
    // Batches of 5: a permit of one takes one message out of a batch, not the whole entry.
    const p = await broker.createProducer({ topic, batching: { maxMessages: 5, maxDelayMs: 20 } });
    const values = range(10);
    await sendAll(p, values);
    const held = await busy.receive({ timeoutMs: 2000 });
    assert.ok(held, 'the busy worker got a message');
    await sleep(100);
    assert.equal(busy.bufferedCount, 0, 'nothing read ahead while the task runs');
    assert.equal(idle.bufferedCount, 0);
    const rest: string[] = [];
    for (let m = await idle.receive({ timeoutMs: 500 }); m; m = await idle.receive({ timeoutMs: 500 })) {
      rest.push(text(m));
      await idle.ack(m);
    }
    // With a queue of 1, the busy worker held one more: the idle one got 8.
    assert.equal(rest.length, 9);
    assert.deepEqual([text(held!), ...rest].sort(), [...values].sort());
    await busy.ack(held!);
  });
});

test('zero-queue - for await, receiveBatch and seek take one message per permit, in order', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('zq-iter');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest', receiverQueueSize: 0 });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 4, maxDelayMs: 20 } });
    await sendAll(p, range(8));
    const got: string[] = [];
    for await (const m of c) {
      got.push(text(m));
      await c.ack(m);
      assert.equal(c.bufferedCount, 0);
      if (got.length === 5) break;
    }
    const batch = await c.receiveBatch({ maxMessages: 3, timeoutMs: 1000 });
    got.push(...batch.map(text));
    assert.deepEqual(got, range(8));
    await c.seek(MessageId.earliest);
    assert.equal(text((await c.receive({ timeoutMs: 1000 }))!), 'm0');
  });
});

test('zero-queue - a receive that timed out left its permit: one message waits for the next receive, then none; a nack comes again', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('zq-timeout');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', receiverQueueSize: 0, nackRedeliveryDelayMs: 0 });
    assert.equal(await c.receive({ timeoutMs: 50 }), null);
    const p = await broker.createProducer({ topic, batching: { enabled: false } });
    await sendAll(p, ['a', 'b']);
    await sleep(100);
    assert.equal(c.bufferedCount, 1, 'the permit out brought one message, and only one');
    assert.equal(text((await c.receive({ timeoutMs: 1000 }))!), 'a');
    await sleep(100);
    assert.equal(c.bufferedCount, 0, 'no receive waits: nothing asked for');
    const b = (await c.receive({ timeoutMs: 1000 }))!;
    assert.equal(text(b), 'b');
    // Given back, it comes again with the next permit.
    c.nack(b);
    const again = (await c.receive({ timeoutMs: 1000 }))!;
    assert.equal(text(again), 'b');
    assert.equal(again.redeliveryCount, 1);
  });
});

test('zero-queue - needs a topic of one partition; a negative receiverQueueSize is refused', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('zq-parts');
    await broker.admin.createTopic(topic, { partitions: 2 });
    await assert.rejects(broker.subscribe({ topic, subscription: 's', receiverQueueSize: 0 }), isCode('INVALID_ARGUMENT'));
    await assert.rejects(broker.subscribe({ topic, subscription: 's', receiverQueueSize: -1 }), isCode('INVALID_ARGUMENT'));
    // The partitioned topic still serves an ordinary consumer.
    const c = await broker.subscribe({ topic, subscription: 's', receiverQueueSize: 10 });
    await c.close();
  });
});
