/**
 * Whole workloads through the public API (Broker, Producer, Consumer, Reader), 100-byte messages,
 * durable unless the name says async. Each result carries `rss_mb`: the process's peak resident
 * memory sampled during that workload (workers included: they are threads of this process).
 * Each workload runs in its own child process (./isolated.ts), and `broker.idle` in one too, so no
 * workload's figure includes memory an earlier one left behind.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Broker, MessageId, type Durability, type IdleStrategy, type Message } from '../index.js';
import type { BenchContext, BenchResult, Scenario } from './harness.js';
import { percentile, rssSampler, type RssParts } from './harness.js';
import { runIsolated, type Workload } from './isolated.js';
import { lmdbCeilings, stubPair, type LoopConsumer, type LoopProducer } from './baselines.js';
import { sendWindowed, WINDOW } from './send-window.js';
import { warmUp } from './warm-up.js';
import { DEFAULTS } from '../core/defaults.js';

const VALUE_BYTES = 100;
/**
 * A 100-byte value carrying its send time (performance.now) for publish-to-receive latency. One
 * buffer for every send: `send` copies the message before it returns (its documented contract), as
 * a producer that fills one buffer per message would use it. A fresh Uint8Array and a DataView per
 * message were 14% of the main thread's profile in e2e.pubsub, where that thread is the bottleneck.
 */
const stampBuffer = Buffer.alloc(VALUE_BYTES);
function stampedValue(): Uint8Array {
  stampBuffer.writeDoubleLE(performance.now(), 0);
  return stampBuffer;
}

/**
 * Pub+sub measures publish-to-receive latency on every LATENCY_SAMPLE-th message. A clock read
 * costs about 44 ns on this VM, and stamping and timing every message was 7% of the application
 * thread's profile in e2e.pubsub (the thread that bounds it): the harness measured itself. A
 * sample of 1M / 8 messages still gives stable percentiles; the other messages carry 0.
 */
const LATENCY_SAMPLE = 8;
function sampledStampValue(i: number): Uint8Array {
  stampBuffer.writeDoubleLE(i % LATENCY_SAMPLE === 0 ? performance.now() : 0, 0);
  return stampBuffer;
}

const stampBytes = new Uint8Array(8);
const stampF64 = new Float64Array(stampBytes.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The send time `stampedValue` wrote (little-endian) into a message's first 8 bytes, without a DataView per message. */
function stampOf(d: Uint8Array): number {
  for (let i = 0; i < 8; i++) stampBytes[littleEndian ? i : 7 - i] = d[i]!;
  return stampF64[0]!;
}

async function withBroker<T>(ctx: BenchContext, durability: Durability, fn: (b: Broker) => Promise<T>, idleStrategy?: IdleStrategy): Promise<T> {
  // Every message kept: these workloads read back what they wrote, whatever the housekeeping does.
  const broker = await Broker.open({ dataDir: ctx.tmpDir('e2e'), durability, ...(idleStrategy ? { idleStrategy } : {}), policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
  try {
    return await fn(broker);
  } finally {
    await broker.close();
  }
}

/**
 * The unbatched publish: a tenth of the batched one's messages (it runs about a tenth as fast), and
 * 1,000 sends in flight (Pulsar's long-standing maxPendingMessages default). With the batched
 * publish's 10,000, each a batch of one, this workload measured slower and larger: 115-137k msg/s
 * and a peak RSS of 402-423 MB, against 153-167k and 288-344 MB with 1,000 (2026-11-26).
 */
const UNBATCHED = { messages: 200_000, window: 1_000 };

async function publish(ctx: BenchContext, name: string, partitions: number, options: { durability?: Durability; batching?: boolean } = {}): Promise<BenchResult> {
  const batching = options.batching ?? true;
  const durability = options.durability ?? 'durable';
  const full = batching ? 2_000_000 : UNBATCHED.messages;
  const total = ctx.quick ? full / 10 : full;
  const window = batching ? WINDOW : UNBATCHED.window;
  return withBroker(ctx, durability, async (broker) => {
    const topic = `bench-publish-${partitions}`;
    await broker.admin.createTopic(topic, { partitions: partitions > 1 ? partitions : 0 });
    const producer = await broker.createProducer({ topic, routing: 'round-robin', maxPendingMessages: window * 2, batching: { enabled: batching } });
    const value = new Uint8Array(VALUE_BYTES);
    const rss = rssSampler();
    const warm = await warmUp(ctx.quick, (n) => sendWindowed(producer, n, () => value, window));
    const t0 = performance.now();
    const failed = await sendWindowed(producer, total, () => value, window);
    const s = (performance.now() - t0) / 1000;
    const rss_mb = rss.stop();
    return { name, unit: 'msg/s', value: total / s, messages: total, partitions, batching, in_flight: window, failed: failed + warm.failed, rss_mb, durability, ...warm.fields };
  });
}

/**
 * Sends in flight in pub+sub: eight producer batches. The thread that sends also receives and acks,
 * so sends beyond what covers an append's round trip only wait in the window and the consumer falls
 * behind. Four alternating rounds of this workload (2026-11-26): at 5,000 1.01-1.18M msg/s (median
 * publish-to-receive 4.4-5.1 ms), at 8,000 1.11-1.28M (7.7-8.6 ms), at 10,000 1.05-1.27M with the
 * median at 11-50 ms (the consumer behind); peak RSS 317-326, 326-331 and 320-358 MB. A durable
 * append's round trip under this load is 2.4-3.4 ms on the host alone (commit and flush), so five
 * batches in flight left the thread idle about a quarter of the time. Publish and the queue keep
 * WINDOW.
 */
const PUBSUB_WINDOW = 8_000;

/**
 * The pub+sub loop: sends `total` stamped messages through the send window while receiving and
 * acking each on the same thread. Returns what was received, how long it took and each message's
 * sampled publish-to-receive latencies (us; see LATENCY_SAMPLE).
 */
async function pubsubLoop<M extends { data: Uint8Array }>(producer: LoopProducer, consumer: LoopConsumer<M>, total: number): Promise<{ got: number; seconds: number; latencies: Float64Array }> {
  const latencies = new Float64Array(Math.ceil(total / LATENCY_SAMPLE));
  const t0 = performance.now();
  const sending = sendWindowed(producer, total, sampledStampValue, PUBSUB_WINDOW);
  let got = 0;
  let sampled = 0;
  const wait = { timeoutMs: 10_000 };
  while (got < total) {
    const m = await consumer.receive(wait);
    if (!m) break;
    got++;
    const stamp = stampOf(m.data);
    if (stamp !== 0) latencies[sampled++] = (performance.now() - stamp) * 1000;
    // Not awaited, no .catch: the consumer's contract allows it (a failed ack nobody awaits is not
    // an unhandled rejection), and a handler per message was a reaction each on the shared promise.
    void consumer.ack(m);
  }
  await sending;
  return { got, seconds: (performance.now() - t0) / 1000, latencies: latencies.subarray(0, sampled) };
}

/** The pub+sub loop over `n` warm-up messages; every one must arrive, or the measured run would receive the rest. */
async function pubsubWarmUp<M extends { data: Uint8Array }>(producer: LoopProducer, consumer: LoopConsumer<M>, n: number): Promise<void> {
  const r = await pubsubLoop(producer, consumer, n);
  if (r.got !== n) throw new Error(`pub+sub warm-up: received ${r.got} of ${n} messages`);
}

async function pubsub(ctx: BenchContext): Promise<BenchResult[]> {
  const total = ctx.quick ? 100_000 : 1_000_000;
  // The same loop with a broker that costs nothing: the workload's own ceiling on this thread.
  const stub = stubPair();
  const hWarm = await warmUp(ctx.quick, (n) => pubsubWarmUp(stub.producer, stub.consumer, n));
  const h = await pubsubLoop(stub.producer, stub.consumer, total);
  const harness: BenchResult = { name: 'harness.pubsub.100B', unit: 'msg/s', value: h.got / h.seconds, messages: h.got, ...hWarm.fields };
  const r = await withBroker(ctx, 'durable', async (broker) => {
    const topic = 'bench-pubsub';
    await broker.admin.createTopic(topic, { partitions: 4 });
    const consumer = await broker.subscribe({ topic, subscription: 'bench', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 5000 });
    const producer = await broker.createProducer({ topic, routing: 'round-robin', maxPendingMessages: WINDOW * 2 });
    const rss = rssSampler();
    const warm = await warmUp(ctx.quick, (n) => pubsubWarmUp<Message<Uint8Array>>(producer, consumer, n));
    const run = await pubsubLoop<Message<Uint8Array>>(producer, consumer, total);
    const rss_mb = rss.stop();
    const sorted = run.latencies.sort();
    return { name: 'e2e.pubsub.100B', unit: 'msg/s', value: run.got / run.seconds, messages: run.got, p50_us: percentile(sorted, 50), p99_us: percentile(sorted, 99), latency_sample: LATENCY_SAMPLE, rss_mb, ...rss.parts(), ...warm.fields };
  });
  return [harness, { ...r, baseline: harness.name, ratio: r.value / harness.value }];
}

async function steadyLatency(ctx: BenchContext, durability: Durability, name: string, idleStrategy?: IdleStrategy): Promise<BenchResult> {
  const rate = 2000;
  const seconds = ctx.quick ? 2 : 10;
  // A warm-up at the same rate first, left out of the figures (as the OpenMessaging Benchmark does,
  // for a minute by default): it measures JIT compilation and the LMDB map growing, not the steady
  // state. At 2,000 msg/s V8 is still optimizing well after 2 s (--trace-opt: about 45 TurboFan jobs
  // of 0.5-11 ms each on background threads in the 9 s after a 2 s warm-up, about 8 after a 10 s
  // one), and each job holds a vCPU the application thread may be woken onto. Eight alternating
  // pairs of the async workload: after 2 s, p99 226-449 us and 163-285 messages over 300 us; after
  // 10 s, 126-298 us and 94-199; p99.9 2.6-3.3 ms against 1.0-1.5 ms in the second four.
  const warmupSeconds = ctx.quick ? 1 : 10;
  return withBroker(ctx, durability, async (broker) => {
    const topic = 'bench-latency';
    const consumer = await broker.subscribe({ topic, subscription: 'lat', type: 'exclusive', initialPosition: 'earliest' });
    // Batching off: at 2k msg/s each message is its own batch, as a latency-sensitive user would run it.
    const producer = await broker.createProducer({ topic, batching: { enabled: false } });
    const rss = rssSampler();
    const warm = rate * warmupSeconds;
    const total = warm + rate * seconds;
    const lat: number[] = [];
    const receiving = (async () => {
      while (lat.length < total) {
        const m = await consumer.receive({ timeoutMs: 5000 });
        if (!m) break;
        lat.push((performance.now() - stampOf(m.data)) * 1000);
        void consumer.ack(m);
      }
    })();
    // Paced by timers, never a busy wait: a spinning sender would starve the consumer on the same
    // event loop and measure the spin, not the broker. Each message is stamped when actually sent.
    const t0 = performance.now();
    // CPU of the whole process over the measured part (after the warm-up): what the idle strategy
    // spends for the latency (spinning hosts take a core while traffic is recent).
    let cpu: { t: number; usage: NodeJS.CpuUsage } | undefined;
    for (let i = 0; i < total;) {
      if (cpu === undefined && i >= warm) cpu = { t: performance.now(), usage: process.cpuUsage() };
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const now = performance.now();
      while (i < total && t0 + (i * 1000) / rate <= now) {
        producer.send({ value: stampedValue() }).catch(() => undefined);
        i++;
      }
    }
    await receiving;
    const rss_mb = rss.stop();
    const used = process.cpuUsage(cpu?.usage);
    const cpu_cores = (used.user + used.system) / 1000 / (performance.now() - (cpu?.t ?? t0));
    const sorted = Float64Array.from(lat.slice(warm)).sort();
    return {
      name, unit: 'us', value: percentile(sorted, 50), p50_us: percentile(sorted, 50), p99_us: percentile(sorted, 99), p999_us: percentile(sorted, 99.9),
      rate_per_s: rate, messages: sorted.length, warmup_s: warmupSeconds, durability, rss_mb, cpu_cores, idle_strategy: idleStrategy ?? DEFAULTS.idleStrategy,
    };
  }, idleStrategy);
}

/** Passes of the replay workload; its figure is their median. Odd, so the median is one pass. */
const REPLAY_PASSES = 3;

async function replay(ctx: BenchContext): Promise<BenchResult> {
  const total = ctx.quick ? 200_000 : 1_000_000;
  return withBroker(ctx, 'durable', async (broker) => {
    const topic = 'bench-replay';
    const producer = await broker.createProducer({ topic, maxPendingMessages: WINDOW * 2 });
    const value = new Uint8Array(VALUE_BYTES);
    await sendWindowed(producer, total, () => value);
    // The warm-up: a reader over the first messages, closed; the measured one starts at the earliest again.
    const warm = await warmUp(ctx.quick, async (n) => {
      if ((await replayFromEarliest(broker, topic, n)).n !== n) throw new Error(`replay warm-up: read fewer than ${n} messages`);
    });
    // A pass reads for about a third of a second: one scheduling stall on this kind of shared machine
    // moves a single pass by a third (2.4-5.7M msg/s over 50 passes). The figure is the median of
    // REPLAY_PASSES passes, each a new reader from the earliest (an ML epoch), all of them reported.
    const passes: { rate: number; n: number; rss: number }[] = [];
    for (let i = 0; i < REPLAY_PASSES; i++) {
      const r = await replayFromEarliest(broker, topic, total);
      if (r.n !== total) throw new Error(`replay pass ${i + 1}: read ${r.n} of ${total} messages`);
      passes.push(r);
    }
    const rates = passes.map((p) => p.rate);
    const median = [...rates].sort((a, b) => a - b)[Math.floor(rates.length / 2)]!;
    return {
      name: 'e2e.replay.100B', unit: 'msg/s', value: median, messages: total, passes: REPLAY_PASSES,
      ...Object.fromEntries(rates.map((rate, i) => [`pass${i + 1}_msg_per_s`, rate])),
      rss_mb: Math.max(...passes.map((p) => p.rss)), ...warm.fields,
    };
  });
}

/** A reader reads `total` messages of `topic` from the earliest: its rate, count, peak RSS (MB) and that peak's split (Linux). */
export async function replayFromEarliest(broker: Broker, topic: string, total: number): Promise<{ rate: number; n: number; rss: number; parts: RssParts | undefined }> {
  const rss = rssSampler();
  const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: 10_000 });
  const t0 = performance.now();
  let n = 0;
  while (n < total && (await reader.readNext({ timeoutMs: 5000 }))) n++;
  const s = (performance.now() - t0) / 1000;
  await reader.close();
  return { rate: n / s, n, rss: rss.stop(), parts: rss.parts() };
}

function idleRss(): BenchResult {
  const script = `
    import { Broker } from ${JSON.stringify(new URL('../index.js', import.meta.url).href)};
    import { mkdtempSync, rmSync } from 'node:fs'; import { tmpdir } from 'node:os'; import { join } from 'node:path';
    const dir = mkdtempSync(join(tmpdir(), 'millrace-idle-'));
    const b = await Broker.open({ dataDir: dir, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
    await new Promise((r) => setTimeout(r, 1500));
    const rss = process.memoryUsage().rss;
    await b.close(); rmSync(dir, { recursive: true, force: true });
    console.log(rss);`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('.', import.meta.url)) });
  const rss = Number(r.stdout.trim().split('\n').pop());
  return { name: 'broker.idle', unit: 'MB', value: rss / 2 ** 20, rss_mb: rss / 2 ** 20, note: 'resident memory of an open, idle broker with its default pool' };
}

/** The workloads, by name, each run in its own child process (./isolated.ts). */
export const workloads: Record<string, Workload> = {
  'e2e.publish.100B': async (ctx) => [await publish(ctx, 'e2e.publish.100B', 4)],
  'e2e.publish.100B.p1': async (ctx) => [await publish(ctx, 'e2e.publish.100B.p1', 1)],
  // The ceilings (./baselines.ts), each run in a child of its own (see againstCeiling).
  'lmdb.write.entries.100B': async (ctx) => [(await lmdbCeilings(ctx, ctx.quick ? 200_000 : 2_000_000, VALUE_BYTES, WINDOW))[0]!],
  'lmdb.scan.entries.100B': async (ctx) => [(await lmdbCeilings(ctx, ctx.quick ? 200_000 : 1_000_000, VALUE_BYTES, WINDOW))[1]!],
  // Async mode commits appends on the host thread while nothing is queued: this watches that the
  // path keeps up when appends pile up (the same-run baseline is the durable figure of the same child).
  'e2e.publish.100B.async': async (ctx) => {
    const durable = await publish(ctx, 'baseline.publish.100B.durable', 4);
    const r = await publish(ctx, 'e2e.publish.100B.async', 4, { durability: 'async' });
    return [durable, { ...r, baseline: durable.name, ratio: r.value / durable.value }];
  },
  // Batching off: every message its own entry and append, the path a latency-sensitive producer
  // takes (and the latency workloads, at 2,000 msg/s). Against the batched publish in the same child.
  'e2e.publish.100B.unbatched': async (ctx) => {
    const batched = await publish(ctx, 'baseline.publish.100B.batched', 4);
    const r = await publish(ctx, 'e2e.publish.100B.unbatched', 4, { batching: false });
    return [batched, { ...r, baseline: batched.name, ratio: r.value / batched.value }];
  },
  'e2e.pubsub.100B': (ctx) => pubsub(ctx),
  'e2e.latency.2k': async (ctx) => [await steadyLatency(ctx, 'durable', 'e2e.latency.2k')],
  'e2e.latency.2k.async': async (ctx) => [await steadyLatency(ctx, 'async', 'e2e.latency.2k.async')],
  // The same with threads that never spin: the baseline of what the default idle strategy buys.
  'e2e.latency.2k.park': async (ctx) => [await steadyLatency(ctx, 'durable', 'e2e.latency.2k.park', 'park')],
  'e2e.latency.2k.async.park': async (ctx) => [await steadyLatency(ctx, 'async', 'e2e.latency.2k.async.park', 'park')],
  'e2e.replay.100B': async (ctx) => [await replay(ctx)],
};

const isolated = (...names: string[]) => async (ctx: BenchContext): Promise<BenchResult[]> => {
  const results: BenchResult[] = [];
  for (const n of names) results.push(...(await runIsolated(ctx, import.meta.url, n)));
  return results;
};

/**
 * A throughput workload after its LMDB ceiling, each in its own child; the ratio is of rates. Not
 * both in one child: with the ceiling first, what it left resident counted in the workload's peak
 * RSS (e2e.publish.100B 196-222 against 165-174 MB), and with it after the workload it measured
 * half its rate (3.4-4.0M against 7.5-8.6M msg/s), in the wake of the workload's files.
 */
async function againstCeiling(ctx: BenchContext, ceiling: string, name: string): Promise<BenchResult[]> {
  const [c] = await runIsolated(ctx, import.meta.url, ceiling);
  const [r] = await runIsolated(ctx, import.meta.url, name);
  return [c!, { ...r!, baseline: c!.name, ratio: r!.value / c!.value }];
}

/**
 * A latency workload after its baseline with `idleStrategy: 'park'`, each in its own child: the
 * ratio is of p99s (below 1: the default is faster), and each row carries the CPU it used.
 */
async function againstPark(ctx: BenchContext, name: string): Promise<BenchResult[]> {
  const [park] = await runIsolated(ctx, import.meta.url, `${name}.park`);
  const [r] = await runIsolated(ctx, import.meta.url, name);
  return [park!, { ...r!, baseline: park!.name, ratio: (r!.p99_us as number) / (park!.p99_us as number) }];
}

export const scenarios: Scenario[] = [
  { name: 'broker.idle', description: 'resident memory of an open idle broker (fresh process)', run: async () => [idleRss()] },
  { name: 'e2e.publish.100B', description: 'one producer, batching on, 4 partitions, durable', run: (ctx) => againstCeiling(ctx, 'lmdb.write.entries.100B', 'e2e.publish.100B') },
  { name: 'e2e.publish.100B.p1', description: 'one producer, batching on, one partition, durable', run: (ctx) => againstCeiling(ctx, 'lmdb.write.entries.100B', 'e2e.publish.100B.p1') },
  { name: 'e2e.publish.100B.async', description: 'the 4-partition publish in async durability, after the durable one in the same child', run: isolated('e2e.publish.100B.async') },
  { name: 'e2e.publish.100B.unbatched', description: 'the 4-partition publish with batching off (an entry per message), after the batched one in the same child', run: isolated('e2e.publish.100B.unbatched') },
  { name: 'e2e.pubsub.100B', description: 'produce and consume at once (shared, ack each), durable; publish-to-receive latency', run: isolated('e2e.pubsub.100B') },
  {
    name: 'e2e.latency.2k',
    description: 'publish-to-receive latency at a steady 2,000 msg/s, durable and async (each in its own process)',
    run: async (ctx) => [...(await againstPark(ctx, 'e2e.latency.2k')), ...(await againstPark(ctx, 'e2e.latency.2k.async'))],
  },
  { name: 'e2e.replay.100B', description: 'a reader reads stored messages from the earliest', run: (ctx) => againstCeiling(ctx, 'lmdb.scan.entries.100B', 'e2e.replay.100B') },
];
