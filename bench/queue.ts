/**
 * `e2e.queue.shared4.100B`: a work queue across threads. One producer on the main thread, four
 * consumers on one Shared subscription, each in its own worker thread (Broker.connect), 100-byte
 * durable messages on a 4-partition topic. Every message carries a unique sequence number; each
 * consumer counts what it receives in a shared Uint8Array (one counter per message, Atomics.add),
 * so duplicates (a counter above 1) and losses (a counter at 0) are exact. `rss_mb` is the peak
 * resident memory of the process (host and consumer threads included) sampled during the run, in
 * a child process of its own (./isolated.ts); on Linux `rss_anon_mb` (V8 heaps, rings, malloc) and
 * `rss_file_mb` (LMDB's mapped pages, the node binary) split that peak sample.
 * The consumer threads run this same module (see `consume` at the end).
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Broker } from '../index.js';
import type { BrokerHandle } from '../actors/client/broker.js';
import type { BenchContext, BenchResult, Scenario } from './harness.js';
import { rssSampler } from './harness.js';
import { runIsolated, type Workload } from './isolated.js';
import { sendWindowed, WINDOW } from './send-window.js';
import { warmUp, warmupMessages } from './warm-up.js';

const VALUE_BYTES = 100;
const CONSUMERS = 4;

async function sharedQueue(ctx: BenchContext): Promise<BenchResult> {
  const total = ctx.quick ? 200_000 : 2_000_000;
  // Messages 0..warm-1 are the warm-up (./warm-up.ts), counted for duplicates and losses like the rest.
  const warm = warmupMessages(ctx.quick);
  const broker = await Broker.open({ dataDir: ctx.tmpDir('queue'), durability: 'durable' });
  const workers: Worker[] = [];
  try {
    const topic = 'bench-queue-shared4';
    await broker.admin.createTopic(topic, { partitions: 4 });
    // counts[i]: how many times message i was received, across all consumers.
    const counts = new Uint8Array(new SharedArrayBuffer(warm + total));
    // received[0]: messages received in all; consumers add to it.
    const received = new Int32Array(new SharedArrayBuffer(4));
    const handle = broker.handle();
    for (let k = 0; k < CONSUMERS; k++) {
      workers.push(new Worker(new URL(import.meta.url), {
        workerData: { queueConsumer: true, handle, topic, subscription: 'work', counts: counts.buffer, received: received.buffer },
      }));
    }
    await Promise.all(workers.map((w) => new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    })));
    const producer = await broker.createProducer({ topic, routing: 'round-robin', maxPendingMessages: WINDOW * 2 });
    const rss = rssSampler();
    const value = Buffer.alloc(VALUE_BYTES);
    // Each value carries its index, so the consumers can count duplicates and losses.
    const sendFrom = (first: number, n: number): Promise<number> => sendWindowed(producer, n, (i) => {
      value.writeUInt32LE(first + i, 0);
      return value;
    });
    const warmed = await warmUp(ctx.quick, async (n) => {
      const failed = await sendFrom(0, n);
      await caughtUp(received, n);
      return failed;
    });
    const base = Atomics.load(received, 0);
    const t0 = performance.now();
    const failed = warmed.failed + await sendFrom(warm, total);
    const sentAt = performance.now();
    await caughtUp(received, warm + total);
    const t1 = performance.now();
    // A short grace period for duplicates to show up before counting.
    await new Promise((r) => setTimeout(r, ctx.quick ? 200 : 500));
    const rss_mb = rss.stop();
    const rssParts = rss.parts();
    let duplicates = 0;
    let losses = 0;
    for (let i = 0; i < counts.length; i++) {
      const c = counts[i]!;
      if (c === 0) losses++;
      else if (c > 1) duplicates += c - 1;
    }
    const got = Atomics.load(received, 0) - base;
    const s = (t1 - t0) / 1000;
    return {
      name: 'e2e.queue.shared4.100B', unit: 'msg/s', value: got / s, messages: total, received: got, consumers: CONSUMERS,
      partitions: 4, duplicates, losses, failed_sends: failed, publish_msg_per_s: total / ((sentAt - t0) / 1000), rss_mb, ...rssParts, durability: 'durable',
      ...warmed.fields,
    };
  } finally {
    await Promise.all(workers.map(async (w) => {
      const exited = new Promise((r) => w.once('exit', r));
      w.postMessage({ t: 'stop' });
      await exited;
    }));
    await broker.close();
  }
}

/**
 * Waits until the consumers have received `n` messages in all, or until none has arrived for 5 s
 * (bounded: a loss would otherwise wait forever; the counts then show it).
 */
async function caughtUp(received: Int32Array, n: number): Promise<void> {
  const idleLimitMs = 5000;
  let last = Atomics.load(received, 0);
  let lastChange = performance.now();
  while (Atomics.load(received, 0) < n && performance.now() - lastChange < idleLimitMs) {
    await new Promise((r) => setTimeout(r, 5));
    const now = Atomics.load(received, 0);
    if (now !== last) {
      last = now;
      lastChange = performance.now();
    }
  }
}

/** The workload by name, run in its own child process (./isolated.ts) so rss_mb is its own. */
export const workloads: Record<string, Workload> = {
  'e2e.queue.shared4.100B': async (ctx) => [await sharedQueue(ctx)],
};

export const scenarios: Scenario[] = [
  {
    name: 'e2e.queue.shared4.100B',
    description: 'one producer (main thread), four Shared consumers each in its own worker thread (Broker.connect), durable; duplicates and losses counted',
    run: (ctx) => runIsolated(ctx, import.meta.url, 'e2e.queue.shared4.100B'),
  },
];

interface ConsumerData {
  queueConsumer: true;
  handle: BrokerHandle;
  topic: string;
  subscription: string;
  counts: SharedArrayBuffer;
  received: SharedArrayBuffer;
}

/**
 * One consumer thread: connects with Broker.connect, consumes the Shared subscription, acks each
 * message, and counts each sequence number in the shared counters until the parent says stop.
 */
async function consume(d: ConsumerData): Promise<void> {
  const c8 = new Uint8Array(d.counts);
  const r32 = new Int32Array(d.received);
  const broker = await Broker.connect(d.handle);
  const consumer = await broker.subscribe({ topic: d.topic, subscription: d.subscription, type: 'shared', initialPosition: 'earliest', receiverQueueSize: 5000 });
  let stop = false;
  const onMessage = (m: { t: string }): void => {
    if (m.t === 'stop') stop = true;
  };
  parentPort!.on('message', onMessage);
  parentPort!.postMessage({ t: 'ready' });
  let n = 0;
  const poll = { timeoutMs: 5 };
  while (!stop) {
    const m = await consumer.receive(poll);
    if (!m) {
      // Idle: publish the remainder so the parent sees the run end without waiting.
      if (n > 0) Atomics.add(r32, 0, n);
      n = 0;
      continue;
    }
    const d = m.data;
    const seq = (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0;
    if (seq < c8.length) Atomics.add(c8, seq, 1);
    // Progress in steps: one shared atomic per message would contend across four threads.
    if (++n === 64) {
      Atomics.add(r32, 0, n);
      n = 0;
    }
    // Not awaited, no .catch: the consumer's contract allows it (a failed ack nobody awaits is not
    // an unhandled rejection), and a handler per message was a reaction each on the shared promise.
    void consumer.ack(m);
  }
  if (n > 0) Atomics.add(r32, 0, n);
  await broker.close();
  // A listener on the parent port keeps the thread alive: leave so it ends by itself.
  parentPort!.off('message', onMessage);
}

if (!isMainThread && (workerData as Partial<ConsumerData> | null)?.queueConsumer === true) await consume(workerData as ConsumerData);
