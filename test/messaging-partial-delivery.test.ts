import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Message } from '../index.js';
import { bytes, text, topicName, withBroker } from './util/messaging.js';

/** The bytes a message's entry arrived in, against the entry's own length field (whole entry). */
function arrivedPartial(m: Message<Uint8Array>): boolean {
  const entry = (m as unknown as { entry: { bytes: Uint8Array } }).entry.bytes;
  return entry.length < new DataView(entry.buffer, entry.byteOffset).getUint32(0, true);
}

/**
 * Three consumers share one 300-message entry. Shared deals an entry to one consumer while it has
 * permits, so receiver queues of 100 split it into three runs of adjacent records; Key_Shared splits
 * it by key, so each consumer's part is every few records (each copied on its own by the host).
 */
const cases = [
  { type: 'shared', receiverQueueSize: 100 },
  { type: 'key_shared', receiverQueueSize: 1000 },
] as const;

for (const { type, receiverQueueSize } of cases) test(`${type} - consumers given some of an entry's messages receive only those records, every field intact; a redelivery too`, async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('partial');
    const consumers = await Promise.all([1, 2, 3].map((k) => broker.subscribe({ topic, subscription: 's', type, initialPosition: 'earliest', consumerName: `c${k}`, receiverQueueSize, nackRedeliveryDelayMs: 10 })));
    const p = await broker.createProducer({ topic, batching: { maxDelayMs: 50 } });
    const n = 300;
    // Sizes around the host's copy-by-loop limit, keys, properties and event times on some.
    const value = (i: number): string => `m${i}-`.padEnd(i % 3 === 0 ? 300 : 20 + (i % 50), 'x');
    const sent = await Promise.all(Array.from({ length: n }, (_, i) => p.send({
      value: bytes(value(i)),
      ...(i % 2 === 0 ? { key: `k${i % 7}` } : {}),
      ...(i % 5 === 0 ? { properties: { i: String(i) } } : {}),
      ...(i % 4 === 0 ? { eventTime: 1000 + i } : {}),
    })));
    assert.equal(new Set(sent.map((id) => `${id.ledgerId}:${id.entryId}`)).size, 1, 'one entry');
    const seen = new Map<number, Message<Uint8Array>>();
    let partial = 0;
    let nacked: Message<Uint8Array> | undefined;
    let redelivered: Message<Uint8Array> | undefined;
    const deadline = Date.now() + 20_000;
    while ((seen.size < n || !redelivered) && Date.now() < deadline) {
      for (const c of consumers) {
        // A short wait: one consumer may hold most of the entry (the keyless half is one key) while the others have nothing.
        const m = await c.receive({ timeoutMs: 2 });
        if (!m) continue;
        if (arrivedPartial(m)) partial++;
        const i = Number(text(m).slice(1, text(m).indexOf('-')));
        if (m.redeliveryCount > 0) {
          assert.equal(i, Number(text(nacked!).slice(1, text(nacked!).indexOf('-'))));
          redelivered = m;
          await c.ack(m);
          continue;
        }
        assert.ok(!seen.has(i), `message ${i} twice`);
        seen.set(i, m);
        assert.equal(text(m), value(i));
        assert.equal(m.key, i % 2 === 0 ? `k${i % 7}` : undefined);
        assert.deepEqual(m.properties, i % 5 === 0 ? { i: String(i) } : {});
        assert.equal(m.eventTime, i % 4 === 0 ? 1000 + i : undefined);
        assert.equal(m.sequenceId, i);
        assert.equal(m.id.toString(), sent[i]!.toString());
        if (i === 7 && !nacked) {
          nacked = m;
          c.nack(m);
        } else {
          await c.ack(m);
        }
      }
    }
    assert.equal(seen.size, n);
    assert.ok(redelivered, 'the nacked message came back');
    assert.equal(redelivered.redeliveryCount, 1);
    assert.ok(partial > 0, 'some messages arrived in partial entries');
  });
});
