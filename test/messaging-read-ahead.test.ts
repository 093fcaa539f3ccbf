/**
 * The subscription reads ahead a bounded number of messages (not entries): with large batches it
 * reads a few entries per pass. A pass whose entries turn out fully acked must read on, or the
 * messages after them would wait for a wake-up (permits, acks, appends) that may never come.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drain, range, sendAll, text, topicName, withBroker } from './util/messaging.js';

test('read-ahead - after a restart, a run of fully acked large batches between unacked messages is read past', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('readahead');
    const total = 24_000;
    const opts = { topic, subscription: 's', type: 'exclusive' as const, initialPosition: 'earliest' as const, receiverQueueSize: total };
    let c = await ctx.broker.subscribe(opts);
    const p = await ctx.broker.createProducer({ topic, batching: { maxMessages: 200, maxDelayMs: 50 } });
    const values = range(total);
    await sendAll(p, values);
    const got = await drain(c, total);
    assert.equal(got.length, total);
    // Keep the first and the last unacked: everything between (over a hundred entries) is acked.
    await Promise.all(got.slice(1, -1).map((m) => c.ack(m)));
    const broker = await ctx.reopen();
    c = await broker.subscribe(opts);
    const again = await drain(c, 3, { idleMs: 1500 });
    assert.deepEqual(again.map(text), [text(got[0]!), text(got[total - 1]!)]);
  });
});
