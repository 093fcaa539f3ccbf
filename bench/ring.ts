/**
 * Ring scenarios (LMAX's names by topology):
 * - ring.spsc.{64B,1KiB}: main thread writes (tryWrite, spinning while full) -> one worker drains
 *   (waitForData + batch read, the handler touches the first and last payload byte). Baseline in the
 *   same run: ring.postMessage.{64B,1KiB}, the same traffic cloned through postMessage with a window
 *   of 16k unacked messages (so the baseline does not measure an unbounded queue).
 * - ring.pingpong: worker A -> ring -> worker B -> ring -> A, one 64 B record each way, both sides
 *   spin then park (waitForData). Baseline: postMessage.pingpong over a MessagePort between the same
 *   two workers.
 * - ring.idle.cpu: CPU used while a worker waits on an empty ring (must park, not spin).
 */
import { Worker } from 'node:worker_threads';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { percentile, type BenchContext, type BenchResult, type Scenario } from './harness.js';
import { RingBuffer } from '../actors/ring/index.js';
import { STOP_TYPE } from './workers/ring-protocol.js';

const WORKER_URL = new URL('./workers/ring-worker.js', import.meta.url);
/** 256 KiB: large enough that a batch drain overlaps the writer, small enough to stay in L2. */
const SPSC_CAPACITY = 256 * 1024;
const PM_WINDOW = 16 * 1024;
const PM_ACK_EVERY = 1024;

function start(workerData: Record<string, unknown>, transfer: MessagePort[] = []): Worker {
  return new Worker(WORKER_URL, { workerData, transferList: transfer });
}

function nextMessage<T>(w: Worker, pick: (m: Record<string, unknown>) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: Record<string, unknown>): void => {
      if (!pick(m)) return;
      w.off('message', onMessage);
      w.off('error', reject);
      resolve(m as T);
    };
    w.on('message', onMessage);
    w.once('error', reject);
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One run of main -> worker through the ring; messages per second. */
async function spscOnce(size: number, count: number): Promise<number> {
  const ring = RingBuffer.create(SPSC_CAPACITY);
  const w = start({ mode: 'ring-read', ring: ring.buffer, count });
  await nextMessage(w, (m) => m['ready'] === true);
  const payload = new Uint8Array(size).fill(3);
  const done = nextMessage<{ count: number; sum: number }>(w, (m) => m['count'] !== undefined);
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    // Full: spin briefly then park (writeAsync), never spin forever: on 2 cores a third busy
    // process would leave the writer burning the core the reader needs.
    if (!ring.tryWrite(1, payload)) await ring.writeAsync(1, payload, 10_000);
  }
  const r = await done;
  const seconds = (performance.now() - t0) / 1000;
  await w.terminate();
  if (r.count !== count || r.sum !== count * 6) throw new Error(`ring.spsc lost data: ${r.count}/${count}, sum ${r.sum}`);
  return count / seconds;
}

/** One run of main -> worker through postMessage (structured clone), windowed; messages per second. */
async function postMessageOnce(size: number, count: number): Promise<number> {
  const w = start({ mode: 'pm-read', count, ackEvery: PM_ACK_EVERY });
  await nextMessage(w, (m) => m['ready'] === true);
  const payload = new Uint8Array(size).fill(3);
  let acked = 0;
  let wake: (() => void) | undefined;
  const done = nextMessage<{ count: number; sum: number }>(w, (m) => m['count'] !== undefined);
  w.on('message', (m: { ack?: number }) => {
    if (m.ack !== undefined) {
      acked = m.ack;
      wake?.();
    }
  });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    while (i - acked >= PM_WINDOW) await new Promise<void>((r) => { wake = r; });
    w.postMessage(payload);
  }
  const r = await done;
  const seconds = (performance.now() - t0) / 1000;
  await w.terminate();
  if (r.count !== count) throw new Error(`postMessage lost data: ${r.count}/${count}`);
  return count / seconds;
}

async function throughput(ctx: BenchContext, size: number, label: string): Promise<BenchResult[]> {
  const runs = ctx.quick ? 1 : 3;
  const ringCount = Math.round((ctx.quick ? 2_000_000 : 20_000_000) * (size <= 64 ? 1 : 0.2));
  const pmCount = Math.round((ctx.quick ? 200_000 : 1_000_000) * (size <= 64 ? 1 : 0.5));
  const ring: number[] = [];
  const pm: number[] = [];
  for (let i = 0; i < runs; i++) {
    ring.push(await spscOnce(size, ringCount));
    pm.push(await postMessageOnce(size, pmCount));
    ctx.log(`  run ${i + 1}/${runs}: ring ${Math.round(ring[i]!)} msg/s, postMessage ${Math.round(pm[i]!)} msg/s`);
  }
  const ringRate = median(ring);
  const pmRate = median(pm);
  return [
    {
      name: `ring.spsc.${label}`, unit: 'msg/s', value: ringRate, bytes_per_s: ringRate * size,
      ratio_vs_postMessage: ringRate / pmRate, messages: ringCount, runs, capacity_bytes: SPSC_CAPACITY,
      topology: 'main thread tryWrite (writeAsync when full) -> worker waitForData + batch read', statistic: 'median of runs',
    },
    {
      name: `ring.postMessage.${label}`, unit: 'msg/s', value: pmRate, bytes_per_s: pmRate * size,
      messages: pmCount, runs, window: PM_WINDOW, topology: 'main thread postMessage (clone) -> worker', statistic: 'median of runs',
    },
  ];
}

function latencyResult(name: string, times: Float64Array, extra: Record<string, number | string>): BenchResult {
  const sorted = Float64Array.from(times).sort();
  let sum = 0;
  for (const t of sorted) sum += t;
  return {
    name, unit: 'us', value: percentile(sorted, 50), p50_us: percentile(sorted, 50), p99_us: percentile(sorted, 99),
    p999_us: percentile(sorted, 99.9), mean_us: sum / sorted.length, max_us: sorted[sorted.length - 1]!,
    round_trips: sorted.length, ...extra,
  };
}

async function pingpong(ctx: BenchContext): Promise<BenchResult[]> {
  const count = ctx.quick ? 20_000 : 200_000;
  const warmup = ctx.quick ? 5_000 : 20_000;
  const size = 64;
  const ab = RingBuffer.create(64 * 1024);
  const ba = RingBuffer.create(64 * 1024);
  const pong = start({ mode: 'ring-pong', inRing: ab.buffer, outRing: ba.buffer, count });
  const ping = start({ mode: 'ring-ping', outRing: ab.buffer, inRing: ba.buffer, count, warmup, size });
  const pongDone = nextMessage(pong, (m) => m['done'] === true);
  const { times } = await nextMessage<{ times: Float64Array }>(ping, (m) => m['times'] !== undefined);
  await pongDone;
  await Promise.all([ping.terminate(), pong.terminate()]);

  const pmCount = ctx.quick ? 5_000 : 50_000;
  const { port1, port2 } = new MessageChannel();
  const pmPong = start({ mode: 'pm-pong', port: port2, count: pmCount }, [port2]);
  const pmPing = start({ mode: 'pm-ping', port: port1, count: pmCount, warmup: 1_000, size }, [port1]);
  const pm = await nextMessage<{ times: Float64Array }>(pmPing, (m) => m['times'] !== undefined);
  await Promise.all([pmPing.terminate(), pmPong.terminate()]);

  const ring = latencyResult('ring.pingpong', times, { size_bytes: size, topology: 'worker <-> worker, two rings, spin then Atomics.wait' });
  const base = latencyResult('postMessage.pingpong', pm.times, { size_bytes: size, topology: 'worker <-> worker, MessagePort' });
  ring['ratio_vs_postMessage_p50'] = (base.p50_us as number) / (ring.p50_us as number);
  return [ring, base];
}

async function idleCpu(ctx: BenchContext): Promise<BenchResult[]> {
  const ms = ctx.quick ? 1_000 : 2_000;
  const ring = RingBuffer.create(64 * 1024);
  const w = start({ mode: 'ring-idle', ring: ring.buffer, count: 0 });
  await nextMessage(w, (m) => m['ready'] === true);
  await new Promise((r) => setTimeout(r, 50)); // let the worker get past its spin and park
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, ms));
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  const done = nextMessage(w, (m) => m['done'] === true);
  await ring.writeAsync(STOP_TYPE, new Uint8Array(8), 1_000);
  await done;
  await w.terminate();
  const cpuPercent = ((c.user + c.system) / 1000 / wallMs) * 100;
  return [{
    name: 'ring.idle.cpu', unit: '%', value: cpuPercent, wall_ms: wallMs, user_us: c.user, system_us: c.system,
    note: 'process-wide CPU while one worker waits on an empty ring and the main thread sleeps; 100 = one core',
  }];
}

/** Scenarios of this file; see bench/scenarios.ts. */
export const scenarios: Scenario[] = [
  {
    name: 'ring.spsc',
    description: 'main -> worker through the SAB ring, 64 B and 1 KiB records, vs postMessage in the same run',
    async run(ctx) {
      return [...await throughput(ctx, 64, '64B'), ...await throughput(ctx, 1024, '1KiB')];
    },
  },
  {
    name: 'ring.pingpong',
    description: 'one 64 B record there and back through two rings (p50/p99 us), vs postMessage ping-pong',
    run: pingpong,
  },
  {
    name: 'ring.idle.cpu',
    description: 'CPU % of a worker waiting on an empty ring for ~2 s (must park, not spin)',
    run: idleCpu,
  },
];
