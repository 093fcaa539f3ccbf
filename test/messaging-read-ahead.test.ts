/**
 * The subscription reads ahead a bounded number of messages (not entries): with large batches it
 * reads a few entries per pass. A pass whose entries turn out fully acked must read on, or the
 * messages after them would wait for a wake-up (permits, acks, appends) that may never come. A
 * reader reads ahead in batches, not a read per message taken.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageId } from '../index.js';
import { drain, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

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

test('read-ahead - a reader reads again once half its buffer is taken, then fills it whole, in order', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('reader-refill');
    const p = await ctx.broker.createProducer({ topic, batching: { enabled: false } });
    const values = range(400);
    await sendAll(p, values);
    const r = await ctx.broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: 100 });
    const waitBuffered = async (n: number): Promise<void> => {
      for (let i = 0; i < 400 && r.bufferedCount < n; i++) await sleep(5);
      assert.equal(r.bufferedCount, n);
    };
    const got: string[] = [];
    const take = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) got.push(text((await r.readNext({ timeoutMs: 2000 }))!));
    };
    await waitBuffered(100);
    // A read per message taken made every read one entry, and the threads took turns waiting.
    await take(1);
    await sleep(100);
    assert.equal(r.bufferedCount, 99, 'no read while more than half the buffer is left');
    await take(49);
    await waitBuffered(100);
    await take(350);
    assert.deepEqual(got, values);
    await r.close();
  });
});
