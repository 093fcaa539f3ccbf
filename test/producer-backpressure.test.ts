import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, MessageId, MillraceError, Schemas } from '../index.js';
import { tempDir, removeDir } from './util/tmp.js';

test('producer - sends waiting for room (maxPendingMessages) keep their call order', async () => {
  const dir = tempDir();
  const broker = await Broker.open({ dataDir: dir, workers: 1 });
  try {
    const producer = await broker.createProducer({ topic: 'order', maxPendingMessages: 50, batching: { maxMessages: 20 } });
    const sends: Promise<MessageId>[] = [];
    for (let i = 0; i < 2000; i++) {
      sends.push(producer.send({ value: new TextEncoder().encode(String(i)) }));
      // A window of sends larger than maxPendingMessages (as a fast producer keeps): new sends arrive
      // the moment room frees, while older ones still wait for it.
      if (sends.length >= 150) await sends[sends.length - 150];
    }
    const ids = await Promise.all(sends);
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i]!.compare(ids[i - 1]!) > 0, `send ${i} was stored before send ${i - 1}`);
    const reader = await broker.createReader({ topic: 'order', startMessageId: MessageId.earliest });
    for (let i = 0; i < 2000; i++) {
      const m = await reader.readNext({ timeoutMs: 2000 });
      assert.equal(new TextDecoder().decode(m!.data), String(i));
    }
    await producer.close();
  } finally {
    await broker.close();
    removeDir(dir);
  }
});

test('producer - a value (and a key) may be reused as soon as send returns, also when the send waits for room', async () => {
  const dir = tempDir();
  const broker = await Broker.open({ dataDir: dir, workers: 1, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
  try {
    const topic = 'reuse';
    const producer = await broker.createProducer({ topic, maxPendingMessages: 5, batching: { maxMessages: 3 } });
    const value = new Uint8Array(8);
    const key = new Uint8Array(2);
    const json = await broker.createProducer({ topic: 'reuse-json', maxPendingMessages: 2, batching: { maxMessages: 1 }, schema: Schemas.json<{ n: number }>() });
    const doc = { n: 0 };
    const sends: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      // One buffer, one key and one object for every send: most of these sends wait for room.
      new DataView(value.buffer).setUint32(0, i, true);
      key[0] = i % 251;
      sends.push(producer.send({ value, key }));
      doc.n = i;
      sends.push(json.send({ value: doc }));
    }
    await Promise.all(sends);
    const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    const jsonReader = await broker.createReader({ topic: 'reuse-json', startMessageId: MessageId.earliest, schema: Schemas.json<{ n: number }>() });
    for (let i = 0; i < 300; i++) {
      const m = await reader.readNext({ timeoutMs: 2000 });
      assert.equal(new DataView(m!.data.buffer, m!.data.byteOffset, 8).getUint32(0, true), i);
      assert.equal(m!.keyBytes?.[0], i % 251);
      assert.deepEqual((await jsonReader.readNext({ timeoutMs: 2000 }))!.value, { n: i });
    }
    await producer.close();
    await json.close();
  } finally {
    await broker.close();
    removeDir(dir);
  }
});

test('producer - bad options are INVALID_ARGUMENT at createProducer: maxPendingMessages 0 left every send waiting for room forever', async () => {
  const dir = tempDir();
  const broker = await Broker.open({ dataDir: dir, workers: 1 });
  try {
    const topic = 'bad-producer-options';
    const bad = [
      { maxPendingMessages: 0 }, { maxPendingMessages: 1.5 }, { sendTimeoutMs: -1 }, { sendTimeoutMs: '5' }, { sendTimeoutMs: 2 ** 31 },
      { batching: 'yes' }, { batching: { enabled: 'no' } },
    ] as unknown as object[];
    for (const options of bad) {
      await assert.rejects(broker.createProducer({ topic, ...options }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT', JSON.stringify(options));
    }
    // The smallest valid window still sends.
    const p = await broker.createProducer({ topic, maxPendingMessages: 1, sendTimeoutMs: 0 });
    const ids = await Promise.all([p.send({ value: 'a' }), p.send({ value: 'b' })]);
    assert.ok(ids[1]!.compare(ids[0]!) > 0);
  } finally {
    await broker.close();
    removeDir(dir);
  }
});
