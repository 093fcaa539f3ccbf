import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bytes, drain, isCode, range, text, topicName, withBroker } from './util/messaging.js';

test('dedup - a producer resending the same sequence IDs after a broker restart stores each message once (G4)', async () => {
  await withBroker(async (ctx) => {
    const topic = topicName('dedup');
    await ctx.broker.admin.createTopic(topic, { partitions: 2 });
    let p = await ctx.broker.createProducer({ topic, name: 'ingest-1', routing: 'round-robin', batching: { maxMessages: 4 } });
    await Promise.all(range(10).map((v, i) => p.send({ value: bytes(v), sequenceId: i })));
    await p.close();
    const broker = await ctx.reopen();
    p = await broker.createProducer({ topic, name: 'ingest-1', routing: 'round-robin', batching: { maxMessages: 4 } });
    assert.equal(p.lastSequenceId, 9);
    // The resend of 0..9 is refused client-side (IDs must increase); a fresh producer object would
    // resend them as the crashed process did: the same name and IDs through the partitions.
    await assert.rejects(p.send({ value: bytes('m3'), sequenceId: 3 }), isCode('SEQUENCE_INVALID'));
    await p.close();
    const raw = await broker.createProducer({ topic, name: 'ingest-1', routing: 'round-robin', batching: { maxMessages: 4 } });
    (raw as unknown as { seq: number }).seq = -1;
    const ids = await Promise.all([...range(10), 'm10', 'm11'].map((v, i) => raw.send({ value: bytes(v), sequenceId: i })));
    assert.ok(ids.slice(10).every((id) => id.entryId >= 0), 'new messages are stored');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const got = (await drain(c, 100, { idleMs: 500 })).map(text).sort();
    assert.deepEqual(got, [...range(10), 'm10', 'm11'].sort());
    assert.equal((await broker.admin.stats(topic)).msgInCounter, 2, 'only the new messages were appended after the restart');
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
