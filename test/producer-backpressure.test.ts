import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, MessageId } from '../index.js';
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
