import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isMillraceError } from '../core/errors.js';
import {
  writeLedgerObject, OffloadedLedgerReader, BlockCache, XxHash32Stream, type ObjectStore, type OffloadEntry,
  type LedgerObjectSummary,
} from '../core/offload/index.js';
import { xxhash32, jsFramer, OFF_CHECKSUM } from '../wasm/index.js';
import { fsDriver, s3Driver, frameEntry, iterate, type Driver } from './offload-fixtures.js';
import { testSeed, runs } from './util/seed.js';

const SEED = testSeed(20261201);

function assertProperty<T>(p: fc.IAsyncPropertyWithHooks<T>, numRuns: number): Promise<void> {
  return fc.assert(p, { seed: SEED, numRuns }).catch((err: unknown) => {
    console.error(`property failed with MILLRACE_SEED=${SEED} (rerun with that env var)`);
    throw err;
  });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isMillraceError(err) && err.code === code);
}

/** Random ledgers: ascending IDs with gaps, real framed entries of varied sizes, times that may step back. */
const ledgerArb = fc.array(
  fc.record({ gap: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 4 })), msgs: fc.integer({ min: 1, max: 6 }), valueBytes: fc.integer({ min: 0, max: 400 }), dt: fc.integer({ min: -3, max: 20 }) }),
  { minLength: 1, maxLength: 60 },
).chain((spec) => fc.nat(1000).map((first) => {
  const out: OffloadEntry[] = [];
  let id = first;
  let t = 1_700_000_000_000;
  spec.forEach((s, i) => {
    if (i > 0) id += s.gap;
    t = Math.max(0, t + s.dt);
    out.push({ entryId: id, entry: frameEntry(t, s.msgs, s.valueBytes, i), publishTime: t });
  });
  return out;
}));

function naiveFindByTime(entries: readonly OffloadEntry[], t: number): number | undefined {
  return entries.find((e) => e.publishTime >= t)?.entryId;
}

test('xxhash32 stream - equals the one-shot reference for any split of any input', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(300)), fc.nat(7), (b, cuts, shift) => {
    // Shifted copies reach the unaligned word path as well as the aligned one.
    const buf = new Uint8Array(b.length + shift);
    buf.set(b, shift);
    const view = buf.subarray(shift);
    const h = new XxHash32Stream();
    const points = [...new Set(cuts.map((c) => c % (view.length + 1)))].sort((x, y) => x - y);
    let at = 0;
    for (const p of [...points, view.length]) {
      h.update(view.subarray(at, p));
      at = p;
    }
    assert.equal(h.digest(), xxhash32(b, 0, b.length));
  }), { seed: SEED, numRuns: runs(300, 5000) });
});

for (const [driver, make] of [['filesystem', async () => fsDriver()], ['s3', s3Driver]] as const) {
  describe(`ledger object (${driver})`, () => {
    let d: Driver;
    let store: ObjectStore;
    let n = 0;
    before(async () => {
      d = await make();
      store = d.store();
    });
    after(async () => {
      await store.close();
      await d.close();
    });

    async function writeAndOpen(entries: readonly OffloadEntry[], cache: BlockCache, ledgerId = 7): Promise<{ key: string; s: LedgerObjectSummary; r: OffloadedLedgerReader }> {
      const key = `persistent%3A%2F%2Fpublic%2Fdefault%2Ft/${ledgerId}-${n++}`;
      const s = await writeLedgerObject(store, key, ledgerId, iterate(entries));
      const r = await OffloadedLedgerReader.open(store, key, { ledgerId, size: s.size, indexChecksum: s.indexChecksum }, cache);
      return { key, s, r };
    }

    test('ledger object - written entries read back byte-identical by read, readRange and findByTime (property)', async () => {
      await assertProperty(fc.asyncProperty(ledgerArb, fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 3000 }), async (entries, maxEntries, maxBytes) => {
        // Small blocks so entries straddle block boundaries; a cache smaller than the object so it evicts.
        const cache = new BlockCache(4 * 512, { blockBytes: 512 });
        const { s, r } = await writeAndOpen(entries, cache);
        const first = entries[0]!.entryId;
        const last = entries[entries.length - 1]!.entryId;
        assert.deepEqual([s.entries, s.firstEntryId, s.lastEntryId], [entries.length, first, last]);
        assert.deepEqual([r.entries, r.firstEntryId, r.lastEntryId], [entries.length, first, last]);
        for (const e of entries) assert.deepEqual(await r.read(e.entryId), e.entry);
        const ids = new Set(entries.map((e) => e.entryId));
        for (const gap of [first - 1, last + 1, first + 1, last - 1]) {
          if (!ids.has(gap)) assert.equal(await r.read(gap), undefined, `gap ${gap}`);
        }
        // Sequential readRange from before the first entry to the end covers every entry once, in order.
        const seen: OffloadEntry[] = [];
        for (let from = first - 1; ;) {
          const batch = await r.readRange(from, { maxEntries, maxBytes });
          if (batch.length === 0) break;
          assert.ok(batch.length <= maxEntries);
          const bytes = batch.reduce((a, b) => a + b.entry.length, 0);
          assert.ok(batch.length === 1 || bytes <= maxBytes, 'maxBytes is kept unless one entry exceeds it');
          for (const b of batch) seen.push({ entryId: b.entryId, entry: b.entry, publishTime: 0 });
          from = batch[batch.length - 1]!.entryId + 1;
        }
        assert.deepEqual(seen.map((e) => e.entryId), entries.map((e) => e.entryId));
        seen.forEach((e, i) => assert.deepEqual(e.entry, entries[i]!.entry));
        assert.deepEqual(await r.readRange(last + 1, { maxEntries, maxBytes }), []);
        for (const e of entries) {
          for (const t of [e.publishTime - 1, e.publishTime, e.publishTime + 1]) assert.equal(r.findByTime(t), naiveFindByTime(entries, t), `time ${t}`);
        }
        assert.equal(r.findByTime(0), first);
        assert.equal(r.findByTime(Number.MAX_SAFE_INTEGER), undefined);
        assert.ok(cache.stats().bytes <= cache.maxBytes);
      }), runs(driver === 's3' ? 8 : 40, 400));
    });

    test('ledger object - returned entries are ordinary arrays the caller owns', async () => {
      const entries = [0, 1, 2].map((i) => ({ entryId: i, entry: frameEntry(1000 + i, 3, 50, i), publishTime: 1000 + i }));
      const { r } = await writeAndOpen(entries, new BlockCache(1 << 20));
      const got = await r.readRange(0, { maxEntries: 10, maxBytes: 1 << 20 });
      for (const g of got) {
        assert.ok(!(g.entry.buffer instanceof SharedArrayBuffer));
        assert.equal(g.entry.byteOffset, 0);
        assert.equal(g.entry.buffer.byteLength, g.entry.length, 'not a view into a cached block');
        g.entry.fill(0);
      }
      assert.deepEqual(await r.read(1), entries[1]!.entry, 'scribbling on a returned entry does not reach the cache');
    });

    test('ledger object - an index larger than the first tail read (20k entries) opens and reads', async () => {
      const one = frameEntry(5, 1, 1);
      const entries = Array.from({ length: 20_000 }, (_, i) => ({ entryId: i, entry: one, publishTime: 5 + i }));
      const { r } = await writeAndOpen(entries, new BlockCache(1 << 22));
      assert.equal(r.entries, 20_000);
      assert.deepEqual(await r.read(19_999), one);
      assert.equal(r.findByTime(5 + 12_345), 12_345);
    });

    test('ledger object - a flipped data byte is OBJECT_CORRUPT on read, never data', async () => {
      const entries = Array.from({ length: 20 }, (_, i) => ({ entryId: i, entry: frameEntry(9, 4, 100, i), publishTime: 9 }));
      const { key, s } = await writeAndOpen(entries, new BlockCache(1 << 20));
      const victim = 32 + entries[0]!.entry.length * 5 + 40; // inside entry 5's messages
      await d.tamper(key, (b) => { b[victim] ^= 0x10; return b; });
      const r = await OffloadedLedgerReader.open(store, key, { ledgerId: 7, size: s.size, indexChecksum: s.indexChecksum }, new BlockCache(1 << 20));
      assert.deepEqual(await r.read(4), entries[4]!.entry, 'untouched entries still read');
      await rejectsWith(r.read(5), 'OBJECT_CORRUPT');
      await rejectsWith(r.readRange(0, { maxEntries: 100, maxBytes: 1 << 20 }), 'OBJECT_CORRUPT');
    });

    test('ledger object - damage to the index, trailer, size or identity fails open with OBJECT_CORRUPT', async () => {
      const entries = Array.from({ length: 10 }, (_, i) => ({ entryId: 100 + i, entry: frameEntry(i, 2, 30, i), publishTime: i }));
      const cache = new BlockCache(1 << 20);
      const { key, s } = await writeAndOpen(entries, cache);
      const expect = { ledgerId: 7, size: s.size, indexChecksum: s.indexChecksum };
      await rejectsWith(OffloadedLedgerReader.open(store, key, { ...expect, ledgerId: 8 }, cache), 'OBJECT_CORRUPT');
      await rejectsWith(OffloadedLedgerReader.open(store, key, { ...expect, indexChecksum: (s.indexChecksum + 1) >>> 0 }, cache), 'OBJECT_CORRUPT');
      await rejectsWith(OffloadedLedgerReader.open(store, key, { ...expect, size: s.size + 1 }, cache), 'OBJECT_CORRUPT');
      const original = await store.get(key);
      for (const at of [s.size - 64 - 16 * 10 + 20 /* index record */, s.size - 64 + 3 /* trailer */, s.size - 1 /* magic */]) {
        await d.tamper(key, (b) => { b[at] ^= 1; return b; });
        await rejectsWith(OffloadedLedgerReader.open(store, key, expect, cache), 'OBJECT_CORRUPT');
        await store.put(key, original);
      }
      await d.tamper(key, (b) => b.subarray(0, b.length - 10));
      await rejectsWith(OffloadedLedgerReader.open(store, key, expect, cache), 'OBJECT_CORRUPT');
      await d.tamper(key, () => new Uint8Array(s.size).fill(0xab));
      await rejectsWith(OffloadedLedgerReader.open(store, key, expect, cache), 'OBJECT_CORRUPT');
      await store.delete(key);
      await rejectsWith(OffloadedLedgerReader.open(store, key, expect, cache), 'OBJECT_NOT_FOUND');
    });

    test('ledger object - an object truncated after open is OBJECT_CORRUPT on block reads', async () => {
      const entries = Array.from({ length: 50 }, (_, i) => ({ entryId: i, entry: frameEntry(1, 10, 100, i), publishTime: 1 }));
      const { key, r } = await writeAndOpen(entries, new BlockCache(0, { blockBytes: 4096 }));
      await d.tamper(key, (b) => b.subarray(0, 20_000));
      await rejectsWith(r.readRange(0, { maxEntries: 1000, maxBytes: 1 << 24 }), 'OBJECT_CORRUPT');
    });

    test('ledger object - bad input is INVALID_ARGUMENT and leaves no object', async () => {
      const e = (id: number): OffloadEntry => ({ entryId: id, entry: frameEntry(1, 1, 10), publishTime: 1 });
      const cases: [string, OffloadEntry[]][] = [
        ['empty', []],
        ['unordered', [e(5), e(3)]],
        ['duplicate', [e(5), e(5)]],
        ['span', [e(0), e(2 ** 32)]],
        ['not framed', [e(0), { entryId: 1, entry: new Uint8Array(40), publishTime: 1 }]],
        ['bad time', [{ ...e(0), publishTime: -1 }]],
      ];
      for (const [name, list] of cases) {
        await rejectsWith(writeLedgerObject(store, `bad/${name.replace(' ', '-')}`, 1, iterate(list)), 'INVALID_ARGUMENT');
        assert.equal(await store.head(`bad/${name.replace(' ', '-')}`), undefined, name);
      }
      await rejectsWith(writeLedgerObject(store, 'bad/ledger', -1, iterate([e(0)])), 'INVALID_ARGUMENT');
    });

    test('ledger object - a stored entry whose own checksum is wrong is refused on read (validation is per entry)', async () => {
      const good = frameEntry(3, 2, 20);
      const bad = good.slice();
      new DataView(bad.buffer).setUint32(OFF_CHECKSUM, 12345, true);
      assert.notEqual(jsFramer.validate(bad), 0);
      const { r } = await writeAndOpen([{ entryId: 0, entry: good, publishTime: 3 }, { entryId: 1, entry: bad, publishTime: 3 }], new BlockCache(1 << 20));
      assert.deepEqual(await r.read(0), good);
      await rejectsWith(r.read(1), 'OBJECT_CORRUPT');
    });
  });
}

test('block cache - bounded LRU: concurrent misses share one fetch, failures are not cached', async () => {
  const c = new BlockCache(3 * 100, { blockBytes: 100 });
  let fetches = 0;
  const block = (v: number) => async () => { fetches++; return new Uint8Array(100).fill(v); };
  const [a, b] = await Promise.all([c.get('x1', block(1)), c.get('x1', block(9))]);
  assert.equal(a, b);
  assert.equal(fetches, 1);
  await c.get('x2', block(2));
  await c.get('x3', block(3));
  await c.get('x1', block(1)); // x1 becomes most recent
  await c.get('x4', block(4)); // evicts x2
  assert.equal(c.has('x2'), false);
  assert.ok(c.has('x1') && c.has('x3') && c.has('x4'));
  assert.equal(c.stats().bytes, 300);
  await assert.rejects(c.get('x5', async () => { throw new Error('boom'); }), /boom/);
  assert.equal(c.has('x5'), false);
  assert.deepEqual(await c.get('x5', block(5)), new Uint8Array(100).fill(5));
  assert.throws(() => new BlockCache(-1), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
});
