import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, drain, isCode, range, text, topicName, withBroker } from './util/messaging.js';

test('dedup - a producer resending the same sequence IDs after a broker restart stores each message once (G4)', async () => {
  await withBroker(async (ctx) => {
    // Non-partitioned, and partitioned with key routing (dedup is per partition, as in Pulsar: a resend
    // must reach the partition the original went to, which key-hash guarantees and round-robin does not).
    const plain = topicName('dedup');
    const parted = topicName('dedup-p');
    await ctx.broker.admin.createTopic(parted, { partitions: 3 });
    const values = range(10);
    const key = (i: number) => `k${i % 4}`;
    for (const topic of [plain, parted]) {
      const p = await ctx.broker.createProducer({ topic, name: 'ingest-1', batching: { maxMessages: 4 } });
      await Promise.all(values.map((v, i) => p.send({ value: bytes(v), key: key(i), sequenceId: i })));
      await p.close();
    }
    const broker = await ctx.reopen();
    for (const topic of [plain, parted]) {
      const p = await broker.createProducer({ topic, name: 'ingest-1', batching: { maxMessages: 4, maxDelayMs: 5 } });
      assert.equal(p.lastSequenceId, 9);
      // The crashed process resends from 6: 6..9 are duplicates, 10..13 are new; batches of 4 mix them.
      const resent = [...values, ...range(4, 'new')].map((v, i) => ({ v, i })).slice(6);
      const ids = await Promise.all(resent.map(({ v, i }) => p.send({ value: bytes(v), key: key(i), sequenceId: i })));
      assert.deepEqual(ids.map((id) => id.ledgerId < 0), [true, true, true, true, false, false, false, false], 'duplicates resolve with -1:-1');
      assert.equal(p.lastSequenceId, 13);
      const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
      const got = await drain(c, 100, { idleMs: 400 });
      assert.deepEqual(got.map(text).sort(), [...values, ...range(4, 'new')].sort(), `${topic}: each message once`);
      // The new messages' IDs name them (the entry stored only the new part of a mixed batch).
      for (let k = 4; k < 8; k++) {
        const m = got.find((x) => x.id.toString() === ids[k]!.toString());
        assert.equal(m && text(m), resent[k]!.v, `ID of ${resent[k]!.v}`);
      }
      assert.equal((await broker.admin.stats(topic)).msgInCounter, 4, 'only the new messages were appended after the restart');
      // A lower ID right behind a higher one in the same batch window is a duplicate too, not an error.
      const [hi, lo] = await Promise.all([p.send({ value: bytes('new4'), key: key(1), sequenceId: 14 }), p.send({ value: bytes('m1'), key: key(1), sequenceId: 1 })]);
      assert.ok(hi!.ledgerId >= 0 && lo!.ledgerId < 0);
    }
  });
});

test('producer - a named producer resumes lastSequenceId after a restart', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('seqresume');
    let p = await ctx.broker.createProducer({ topic, name: 'named' });
    await Promise.all(range(7).map((v) => p.send({ value: bytes(v) })));
    assert.equal(p.lastSequenceId, 6);
    await assert.rejects(ctx.broker.createProducer({ topic, name: 'named' }), isCode('PRODUCER_BUSY'));
    await p.close();
    const broker = await ctx.reopen();
    p = await broker.createProducer({ topic, name: 'named' });
    assert.equal(p.lastSequenceId, 6);
    await p.send({ value: bytes('next') });
    assert.equal(p.lastSequenceId, 7);
    const other = await broker.createProducer({ topic, name: 'other' });
    assert.equal(other.lastSequenceId, -1);
  });
});

test('routing - key-hash sends one key to one partition', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('route');
    await broker.admin.createTopic(topic, { partitions: 4 });
    const p = await broker.createProducer({ topic, routing: 'key-hash' });
    const keys = range(20, 'key');
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => p.send({ key: keys[i % 20]!, value: bytes(`${i}`) })));
    const byKey = new Map<string, Set<number>>();
    ids.forEach((id, i) => (byKey.get(keys[i % 20]!) ?? byKey.set(keys[i % 20]!, new Set()).get(keys[i % 20]!)!).add(id.partition));
    assert.ok([...byKey.values()].every((s) => s.size === 1), 'each key on one partition');
    assert.ok(new Set([...byKey.values()].map((s) => [...s][0])).size > 1, 'keys spread over partitions');
    // A consumer sees each message on the partition its ID names.
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const got = await drain(c, 200, { ack: true });
    assert.equal(got.length, 200);
    for (const m of got) assert.deepEqual([...byKey.get(m.key!)!], [m.id.partition]);
    // Round-robin spreads keyless messages over every partition.
    const rr = await broker.createProducer({ topic, routing: 'round-robin', batching: { maxMessages: 1 } });
    const rrIds = await Promise.all(range(8).map((v) => rr.send({ value: bytes(v) })));
    assert.equal(new Set(rrIds.map((id) => id.partition)).size, 4);
  });
});
