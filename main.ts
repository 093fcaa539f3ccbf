/**
 * `npm start`: the main job. For now a short tour of the three models on one partitioned topic:
 * publish, a Shared queue of workers, a Key_Shared group keeping per-key order, and a replay from the
 * earliest message; it prints what happened and how fast. Later issues grow this into the ML
 * feedback-loop pipeline.
 *
 * Flags: --data-dir DIR (default ./data), --messages N (default 200,000), --json.
 */
import { parseArgs } from 'node:util';
import { Broker, MessageId, MillraceError, type Consumer } from './index.js';

const { values: flags } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: './data' },
    messages: { type: 'string', default: '200000' },
    json: { type: 'boolean', default: false },
  },
});

const say = (line: string): void => {
  if (!flags.json) process.stderr.write(`${line}\n`);
};
const rate = (n: number, ms: number): string => `${Math.round(n / (ms / 1000)).toLocaleString('en-US')} msg/s`;

async function drain(consumers: Consumer<unknown>[], want: number, onMessage: (c: number, key: string | undefined, seq: number) => void): Promise<number> {
  let got = 0;
  // When the last message arrives, the other consumers' pending receives are aborted, so the timing
  // is not padded by a receive timeout.
  const done = new AbortController();
  await Promise.all(consumers.map(async (c, i) => {
    while (got < want) {
      const m = await c.receive({ timeoutMs: 5000, signal: done.signal });
      if (!m) return;
      got++;
      onMessage(i, m.key, Number(m.properties.seq));
      c.ack(m).catch(() => undefined);
      if (got >= want) done.abort();
    }
  }));
  return got;
}

async function main(): Promise<void> {
  const total = Number(flags.messages);
  if (!Number.isInteger(total) || total < 100) throw new MillraceError('INVALID_ARGUMENT', `--messages must be an integer >= 100, got ${flags.messages}`);
  const broker = await Broker.open({ dataDir: flags['data-dir']! });
  try {
    const topic = `persistent://public/default/tour-${Date.now()}`;
    await broker.admin.createTopic(topic, { partitions: 4 });
    say(`millrace: data dir ${flags['data-dir']}, topic ${topic} with 4 partitions`);

    // Subscriptions first, so they see every message (a new subscription starts at the latest).
    const workers = await Promise.all([0, 1, 2].map((i) => broker.subscribe({ topic, subscription: 'workers', type: 'shared', consumerName: `worker-${i}`, receiverQueueSize: 3000 })));
    const keyed = await Promise.all([0, 1].map((i) => broker.subscribe({ topic, subscription: 'per-user', type: 'key_shared', consumerName: `keyed-${i}`, receiverQueueSize: 3000 })));

    // 1. Publish: a named producer, batching on, keyed by user (Murmur3 key hash routing).
    const producer = await broker.createProducer({ topic, name: 'tour-producer' });
    const value = new Uint8Array(100);
    const t0 = performance.now();
    // A sliding window of 20,000 sends in flight: each send waits for the one issued 20,000 before.
    const window: (Promise<unknown> | undefined)[] = new Array(20_000);
    for (let i = 0; i < total; i++) {
      const slot = i % window.length;
      if (window[slot]) await window[slot];
      window[slot] = producer.send({ value, key: `user-${i % 100}`, properties: { seq: String(i) } });
    }
    await Promise.all(window);
    const publishMs = performance.now() - t0;
    say(`publish:    ${total.toLocaleString('en-US')} messages, durable, in ${(publishMs / 1000).toFixed(2)} s (${rate(total, publishMs)})`);

    // 2. A work queue: three Shared consumers split the stream; each message goes to one of them.
    const perWorker = [0, 0, 0];
    const t1 = performance.now();
    const queued = await drain(workers, total, (c) => perWorker[c]!++);
    say(`queue:      3 shared workers took ${queued.toLocaleString('en-US')} messages (${perWorker.join(' / ')}) in ${((performance.now() - t1) / 1000).toFixed(2)} s`);

    // 3. Key_Shared: each user's messages go to one consumer, in order.
    const lastSeq = new Map<string, number>();
    const owner = new Map<string, number>();
    let outOfOrder = 0;
    let moved = 0;
    const t2 = performance.now();
    const keyedGot = await drain(keyed, total, (c, key, seq) => {
      const k = key ?? '';
      if ((lastSeq.get(k) ?? -1) > seq) outOfOrder++;
      lastSeq.set(k, seq);
      if (owner.has(k) && owner.get(k) !== c) moved++;
      owner.set(k, c);
    });
    say(`key_shared: 2 consumers took ${keyedGot.toLocaleString('en-US')} messages of ${lastSeq.size} users in ${((performance.now() - t2) / 1000).toFixed(2)} s; ` +
      `per-key order violations: ${outOfOrder}, keys that changed consumer: ${moved}`);

    // 4. Replay: a reader from the earliest message, as each training epoch does.
    const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: 10_000 });
    const t3 = performance.now();
    let replayed = 0;
    while (replayed < total && (await reader.readNext({ timeoutMs: 2000 }))) replayed++;
    const replayMs = performance.now() - t3;
    say(`replay:     a reader read ${replayed.toLocaleString('en-US')} messages from the earliest in ${(replayMs / 1000).toFixed(2)} s (${rate(replayed, replayMs)})`);
    await reader.close();

    const stats = await broker.admin.stats(topic);
    say(`stats:      msgInCounter ${stats.msgInCounter}, storage ${(stats.storageSize / 2 ** 20).toFixed(1)} MiB, backlog workers=${stats.subscriptions.workers?.msgBacklog} per-user=${stats.subscriptions['per-user']?.msgBacklog}`);
    if (flags.json) {
      process.stdout.write(`${JSON.stringify({ published: total, publishMsgPerS: total / (publishMs / 1000), queued, perWorker, keyed: keyedGot, outOfOrder, replayed, replayMsgPerS: replayed / (replayMs / 1000) })}\n`);
    }
  } finally {
    await broker.close();
  }
}

main().catch((err: unknown) => {
  const e = err instanceof MillraceError ? `${err.code}: ${err.message}` : String(err);
  process.stderr.write(`millrace: ${e}\n`);
  process.exitCode = 1;
});
