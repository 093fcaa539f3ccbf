/**
 * The log core against raw lmdb-js, in the same run:
 * - `lmdb.put.raw.<size>`: durable puts of pre-built values of the same size as a framed 100-message
 *   entry, many in flight, awaiting the flush: the ceiling, no Millrace code.
 * - `log.append.<size>`: the managed ledger framing each batch (WASM) and appending it durably,
 *   many appends in flight (group commit).
 * - `log.read.100B`: reading every stored entry back in order and decoding its messages.
 * Raw and log runs alternate and each figure is the median of its runs, so a noisy neighbour hits both.
 */
import { open } from 'lmdb';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { ManagedLedger, Store, type AppendBatch, type Position } from '../core/index.js';
import { decodeEntry, encodedSize } from '../wasm/index.js';
import type { BenchContext, BenchResult, Scenario } from './harness.js';

export const MESSAGES_PER_ENTRY = 100;
export const INFLIGHT = 64;

export function producerBatch(valueBytes: number, withSequenceIds = true): AppendBatch {
  const messages = Array.from({ length: MESSAGES_PER_ENTRY }, (_, i) => {
    const value = new Uint8Array(valueBytes);
    value.fill(i & 0xff);
    return withSequenceIds ? { value, sequenceId: i } : { value };
  });
  return { producerName: new TextEncoder().encode('bench-producer'), messages };
}

interface Run { entries: number; seconds: number }

async function lanes(seconds: number, op: (lane: number) => Promise<unknown>): Promise<Run> {
  let entries = 0;
  const stopAt = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, async (_, lane) => {
    while (performance.now() < stopAt) {
      await op(lane);
      entries++;
    }
  }));
  return { entries, seconds: (performance.now() - t0) / 1000 };
}

async function rawRun(ctx: BenchContext, entryBytes: number, seconds: number): Promise<Run> {
  const dir = ctx.tmpDir('raw');
  const env = open(join(dir, 'raw.mdb'), { maxDbs: 4, overlappingSync: true, encoding: 'binary', noMemInit: true });
  const db = env.openDB<Buffer, number[]>('entries', { encoding: 'binary' });
  let n = 0;
  // A fresh value per put: lmdb-js holds the value until commit, so values must not be reused.
  const run = await lanes(seconds, async () => {
    const v = Buffer.allocUnsafe(entryBytes).fill(n & 0xff);
    await db.put([1, 1, n++], v);
    await env.flushed;
  });
  await env.close();
  rmSync(dir, { recursive: true, force: true });
  return run;
}

export async function logRun(ctx: BenchContext, batch: AppendBatch, seconds: number): Promise<{ run: Run; dir: string }> {
  const dir = ctx.tmpDir('log');
  const store = Store.open(dir);
  const ml = await ManagedLedger.open(store, 'bench');
  const run = await lanes(seconds, () => ml.append(batch));
  await ml.close();
  await store.close();
  return { run, dir };
}

async function readRun(dir: string): Promise<{ messages: number; seconds: number }> {
  const store = Store.open(dir);
  const ml = await ManagedLedger.open(store, 'bench');
  let messages = 0;
  const t0 = performance.now();
  for (let from: Position = { ledgerId: 0, entryId: 0 }; ;) {
    const rs = await ml.readRange(from, { maxEntries: 1000, maxBytes: 64 * 2 ** 20 });
    if (rs.length === 0) break;
    for (const r of rs) messages += decodeEntry(r.entry).count;
    const last = rs[rs.length - 1]!.position;
    from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
  }
  const seconds = (performance.now() - t0) / 1000;
  await ml.close();
  await store.close();
  return { messages, seconds };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function compare(ctx: BenchContext, label: string, valueBytes: number, withRead: boolean): Promise<BenchResult[]> {
  const batch = producerBatch(valueBytes);
  const entryBytes = encodedSize({ ...batch, publishTime: 0 });
  const reps = ctx.quick ? 1 : 3;
  const seconds = ctx.quick ? 1 : 3;
  const raw: number[] = [];
  const log: number[] = [];
  let lastDir = '';
  for (let i = 0; i < reps; i++) {
    const r = await rawRun(ctx, entryBytes, seconds);
    raw.push(r.entries / r.seconds);
    const l = await logRun(ctx, batch, seconds);
    log.push(l.run.entries / l.run.seconds);
    if (lastDir) rmSync(lastDir, { recursive: true, force: true });
    lastDir = l.dir;
    ctx.log(`  rep ${i + 1}/${reps}: raw ${Math.round(raw[i]!)} entries/s, log ${Math.round(log[i]!)} entries/s`);
  }
  const rawEps = median(raw);
  const logEps = median(log);
  const params = { messages_per_entry: MESSAGES_PER_ENTRY, entry_bytes: entryBytes, inflight: INFLIGHT, durability: 'durable', reps };
  const out: BenchResult[] = [
    { name: `lmdb.put.raw.${label}`, unit: 'msg/s', value: rawEps * MESSAGES_PER_ENTRY, bytes_per_s: rawEps * entryBytes, entries_per_s: rawEps, ...params },
    { name: `log.append.${label}`, unit: 'msg/s', value: logEps * MESSAGES_PER_ENTRY, bytes_per_s: logEps * entryBytes, entries_per_s: logEps, ratio_vs_raw: logEps / rawEps, ...params },
  ];
  if (withRead) {
    const r = await readRun(lastDir);
    rmSync(lastDir, { recursive: true, force: true });
    out.push({ name: `log.read.${label}`, unit: 'msg/s', value: r.messages / r.seconds, messages: r.messages, entry_bytes: entryBytes });
  }
  return out;
}

export const scenarios: Scenario[] = [
  {
    name: 'log.append.100B',
    description: 'managed ledger durable appends vs raw lmdb-js puts of the same entry size; sequential read back',
    run: (ctx) => compare(ctx, '100B', 100, true),
  },
  {
    name: 'log.append.1KiB',
    description: 'managed ledger durable appends of 1 KiB messages vs raw lmdb-js puts of the same entry size',
    run: (ctx) => compare(ctx, '1KiB', 1024, false),
  },
];
