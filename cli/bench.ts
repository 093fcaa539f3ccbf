/**
 * `millrace bench`: a short produce-then-consume throughput check on one topic, in a temporary data
 * directory unless one is given. Not the benchmark suite (`npm run bench`): one number each way, to
 * see what this machine and disk do.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { defaultWorkers } from '../core/defaults.js';
import { MillraceError } from '../core/errors.js';
import { integer } from './parse.js';
import { commonOptions, withBroker, type CommonOptions } from './session.js';
import { drainAll, sendMany } from './workload.js';

interface BenchOptions extends Omit<CommonOptions, 'dataDir'> {
  dataDir?: string;
  messages: number;
  size: number;
  partitions: number;
}

export function registerBench(program: Command): void {
  commonOptions(program.command('bench')
    .description('a short produce and consume throughput check (not the full benchmark suite: npm run bench)')
    .option('-n, --messages <n>', 'messages to produce and consume', integer(1, 100_000_000), 100_000)
    .option('-s, --size <bytes>', 'value size in bytes', integer(0, 4 * 2 ** 20), 100)
    .option('-p, --partitions <n>', 'partitions of the bench topic; 0: non-partitioned', integer(0, 1024), 4), { dataDir: 'temp', workers: defaultWorkers(availableParallelism()) })
    .addHelpText('after', `
Examples:
  millrace bench                                   # 100,000 x 100 B in a temporary data dir
  millrace bench -n 1000000 -s 1024 --json
  millrace bench --data-dir ./data                 # on that disk; the bench topic is deleted after

Durable writes (each send resolves once its batch is flushed), batches of up to 1000 messages,
one shared subscription of one consumer acking every message.`)
    .action(async (o: BenchOptions) => {
      const temp = o.dataDir === undefined ? mkdtempSync(join(tmpdir(), 'millrace-bench-')) : undefined;
      try {
        await withBroker({ ...o, dataDir: temp ?? o.dataDir! }, true, async ({ broker, out }) => {
          const topic = `persistent://public/default/bench-${Date.now()}`;
          await broker.admin.createTopic(topic, { partitions: o.partitions });
          // The subscription exists before the first send, so it holds every message for the consume pass.
          await (await broker.subscribe({ topic, subscription: 'bench', type: 'shared', initialPosition: 'earliest' })).close();
          out.note(`bench: ${o.messages} messages of ${o.size} B, ${o.partitions || 'no'} partitions, ${o.workers} workers, data dir ${temp ?? o.dataDir}`);
          const producer = await broker.createProducer({ topic, name: 'bench' });
          const value = new Uint8Array(o.size).fill(120);
          const t0 = performance.now();
          await sendMany(producer, o.messages, () => ({ value }));
          const produceS = (performance.now() - t0) / 1000;
          await producer.close();
          const consumer = await broker.subscribe({ topic, subscription: 'bench', type: 'shared', receiverQueueSize: 10_000 });
          const t1 = performance.now();
          const consumed = await drainAll([consumer], o.messages, 10_000);
          const consumeS = (performance.now() - t1) / 1000;
          await consumer.close();
          await broker.admin.deleteTopic(topic);
          const figures = (n: number, s: number): { messages: number; seconds: number; msgPerS: number; mbPerS: number } =>
            ({ messages: n, seconds: Math.round(s * 1000) / 1000, msgPerS: Math.round(n / s), mbPerS: Math.round((n * o.size) / s / 1e4) / 100 });
          const result = {
            messages: o.messages, sizeBytes: o.size, partitions: o.partitions, workers: o.workers, idleStrategy: o.idleStrategy,
            produce: figures(o.messages, produceS), consume: figures(consumed, consumeS),
          };
          const line = (what: string, f: ReturnType<typeof figures>): string =>
            `${what} ${f.messages.toLocaleString('en-US')} msgs in ${f.seconds.toFixed(2)} s: ${f.msgPerS.toLocaleString('en-US')} msg/s, ${f.mbPerS} MB/s`;
          out.document(result, () => `${line('produce', result.produce)}\n${line('consume', result.consume)}`);
          if (consumed < o.messages) throw new MillraceError('TIMEOUT', `bench consumed ${consumed} of ${o.messages} messages before 10 s passed without one`);
        });
      } finally {
        if (temp) rmSync(temp, { recursive: true, force: true });
      }
    });
}
