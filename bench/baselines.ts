/**
 * Same-run baselines for the e2e workloads, so each e2e figure comes with a ceiling taken on the
 * same machine minutes apart at most. The two LMDB ceilings run each in a child process of its own
 * right before the workload's (e2e.ts againstCeiling says why not in the workload's child); the
 * harness runs in the pub+sub workload's child, before it (it stores nothing):
 * - `lmdb.write.entries.100B`: raw lmdb-js, the store's durable flags, writing the bytes a producer's
 *   full batches make (1,000 messages of 100 B an entry), each awaited to its flush, with as many
 *   messages in flight as the workload's send window (10 entries for its 10,000 sends): what LMDB
 *   itself does here at that pipeline depth, with no Millrace code: the ceiling of `e2e.publish`.
 * - `lmdb.scan.entries.100B`: reading those entries back with a raw range scan: the ceiling of
 *   `e2e.replay` (which also decodes every message and hands it out as an object).
 * - `harness.pubsub.100B`: the `e2e.pubsub` loop itself (stamp, send through the same window,
 *   receive, ack) against in-memory stand-ins that deliver each send at once and store nothing: how
 *   fast the workload could go if the broker cost nothing; it runs on one thread, as e2e.pubsub does.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { encodedSize } from '../wasm/index.js';
import type { BenchContext, BenchResult } from './harness.js';
import { warmupMessages } from './warm-up.js';

const MESSAGES_PER_ENTRY = 1000;

/** Bytes of an entry of 1,000 messages of `valueBytes` (the producer's default batch). */
function fullBatchBytes(valueBytes: number): number {
  const value = new Uint8Array(valueBytes);
  const messages = Array.from({ length: MESSAGES_PER_ENTRY }, (_, i) => ({ value, sequenceId: i }));
  return encodedSize({ producerName: new TextEncoder().encode('bench'), messages, publishTime: 0 });
}

/**
 * Writes `messages` worth of full-batch entries to a raw LMDB environment opened with the store's
 * durable flags, then scans them back; returns both rates in messages a second.
 */
export async function lmdbCeilings(ctx: BenchContext, messages: number, valueBytes: number, inflightMessages: number): Promise<BenchResult[]> {
  const entryBytes = fullBatchBytes(valueBytes);
  const inflight = Math.max(1, Math.round(inflightMessages / MESSAGES_PER_ENTRY));
  const entries = Math.ceil(messages / MESSAGES_PER_ENTRY);
  const dir = ctx.tmpDir('lmdb-ceiling');
  const env = open(join(dir, 'raw.mdb'), { maxDbs: 4, overlappingSync: true, separateFlushed: true, encoding: 'binary', noMemInit: true });
  const db = env.openDB<Buffer, number[]>('entries', { encoding: 'binary' });
  // Writes `count` entries under ledger key `ledger`, `inflight` at a time, each awaited to its flush.
  const writeEntries = async (ledger: number, count: number): Promise<void> => {
    let next = 0;
    await Promise.all(Array.from({ length: inflight }, async () => {
      while (next < count) {
        const n = next++;
        // A fresh value per put: lmdb-js holds it until the commit.
        const write = db.put([1, ledger, n], Buffer.allocUnsafe(entryBytes).fill(n & 0xff)) as Promise<boolean> & { flushed?: Promise<unknown> };
        await write;
        await (write.flushed ?? env.flushed);
      }
    }));
  };
  // Reads back the `count` entries under ledger key `ledger`, checking every one came back whole.
  const scanEntries = (ledger: number, count: number): void => {
    let scanned = 0;
    let bytes = 0;
    for (const { value } of db.getRange({ start: [1, ledger, 0], end: [1, ledger, count] })) {
      scanned++;
      bytes += value.length;
    }
    if (scanned !== count || bytes !== count * entryBytes) throw new Error(`lmdb ceiling: read back ${scanned} of ${count} entries`);
  };
  try {
    // Warmed up like the workloads it is the ceiling of (./warm-up.ts): entries of another key
    // range, written and scanned once untimed.
    const warmEntries = Math.ceil(warmupMessages(ctx.quick) / MESSAGES_PER_ENTRY);
    await writeEntries(0, warmEntries);
    scanEntries(0, warmEntries);
    const t0 = performance.now();
    await writeEntries(1, entries);
    const writeS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    scanEntries(1, entries);
    const scanS = (performance.now() - t1) / 1000;
    const msgs = entries * MESSAGES_PER_ENTRY;
    return [
      { name: 'lmdb.write.entries.100B', unit: 'msg/s', value: msgs / writeS, entries, entry_bytes: entryBytes, entries_in_flight: inflight, mb_per_s: (entries * entryBytes) / writeS / 2 ** 20 },
      { name: 'lmdb.scan.entries.100B', unit: 'msg/s', value: msgs / scanS, entries },
    ];
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What the e2e loops use of a producer and a consumer. */
export interface LoopProducer {
  send(m: { value: Uint8Array }): Promise<unknown>;
  flush(): Promise<void>;
}
export interface LoopConsumer<M extends { data: Uint8Array } = { data: Uint8Array }> {
  receive(o: { timeoutMs: number }): Promise<M | null>;
  ack(m: M): Promise<void>;
}

/** In-memory stand-ins with the client's shapes: a send is received at once; nothing is stored. */
export function stubPair(): { producer: LoopProducer; consumer: LoopConsumer } {
  const queue: { data: Uint8Array }[] = [];
  let head = 0;
  let waiter: ((m: { data: Uint8Array }) => void) | undefined;
  const sent = Promise.resolve(undefined);
  const acked = Promise.resolve();
  return {
    producer: {
      send(m) {
        const msg = { data: m.value };
        if (waiter) {
          const w = waiter;
          waiter = undefined;
          w(msg);
        } else {
          queue.push(msg);
        }
        return sent;
      },
      flush: () => acked,
    },
    consumer: {
      receive() {
        if (head < queue.length) {
          const m = queue[head]!;
          queue[head++] = undefined as unknown as { data: Uint8Array };
          if (head === queue.length) {
            queue.length = 0;
            head = 0;
          }
          return Promise.resolve(m);
        }
        return new Promise((resolve) => { waiter = resolve; });
      },
      ack: () => acked,
    },
  };
}
