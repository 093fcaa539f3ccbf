/**
 * Tiered storage on the filesystem store, against the disk in the same run:
 * - `fs.write.raw`: the same number of bytes written in 1 MiB chunks and fsynced, no Millrace code:
 *   the ceiling.
 * - `offload.write`: writeLedgerObject of one sealed ledger (50,000 entries of 100 messages of 100 B,
 *   framed as log.append.100B frames them) into a ledger object: copy into 1 MiB chunks, the data
 *   checksum, the index, temp file + fsync + rename, then the read-back verification.
 * - `offload.read`: reading the object back in order through OffloadedLedgerReader.readRange (1 MiB
 *   blocks with read-ahead, every entry validated). The object was just written, so this is the page
 *   cache's speed, not the disk's: the figure is Millrace's own read cost.
 * Raw and offload runs alternate; each figure is the median of its runs.
 */
import { open } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createObjectStore, writeLedgerObject, OffloadedLedgerReader, BlockCache, type OffloadEntry } from '../core/offload/index.js';
import { loadWasmFramer } from '../wasm/index.js';
import type { BenchContext, BenchResult, Scenario } from './harness.js';
import { producerBatch, MESSAGES_PER_ENTRY } from './log.js';

const ENTRIES = 50_000;
/** Distinct framed entries cycled through: the writer copies each one, so a pool is as good as fresh ones. */
const POOL = 64;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function entryPool(): Uint8Array[] {
  const framer = loadWasmFramer();
  const batch = producerBatch(100);
  return Array.from({ length: POOL }, (_, i) => framer.frame({ ...batch, publishTime: 1_764_000_000_000 + i }).slice());
}

async function* ledger(pool: Uint8Array[], n: number): AsyncGenerator<OffloadEntry> {
  for (let i = 0; i < n; i++) yield { entryId: i, entry: pool[i % POOL]!, publishTime: 1_764_000_000_000 + i };
}

async function rawRun(dir: string, bytes: number): Promise<number> {
  const chunk = new Uint8Array(1 << 20).fill(7);
  const t0 = performance.now();
  const fh = await open(join(dir, 'raw.bin'), 'w');
  for (let done = 0; done < bytes; done += chunk.length) await fh.write(chunk, 0, Math.min(chunk.length, bytes - done));
  await fh.sync();
  await fh.close();
  const s = (performance.now() - t0) / 1000;
  rmSync(join(dir, 'raw.bin'));
  return s;
}

async function run(ctx: BenchContext): Promise<BenchResult[]> {
  const entries = ctx.quick ? 5_000 : ENTRIES;
  const reps = ctx.quick ? 1 : 3;
  const pool = entryPool();
  const entryBytes = pool[0]!.length;
  const dir = ctx.tmpDir('offload');
  const store = createObjectStore({ driver: 'filesystem', path: dir });
  const raw: number[] = [];
  const write: number[] = [];
  const read: number[] = [];
  let objectBytes = 0;
  try {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      const s = await writeLedgerObject(store, `bench%2Ftopic/${i}-x`, i, ledger(pool, entries));
      const ws = (performance.now() - t0) / 1000;
      objectBytes = s.size;
      write.push(s.size / ws);
      const rs = await rawRun(dir, s.size);
      raw.push(s.size / rs);
      const r = await OffloadedLedgerReader.open(store, `bench%2Ftopic/${i}-x`, { ledgerId: i, size: s.size, indexChecksum: s.indexChecksum }, new BlockCache(64 << 20));
      const t1 = performance.now();
      let got = 0;
      let bytes = 0;
      for (let from = 0; ;) {
        const batch = await r.readRange(from, { maxEntries: 1000, maxBytes: 4 << 20 });
        if (batch.length === 0) break;
        for (const b of batch) bytes += b.entry.length;
        got += batch.length;
        from = batch[batch.length - 1]!.entryId + 1;
      }
      const rsec = (performance.now() - t1) / 1000;
      if (got !== entries) throw new Error(`read back ${got} entries, wrote ${entries}`);
      read.push(bytes / rsec);
      await store.delete(`bench%2Ftopic/${i}-x`);
      ctx.log(`  rep ${i + 1}/${reps}: raw ${(raw[i]! / 1e6).toFixed(0)} MB/s, offload.write ${(write[i]! / 1e6).toFixed(0)} MB/s, offload.read ${(read[i]! / 1e6).toFixed(0)} MB/s`);
    }
  } finally {
    await store.close();
  }
  const params = { entries, messages_per_entry: MESSAGES_PER_ENTRY, entry_bytes: entryBytes, object_bytes: objectBytes, reps, store: 'filesystem' };
  const mb = (x: number): number => x / 1e6;
  const rawBps = median(raw);
  const writeBps = median(write);
  const readBps = median(read);
  return [
    { name: 'fs.write.raw', unit: 'MB/s', value: mb(rawBps), bytes_per_s: rawBps, ...params },
    { name: 'offload.write', unit: 'MB/s', value: mb(writeBps), bytes_per_s: writeBps, msg_per_s: (writeBps / objectBytes) * entries * MESSAGES_PER_ENTRY, ratio_vs_raw: writeBps / rawBps, ...params },
    { name: 'offload.read', unit: 'MB/s', value: mb(readBps), bytes_per_s: readBps, msg_per_s: (readBps / entryBytes) * MESSAGES_PER_ENTRY, block_bytes: 1 << 20, ...params },
  ];
}

export const scenarios: Scenario[] = [
  {
    name: 'offload.write',
    description: 'one 50k-entry ledger (100 x 100 B messages per entry) offloaded to the filesystem store vs raw fsynced writes of the same size; sequential read back through OffloadedLedgerReader',
    run,
  },
];
