/** Message values through the default bytes schema: bytes pass through, strings go as UTF-8. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MillraceError, Schemas } from '../index.js';
import { text, topicName, withBroker } from './util/messaging.js';

test('values - with the default schema a string value is sent as its UTF-8 bytes; a number is a typed error', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('values');
    const consumer = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const producer = await broker.createProducer({ topic });
    await producer.send({ value: 'héllo' });
    await producer.send({ value: new Uint8Array([0x6f, 0x6b]) });
    await assert.rejects(producer.send({ value: 5 as unknown as string }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
    const a = await consumer.receive({ timeoutMs: 5000 });
    const b = await consumer.receive({ timeoutMs: 5000 });
    assert.ok(a && b);
    assert.equal(text(a), 'héllo');
    assert.deepEqual([...a.data], [...new TextEncoder().encode('héllo')]);
    assert.equal(text(b), 'ok');
    assert.equal(await consumer.receive({ timeoutMs: 200 }), null, 'the refused value was never sent');
  });
});

test('values - a schema option that is not a Schema is INVALID_ARGUMENT when the producer, consumer or reader is made, not a TypeError at the first send', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('bad-schema');
    const invalid = (e: unknown): boolean => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT' && /schema must be a Schema/.test(e.message);
    // A type name instead of the schema, garbage, a type without the functions, an unknown type.
    for (const schema of ['json', 42, null, {}, { type: 'json' }, { type: 'avro', encode: () => new Uint8Array(0), decode: () => null }] as unknown as undefined[]) {
      await assert.rejects(broker.createProducer({ topic, schema }), invalid, JSON.stringify(schema));
      await assert.rejects(broker.subscribe({ topic, subscription: 's', schema }), invalid, JSON.stringify(schema));
      await assert.rejects(broker.createReader({ topic, startTimeMs: 0, schema }), invalid, JSON.stringify(schema));
    }
    // None of them recorded a schema for the topic: a JSON producer still may.
    const p = await broker.createProducer({ topic, schema: Schemas.json<{ a: number }>() });
    await p.send({ value: { a: 1 } });
  });
});
