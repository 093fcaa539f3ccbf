import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Broker, MessageId } from '../index.js';
import { tempDir, removeDir } from './util/tmp.js';
import { KEEP_ALL } from './util/messaging.js';

for (const routing of ['round-robin', 'single', 'key-hash'] as const) {
  test(`dedup - a named producer replaying its sequence IDs after a restart stores each message once, also with ${routing} routing on a partitioned topic (G4)`, async () => {
    const dir = tempDir();
    const topic = 'persistent://public/default/replay';
    const send = async (broker: Broker): Promise<MessageId[]> => {
      const producer = await broker.createProducer({ topic, name: 'replayer', routing, batching: { maxMessages: 100 } });
      const ids = await Promise.all(Array.from({ length: 1000 }, (_, i) => producer.send({ value: new TextEncoder().encode(String(i)), sequenceId: i + 1 })));
      await producer.close();
      return ids;
    };
    try {
      let broker = await Broker.open({ dataDir: dir, workers: 2, policies: KEEP_ALL });
      await broker.admin.createTopic(topic, { partitions: 4 });
      const first = await send(broker);
      assert.ok(first.every((id) => id.ledgerId >= 0));
      await broker.close();
      // The application did not see its acks (a crash) and replays everything with the same IDs.
      broker = await Broker.open({ dataDir: dir, workers: 2, policies: KEEP_ALL });
      const again = await send(broker);
      assert.ok(again.every((id) => id.ledgerId === -1), 'every replayed message is acknowledged as a duplicate');
      const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest });
      const seen = new Map<string, number>();
      for (let m = await reader.readNext({ timeoutMs: 1000 }); m; m = await reader.readNext({ timeoutMs: 300 })) {
        const v = new TextDecoder().decode(m.data);
        seen.set(v, (seen.get(v) ?? 0) + 1);
      }
      assert.equal(seen.size, 1000);
      assert.deepEqual([...seen.values()].filter((n) => n > 1), [], 'no message stored twice');
      await broker.close();
    } finally {
      removeDir(dir);
    }
  });
}
