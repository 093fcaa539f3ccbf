/**
 * `millrace demo`: a small built-in tour, in a temporary data directory unless one is given:
 * produce keyed messages to a partitioned topic, consume them with two shared consumers, replay
 * them with a reader from the earliest. (`npm start` runs the longer tour in main.ts, which exports
 * nothing to call from here.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { MillraceError } from '../core/errors.js';
import { MessageId } from '../core/topic/index.js';
import { integer } from './parse.js';
import { commonOptions, withBroker, type CommonOptions } from './session.js';
import { drainAll, sendMany } from './workload.js';

interface DemoOptions extends Omit<CommonOptions, 'dataDir'> {
  dataDir?: string;
  messages: number;
  keep: boolean;
}

const enc = new TextEncoder();

export function registerDemo(program: Command): void {
  commonOptions(program.command('demo')
    .description('a built-in tour: produce keyed messages, a shared queue of two consumers, a replay (not npm start\'s longer tour)')
    .option('-n, --messages <n>', 'messages to produce', integer(1, 10_000_000), 10_000)
    .option('--keep', 'keep the demo topic (with --data-dir)', false), { dataDir: 'temp', workers: 2 })
    .addHelpText('after', `
Examples:
  millrace demo
  millrace demo -n 100000 --json
  millrace demo --data-dir ./data --keep && millrace topics list`)
    .action(async (o: DemoOptions) => {
      const temp = o.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'millrace-demo-')) : undefined;
      try {
        await withBroker({ ...o, dataDir: temp ?? o.dataDir! }, true, async ({ broker, out }) => {
          const topic = `persistent://public/default/demo-${Date.now()}`;
          await broker.admin.createTopic(topic, { partitions: 4 });
          out.note(`demo: topic ${topic}, 4 partitions, data dir ${temp ?? o.dataDir}`);
          // Subscribed first: a new subscription starts at the latest message.
          const workers = await Promise.all([0, 1].map((i) => broker.subscribe({ topic, subscription: 'workers', type: 'shared', consumerName: `worker-${i}` })));

          const producer = await broker.createProducer({ topic, name: 'demo' });
          const t0 = performance.now();
          await sendMany(producer, o.messages, (i) => ({ value: enc.encode(`event ${i}`), key: `user-${i % 10}`, properties: { seq: String(i) } }));
          const produceMs = performance.now() - t0;
          await producer.close();
          out.note(`produce: ${o.messages} keyed messages, durable, in ${(produceMs / 1000).toFixed(2)} s`);

          const perWorker = [0, 0];
          const t1 = performance.now();
          const consumed = await drainAll(workers, o.messages, 5_000, (c) => perWorker[c]!++);
          const consumeMs = performance.now() - t1;
          await Promise.all(workers.map((w) => w.close()));
          out.note(`consume: 2 shared consumers took ${consumed} messages (${perWorker.join(' / ')}) and acked them in ${(consumeMs / 1000).toFixed(2)} s`);

          const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: 10_000 });
          const t2 = performance.now();
          let replayed = 0;
          while (replayed < o.messages && (await reader.readNext({ timeoutMs: 5_000 }))) replayed++;
          const replayMs = performance.now() - t2;
          await reader.close();
          out.note(`replay: a reader read ${replayed} messages from the earliest in ${(replayMs / 1000).toFixed(2)} s`);

          const stats = await broker.admin.stats(topic);
          if (!o.keep || temp) await broker.admin.deleteTopic(topic);
          const result = {
            topic, messages: o.messages, produceMs: Math.round(produceMs), consumed, perWorker, consumeMs: Math.round(consumeMs), replayed, replayMs: Math.round(replayMs),
            msgInCounter: stats.msgInCounter, backlog: stats.subscriptions.workers?.msgBacklog ?? 0, kept: o.keep && !temp,
          };
          out.document(result, () => `demo done: produced ${o.messages}, consumed ${consumed}, replayed ${replayed}, backlog ${result.backlog}`);
          if (consumed < o.messages || replayed < o.messages) {
            throw new MillraceError('TIMEOUT', `demo consumed ${consumed} and replayed ${replayed} of ${o.messages} messages`);
          }
        });
      } finally {
        if (temp) rmSync(temp, { recursive: true, force: true });
      }
    });
}
