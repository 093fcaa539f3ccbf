/** Message values through the default bytes schema: bytes pass through, strings go as UTF-8. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MillraceError } from '../index.js';
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
