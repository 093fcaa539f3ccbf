import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { MessageId, Schemas } from '../index.js';
import { bytes, drain, isCode, range, sendAll, text, topicName, withBroker } from './util/messaging.js';
import { removeDir, tempDir } from './util/tmp.js';

test('admin - deleteTopic refuses a busy topic, then deletes data, subscriptions, policies and offloaded objects; a new topic of that name starts empty with fresh IDs', async () => {
  const offloadDir = tempDir('millrace-offload');
  try {
    await withBroker(async ({ broker }) => {
      const topic = topicName('del');
      await broker.admin.createTopic(topic, { partitions: 2 });
      await broker.admin.setPolicies(topic, { offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
      const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
      const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
      await sendAll(p, range(40));
      const maxLedger = new Map<number, number>();
      for (const m of await drain(c, 40)) maxLedger.set(m.id.partition, Math.max(maxLedger.get(m.id.partition) ?? 0, m.id.ledgerId));
      await broker.admin.runMaintenance(topic);
      assert.ok(readdirSync(offloadDir).length > 0, 'something was offloaded');
      await assert.rejects(broker.admin.deleteTopic(topic), isCode('TOPIC_BUSY'));
      assert.equal((await broker.admin.stats(topic)).msgInCounter, 40, 'a refused delete deletes nothing');
      await p.close();
      await c.close();
      await broker.admin.deleteTopic(topic);
      assert.ok(!broker.admin.listTopics().includes(topic));
      await assert.rejects(broker.admin.stats(topic), isCode('TOPIC_NOT_FOUND'));
      assert.deepEqual(broker.admin.getPolicies(topic), {});
      assert.deepEqual(readdirSync(offloadDir).flatMap((d) => readdirSync(`${offloadDir}/${d}`)), []);
      await assert.rejects(broker.admin.deleteTopic(topic), isCode('TOPIC_NOT_FOUND'));
      // Same name again: nothing of the old topic shows, and IDs are never reused.
      await broker.admin.createTopic(topic, { partitions: 2 });
      assert.deepEqual(await broker.admin.subscriptions(topic), []);
      const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
      assert.equal(await r.readNext({ timeoutMs: 300 }), null);
      const p2 = await broker.createProducer({ topic, routing: 'single' });
      const id = await p2.send({ value: bytes('new') });
      assert.ok(id.ledgerId > maxLedger.get(id.partition)!, `${id} after ledger ${maxLedger.get(id.partition)}`);
      // force: deletes with clients connected.
      await broker.admin.deleteTopic(topic, { force: true });
      assert.ok(!broker.admin.listTopics().includes(topic));
    }, { ledger: { maxEntries: 5 }, maintenanceIntervalMs: 60_000, tieredStorage: { driver: 'filesystem', path: offloadDir } });
  } finally {
    removeDir(offloadDir);
  }
});

test('partitions by name - one past the partition count is TOPIC_NOT_FOUND, not a partition no consumer reads; a partition takes its topic\'s schema', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('by-name');
    await broker.admin.createTopic(topic, { partitions: 2, schema: 'string' });
    // Both used to succeed: the producer stored messages in a partition 5 of its own.
    await assert.rejects(broker.createProducer({ topic: `${topic}-partition-5` }), isCode('TOPIC_NOT_FOUND'));
    await assert.rejects(broker.subscribe({ topic: `${topic}-partition-2`, subscription: 's' }), isCode('TOPIC_NOT_FOUND'));
    await assert.rejects(broker.createProducer({ topic: `${topic}-partition-0`, schema: Schemas.json() }), isCode('SCHEMA_MISMATCH'));
    const p = await broker.createProducer({ topic: `${topic}-partition-1`, schema: Schemas.string });
    await p.send({ value: 'direct' });
    const c = await broker.subscribe({ topic, subscription: 'all', initialPosition: 'earliest', schema: Schemas.string });
    const m = await c.receive({ timeoutMs: 2000 });
    assert.equal(m?.value, 'direct');
    assert.equal(m?.id.partition, 1);
  });
});

test('admin - resetSubscription refuses a target that is not earliest, latest, a MessageId or a time (it rewound to the first message)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reset-bad');
    const p = await broker.createProducer({ topic });
    await sendAll(p, range(5));
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    await drain(c, 5, { ack: true });
    await c.close();
    for (const bad of ['middle', Number.NaN, null, { ledgerId: 1 }] as unknown as number[]) {
      await assert.rejects(broker.admin.resetSubscription(topic, 's', bad), isCode('INVALID_ARGUMENT'), String(bad));
    }
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 0, 'nothing was rewound');
  });
});

test('admin - subscriptions are listed, reset (earliest, latest, time, ID) and skipped (n, all), connected or not', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('subs');
    const c = await broker.subscribe({ topic, subscription: 'a', type: 'exclusive', initialPosition: 'earliest' });
    const other = await broker.subscribe({ topic, subscription: 'b', type: 'shared', initialPosition: 'earliest' });
    await other.close();
    assert.deepEqual(await broker.admin.subscriptions(topic), ['a', 'b']);
    const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    for (const v of range(10)) await p.send({ value: bytes(v) });
    const first = await drain(c, 10);
    await c.ackCumulative(first[9]!);
    // Reset by time: back to the first message published at or after m4's publish time.
    await broker.admin.resetSubscription(topic, 'a', first[4]!.publishTime);
    const again = await drain(c, 10, { idleMs: 500 });
    // From the first message published at or after m4's time (an earlier one of the same millisecond may come too).
    assert.deepEqual(again.map(text).slice(-6), range(10).slice(4));
    assert.ok(again.every((m) => m.publishTime >= first[4]!.publishTime), again.map(text).join());
    await broker.admin.resetSubscription(topic, 'a', 'latest');
    assert.equal((await broker.admin.stats(topic)).subscriptions['a']!.msgBacklog, 0);
    await broker.admin.resetSubscription(topic, 'a', first[7]!.id);
    assert.deepEqual((await drain(c, 10, { idleMs: 500 })).map(text), ['m7', 'm8', 'm9']);
    // 'b' has no consumer: skip 3, then clear the rest.
    await broker.admin.skipMessages(topic, 'b', 3);
    assert.equal((await broker.admin.stats(topic)).subscriptions['b']!.msgBacklog, 7);
    await broker.admin.skipMessages(topic, 'b', 'all');
    assert.equal((await broker.admin.stats(topic)).subscriptions['b']!.msgBacklog, 0);
    await broker.admin.resetSubscription(topic, 'b', 'earliest');
    assert.equal((await broker.admin.stats(topic)).subscriptions['b']!.msgBacklog, 10);
    await assert.rejects(broker.admin.skipMessages(topic, 'nope', 1), isCode('SUBSCRIPTION_NOT_FOUND'));
    await assert.rejects(broker.admin.skipMessages(topic, 'b', 0), isCode('INVALID_ARGUMENT'));
  });
});

test('admin - resetSubscription to a message inside a batch starts the subscription at that message', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reset-batch');
    const p = await broker.createProducer({ topic, batching: { maxMessages: 3, maxDelayMs: 20 } });
    const ids = await Promise.all(range(7).map((v) => p.send({ value: bytes(v) })));
    assert.equal(ids[4]!.batchIndex, 1, 'a message inside a batch');
    const c = await broker.subscribe({ topic, subscription: 'b', type: 'shared', initialPosition: 'latest' });
    await c.close();
    await broker.admin.resetSubscription(topic, 'b', ids[4]!);
    // Before: the whole entry of m3-m5 was unacked again (6 in the backlog, m3 first).
    assert.equal((await broker.admin.stats(topic)).subscriptions['b']!.msgBacklog, 3);
    const again = await broker.subscribe({ topic, subscription: 'b', type: 'shared' });
    assert.deepEqual((await drain(again, 7, { idleMs: 300 })).map(text), ['m4', 'm5', 'm6']);
  });
});
