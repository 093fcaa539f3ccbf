import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { Broker, MillraceError } from '../index.js';
import { tempDir, removeDir } from './util/tmp.js';
import { KEEP_ALL, topicName, sleep } from './util/messaging.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Produces `total` numbered messages while `consume` receives; kills the host of partition 0 once
 * a third is sent. Producers resend with deduplication; consumers re-subscribe after the restart.
 */
async function streamThroughCrash(broker: Broker, topic: string, total: number, how: 'exit' | 'throw', received: () => number): Promise<void> {
  const producer = await broker.createProducer({ topic, name: 'crash-producer', routing: 'round-robin', batching: { maxMessages: 50 } });
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    sends.push(producer.send({ value: enc.encode(String(i)) }));
    if (i === Math.floor(total / 3)) {
      const [host] = await broker.testHooks.hostsOf(topic);
      broker.testHooks.crashHost(host!, how);
    }
    if (i % 200 === 199) await sleep(5);
  }
  await Promise.all(sends);
  const deadline = Date.now() + 20_000;
  while (received() < total && Date.now() < deadline) await sleep(20);
}

// Both ways a worker dies. The 'throw' variant used to lose acknowledged batches now and then: the
// partition restarted on a worker whose lmdb-js read snapshot predated the dead worker's last commits,
// and its recovery sealed the ledger before them (test/dedup-restart-stale-read.test.ts reproduces it
// deterministically).
const modes = ['exit', 'throw'] as const;
for (const how of modes) {
  test(`supervision - a shared consumer keeps receiving after its partition's worker dies (${how}): nothing lost, nothing acked comes again`, async () => {
    const dir = tempDir('millrace-connect-sup');
    let broker: Broker | undefined;
    try {
      broker = await Broker.open({ dataDir: dir, workers: 2, policies: KEEP_ALL });
      const topic = topicName('sup');
      await broker.admin.createTopic(topic, { partitions: 2 });
      const consumer = await broker.subscribe({ topic, subscription: 'q', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 100 });
      const total = 3000;
      const seen = new Map<number, number>();
      const ackedAt = new Map<number, number>();
      const redeliveredAfterAck: number[] = [];
      let stop = false;
      const consuming = (async () => {
        while (!stop) {
          const m = await consumer.receive({ timeoutMs: 50 });
          if (!m) continue;
          const i = Number(dec.decode(m.data));
          if (ackedAt.has(i)) redeliveredAfterAck.push(i);
          seen.set(i, (seen.get(i) ?? 0) + 1);
          // Acks of copies delivered before the crash may fail (WORKER_DIED, or ACK_INVALID once the
          // consumer reset): those messages are redelivered, so only a resolved ack counts.
          consumer.ack(m).then(() => ackedAt.set(i, Date.now()), (e: unknown) => {
            assert.ok(e instanceof MillraceError && ['WORKER_DIED', 'ACK_INVALID', 'CLOSED', 'ACTOR_NOT_FOUND'].includes(e.code), String(e));
          });
        }
      })();
      await streamThroughCrash(broker, topic, total, how, () => seen.size);
      // Let redeliveries of unacked messages, if any, arrive.
      await sleep(500);
      stop = true;
      await consuming;
      const lost = Array.from({ length: total }, (_, i) => i).filter((i) => !seen.has(i));
      assert.deepEqual(lost.slice(0, 10), [], `${lost.length} messages never received`);
      assert.deepEqual(redeliveredAfterAck, [], 'a message whose ack resolved was delivered again');
      const dups = [...seen.values()].filter((n) => n > 1).length;
      process.stderr.write(`# supervision (${how}): ${total} received, ${dups} seen more than once (at-least-once across the restart)\n`);
      // Once everything is acked the backlog drains: the restarted actor has the consumer back.
      const deadline = Date.now() + 5000;
      let backlog = -1;
      while (Date.now() < deadline) {
        backlog = (await broker.admin.stats(topic)).subscriptions.q!.msgBacklog;
        if (backlog === 0) break;
        const m = await consumer.receive({ timeoutMs: 100 });
        if (m) await consumer.ack(m).catch(() => undefined);
      }
      assert.equal(backlog, 0);
    } finally {
      // Closed here, not at the end of the try: a failed assertion must not leave workers running
      // (the test process would never exit).
      await broker?.close();
      removeDir(dir);
    }
  });
}

test('supervision - a consumer in a connected worker thread keeps receiving after a host worker dies', async () => {
  const dir = tempDir('millrace-connect-sup');
  let broker: Broker | undefined;
  let w: Worker | undefined;
  try {
    broker = await Broker.open({ dataDir: dir, workers: 2, policies: KEEP_ALL });
    const topic = topicName('sup-worker');
    await broker.admin.createTopic(topic, { partitions: 2 });
    const seen = new Map<number, number>();
    const worker = new Worker(new URL('./fixtures/connect-consumer.js', import.meta.url), { workerData: { handle: broker.handle(), topic, subscription: 'wq', type: 'shared' } });
    w = worker;
    worker.on('message', (m: { t: string; values?: string[] }) => {
      if (m.t === 'got') for (const v of m.values!) seen.set(Number(v), (seen.get(Number(v)) ?? 0) + 1);
    });
    await new Promise((r) => worker.once('message', r));
    const exit = new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', resolve);
    });
    const total = 3000;
    await streamThroughCrash(broker, topic, total, 'exit', () => seen.size);
    worker.postMessage({ t: 'stop' });
    assert.equal(await exit, 0);
    const lost = Array.from({ length: total }, (_, i) => i).filter((i) => !seen.has(i));
    assert.deepEqual(lost.slice(0, 10), [], `${lost.length} messages never received by the worker thread`);
  } finally {
    await w?.terminate();
    await broker?.close();
    removeDir(dir);
  }
});
