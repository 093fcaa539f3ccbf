import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeInto, encodedSize, type FrameMessage } from '../wasm/index.js';
import { BatchBuilder, checkMessage, type BuiltMessage } from '../actors/client/batch-builder.js';
import { MillraceError } from '../index.js';
import { batchArb, check, sameBytes } from './wasm-helpers.js';
import { bytes, drain, text, topicName, withBroker } from './util/messaging.js';

const MAX = 5 * 2 ** 20;

function built(m: FrameMessage, sequenceId: number): BuiltMessage {
  return { value: m.value, key: m.key ?? null, properties: m.properties ?? null, eventTime: m.eventTime, deliverAt: m.deliverAt, sequenceId };
}

test('batch builder - lays out a batch message by message to the same bytes as encodeInto, in a reused or growing buffer', () => {
  check(fc.property(batchArb, fc.nat(4096), fc.boolean(), (batch, expected, reuse) => {
    // The builder always numbers messages (a producer does); give the reference the same IDs.
    const messages = batch.messages.map((m, i) => ({ ...m, sequenceId: m.sequenceId ?? 1000 + i }));
    const name = batch.producerName ?? new Uint8Array(0);
    const ref = new Uint8Array(encodedSize({ publishTime: 0, producerName: name, messages }));
    encodeInto({ publishTime: 0, producerName: name, messages }, ref, 0);
    const spare = reuse ? new Uint8Array(64).fill(0xee) : undefined;
    const b = BatchBuilder.create(name, expected, spare);
    for (const m of messages) {
      const msg = built(m, m.sequenceId);
      const size = checkMessage(msg, name.length, MAX);
      assert.ok(b.fits(size, msg.sequenceId, MAX));
      b.add(msg, size);
    }
    const entry = b.seal();
    assert.equal(b.count, messages.length);
    assert.ok(sameBytes(entry, ref), 'builder bytes differ from encodeInto');
  }), 300);
});

test('batch builder - a message that breaks the entry format does not fit: lower sequence ID, delta over u32, entry over the size limit', () => {
  const name = new Uint8Array(0);
  const b = BatchBuilder.create(name, 0);
  const m: BuiltMessage = { value: new Uint8Array(10), key: null, properties: null, eventTime: undefined, deliverAt: undefined, sequenceId: 5 };
  const size = checkMessage(m, 0, MAX);
  assert.ok(b.fits(size, 5, MAX));
  b.add(m, size);
  assert.equal(b.fits(size, 5, MAX), false);
  assert.equal(b.fits(size, 4, MAX), false);
  assert.equal(b.fits(size, 5 + 2 ** 32, MAX), false);
  assert.equal(b.fits(size, 6, b.size + size - 1), false);
  assert.ok(b.fits(size, 6, b.size + size));
});

test('batch builder - bad messages are refused with typed errors before anything is laid out', () => {
  const ok: BuiltMessage = { value: new Uint8Array(1), key: null, properties: null, eventTime: undefined, deliverAt: undefined, sequenceId: 0 };
  const code = (c: string) => (e: unknown) => e instanceof MillraceError && e.code === c;
  assert.throws(() => checkMessage({ ...ok, value: 'x' as unknown as Uint8Array }, 0, MAX), code('INVALID_ARGUMENT'));
  assert.throws(() => checkMessage({ ...ok, key: new Uint8Array(0x10000) }, 0, MAX), code('INVALID_ARGUMENT'));
  assert.throws(() => checkMessage({ ...ok, eventTime: -1 }, 0, MAX), code('INVALID_ARGUMENT'));
  assert.throws(() => checkMessage({ ...ok, deliverAt: 1.5 }, 0, MAX), code('INVALID_ARGUMENT'));
  assert.throws(() => checkMessage({ ...ok, value: new Uint8Array(100) }, 0, 100), code('ENTRY_TOO_LARGE'));
});

test('producer - a bad message fails its own send only; the messages batched with it are stored', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('bad-one');
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, batching: { maxDelayMs: 50 } });
    const sends = [
      p.send({ value: bytes('a') }),
      p.send({ value: bytes('bad'), eventTime: -5 }),
      p.send({ value: bytes('b'), key: 'k', properties: { x: 'y' }, eventTime: 7 }),
    ];
    const [a, bad, b] = await Promise.allSettled(sends);
    assert.equal(a.status, 'fulfilled');
    assert.equal(b.status, 'fulfilled');
    assert.ok(bad.status === 'rejected' && bad.reason instanceof MillraceError && bad.reason.code === 'INVALID_ARGUMENT');
    const got = await drain(c, 2, { ack: true });
    assert.deepEqual(got.map(text), ['a', 'b']);
    assert.equal(got[1]!.key, 'k');
    assert.deepEqual(got[1]!.properties, { x: 'y' });
    assert.equal(got[1]!.eventTime, 7);
    // Sequence IDs stay consecutive: the refused message took none.
    assert.equal(got[1]!.sequenceId, got[0]!.sequenceId! + 1);
  });
});

test('producer - batches split where the format requires: more messages than an entry holds go in several entries, in order', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('split');
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest', receiverQueueSize: 70_000 });
    const p = await broker.createProducer({ topic, maxPendingMessages: 100_000, batching: { maxMessages: 100_000, maxBytes: 4 * 2 ** 20, maxDelayMs: 1000 } });
    const n = 65_536 + 10;
    const ids = await Promise.all(Array.from({ length: n }, (_, i) => p.send({ value: bytes(String(i)) })));
    assert.equal(new Set(ids.map((id) => `${id.ledgerId}:${id.entryId}`)).size, 2);
    const got = await drain(c, n, { ack: false });
    assert.equal(got.length, n);
    assert.equal(text(got[0]!), '0');
    assert.equal(text(got[n - 1]!), String(n - 1));
  });
});

test('producer - the sends of one batch resolve with batch indexes in send order, duplicates of a resend with -1:-1', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('ids');
    const p = await broker.createProducer({ topic, name: 'ids-order', batching: { maxDelayMs: 50 } });
    const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => p.send({ value: bytes(String(i)) })));
    ids.forEach((id, i) => {
      assert.equal(id.batchIndex, i);
      assert.equal(`${id.ledgerId}:${id.entryId}`, `${ids[0]!.ledgerId}:${ids[0]!.entryId}`);
    });
    const again = await p.send({ value: bytes('0'), sequenceId: 0 });
    assert.equal(again.toString(), `-1:-1:${again.partition}:-1`);
  });
});
