/**
 * Producer deduplication by exact sequence ranges (actors/partition/dedup.ts), on a real managed
 * ledger in a temp LMDB store. `put` does what the partition actor does with an append: check,
 * keep the new messages of a partial batch, accept, append, then persisted or rejected.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManagedLedger, Store } from '../core/index.js';
import { DedupState, entrySequenceRuns } from '../actors/partition/dedup.js';
import { decodeEntry, jsFramer } from '../wasm/index.js';
import { tempDir, removeDir } from './util/tmp.js';
import { testSeed, runs } from './util/seed.js';

const enc = new TextEncoder();
const P = 'prod';

function entryOf(ids: number[], producer = P): Uint8Array {
  return jsFramer.frame({ publishTime: 0, producerName: enc.encode(producer), messages: ids.map((id) => ({ value: enc.encode(`v${id}`), sequenceId: id })) });
}

const span = (first: number, last: number): number[] => Array.from({ length: last - first + 1 }, (_, i) => first + i);

type Outcome = 'stored' | 'duplicate';

/** The partition actor's append path. `fail` makes the append fail after it was accepted. */
function put(d: DedupState, ml: ManagedLedger, ids: number[], opts: { fail?: boolean; producer?: string } = {}): Promise<Outcome> {
  let entry = entryOf(ids, opts.producer);
  const check = d.check(entry);
  if (check.verdict === 'duplicate') return Promise.resolve('duplicate');
  if (check.verdict === 'partial') {
    const dec = decodeEntry(entry);
    const keep = dec.messages.filter((m) => d.isNew(check.producer, m.sequenceId ?? -1));
    entry = jsFramer.frame({ publishTime: 0, producerName: dec.producerName, messages: keep.map((m) => ({ value: m.value, sequenceId: m.sequenceId })) });
  }
  d.accept(entry);
  if (opts.fail) {
    return Promise.resolve().then(() => {
      d.reject(entry);
      throw new Error('append failed');
    });
  }
  return ml.appendEntry(entry).then((r) => {
    d.persistedAt(entry, r.position);
    return 'stored' as const;
  });
}

/** Every sequence ID stored in the ledger, in log order. */
async function storedIds(ml: ManagedLedger): Promise<number[]> {
  const out: number[] = [];
  for (const r of await ml.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 100_000 })) {
    for (const m of decodeEntry(r.entry).messages) out.push(m.sequenceId!);
  }
  return out;
}

async function withStore(fn: (store: Store) => Promise<void>): Promise<void> {
  const dir = tempDir('millrace-dedup');
  const store = Store.open(dir, { durability: 'async' });
  try {
    await fn(store);
  } finally {
    await store.close();
    removeDir(dir);
  }
}

let mlCounter = 0;
async function withLedger(fn: (d: DedupState, ml: ManagedLedger, store: Store) => Promise<void>, maxRanges?: number): Promise<void> {
  await withStore(async (store) => {
    const ml = await ManagedLedger.open(store, `persistent://t/ns/dedup-${mlCounter++}`);
    const d = await DedupState.recover(store, ml, { maxRanges });
    await fn(d, ml, store);
    await ml.close();
  });
}

test('dedup - entrySequenceRuns gives runs of consecutive IDs, and nothing for unnamed, ID-less or malformed entries', () => {
  assert.deepEqual(entrySequenceRuns(entryOf([5, 6, 7])), [5, 7]);
  assert.deepEqual(entrySequenceRuns(entryOf([1, 3, 4, 9])), [1, 1, 3, 4, 9, 9]);
  assert.equal(entrySequenceRuns(jsFramer.frame({ publishTime: 0, producerName: enc.encode(P), messages: [{ value: enc.encode('x') }] })), undefined);
  const cut = entryOf([1, 2, 3]);
  assert.equal(entrySequenceRuns(cut.subarray(0, cut.length - 30)), undefined);
  assert.equal(entrySequenceRuns(cut.subarray(0, 10)), undefined);
});

test('dedup - in-order batches fold into the low watermark; lastSequenceId is the highest persisted', async () => {
  await withLedger(async (d, ml) => {
    assert.equal(await put(d, ml, span(0, 9)), 'stored');
    assert.equal(await put(d, ml, span(10, 19)), 'stored');
    assert.deepEqual(d.persistedRanges(P), { low: 19, ranges: [] });
    assert.equal(d.lastSequenceId(P), 19);
    assert.equal(d.lastSequenceId('other'), -1);
  });
});

test('dedup - a resend overtaken by a later batch is stored, not dropped (the highest-ID rule lost it)', async () => {
  await withLedger(async (d, ml) => {
    await put(d, ml, span(0, 9));
    assert.equal(await put(d, ml, span(20, 29)), 'stored');
    assert.deepEqual(d.persistedRanges(P), { low: 9, ranges: [20, 29] });
    assert.equal(d.lastSequenceId(P), 29);
    assert.equal(await put(d, ml, span(10, 19)), 'stored');
    assert.deepEqual(d.persistedRanges(P), { low: 29, ranges: [] });
    // Every stored ID again is a duplicate.
    for (const ids of [span(0, 9), span(10, 19), span(20, 29), [3], span(5, 25)]) assert.equal(await put(d, ml, ids), 'duplicate');
    assert.deepEqual(await storedIds(ml), [...span(0, 9), ...span(20, 29), ...span(10, 19)]);
  });
});

test('dedup - a batch overlapping stored ranges keeps exactly its new IDs (partial), also in the middle', async () => {
  await withLedger(async (d, ml) => {
    await put(d, ml, span(0, 4));
    await put(d, ml, span(10, 14));
    await put(d, ml, span(20, 24));
    assert.equal(await put(d, ml, span(2, 22)), 'stored');
    const ids = await storedIds(ml);
    assert.deepEqual(ids.slice(15), [...span(5, 9), ...span(15, 19)]);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(d.persistedRanges(P), { low: 24, ranges: [] });
  });
});

test('dedup - IDs in flight count as known; a failed append forgets them so the retry is stored', async () => {
  await withLedger(async (d, ml) => {
    const first = put(d, ml, span(0, 9));
    assert.equal(await put(d, ml, span(0, 9)), 'duplicate', 'a resend of an in-flight batch');
    assert.equal(await first, 'stored');
    await assert.rejects(put(d, ml, span(10, 19), { fail: true }));
    assert.equal(await put(d, ml, span(15, 24)), 'stored');
    assert.equal(await put(d, ml, span(10, 19)), 'stored', 'the retry of the failed batch keeps 10..14');
    assert.deepEqual(await storedIds(ml), [...span(0, 9), ...span(15, 24), ...span(10, 14)]);
    assert.deepEqual(d.persistedRanges(P), { low: 24, ranges: [] });
  });
});

test('dedup - gapped batches (explicit IDs) record exact IDs, not the span between them', async () => {
  await withLedger(async (d, ml) => {
    await put(d, ml, [1, 3, 5]);
    assert.deepEqual(d.persistedRanges(P), { low: -1, ranges: [1, 1, 3, 3, 5, 5] });
    assert.equal(await put(d, ml, [2, 4]), 'stored');
    assert.equal(await put(d, ml, [3]), 'duplicate');
    assert.equal(await put(d, ml, [0]), 'stored');
    assert.deepEqual(d.persistedRanges(P), { low: 5, ranges: [] });
  });
});

test('dedup - producers are independent', async () => {
  await withLedger(async (d, ml) => {
    await put(d, ml, span(0, 9), { producer: 'a' });
    assert.equal(await put(d, ml, span(0, 9), { producer: 'b' }), 'stored');
    assert.equal(await put(d, ml, span(0, 9), { producer: 'a' }), 'duplicate');
  });
});

test('dedup - past maxRanges open gaps the oldest closes into the watermark (Pulsar rule), newer gaps stay exact', async () => {
  await withLedger(async (d, ml) => {
    for (const id of [0, 2, 4, 6, 8]) await put(d, ml, [id]);
    // Ranges above low=0: [2],[4],[6],[8] is four; with at most 2, the watermark moves to 4.
    assert.deepEqual(d.persistedRanges(P), { low: 4, ranges: [6, 6, 8, 8] });
    assert.equal(await put(d, ml, [3]), 'duplicate', 'a gap below the watermark counts as persisted');
    assert.equal(await put(d, ml, [7]), 'stored', 'a gap above it is still exact');
    assert.deepEqual(d.persistedRanges(P), { low: 4, ranges: [6, 8] });
    assert.equal(await put(d, ml, [5]), 'stored');
    assert.deepEqual(d.persistedRanges(P), { low: 8, ranges: [] });
  }, 2);
});

test('dedup - the snapshot round-trips watermarks and ranges, and a restart replays only the entries after it', async () => {
  await withStore(async (store) => {
    const name = 'persistent://t/ns/dedup-snap';
    let ml = await ManagedLedger.open(store, name);
    let d = await DedupState.recover(store, ml);
    await put(d, ml, span(0, 9));
    await put(d, ml, span(20, 29));
    await put(d, ml, span(40, 44), { producer: 'q' });
    await d.snapshot();
    const snap = store.topics.get(['dedup', name]) as { producers: Record<string, number>; ranges: Record<string, number[]> };
    assert.deepEqual(snap.producers, { [P]: 9, q: -1 });
    assert.deepEqual(snap.ranges, { q: [40, 44], [P]: [20, 29] });
    // After the snapshot: more entries, which the restart finds in the log.
    await put(d, ml, span(50, 54));
    await ml.close();
    ml = await ManagedLedger.open(store, name);
    d = await DedupState.recover(store, ml);
    assert.deepEqual(d.persistedRanges(P), { low: 9, ranges: [20, 29, 50, 54] });
    assert.deepEqual(d.persistedRanges('q'), { low: -1, ranges: [40, 44] });
    assert.equal(await put(d, ml, span(5, 55)), 'stored');
    const ids = await storedIds(ml);
    assert.deepEqual(ids.slice(-31), [...span(10, 19), ...span(30, 49), 55]);
    await ml.close();
  });
});

test('dedup - a restart without a snapshot rebuilds the exact ranges from the log', async () => {
  await withStore(async (store) => {
    const name = 'persistent://t/ns/dedup-replay';
    let ml = await ManagedLedger.open(store, name);
    let d = await DedupState.recover(store, ml);
    await put(d, ml, span(0, 9));
    await put(d, ml, span(30, 39));
    await put(d, ml, [12, 14]);
    await ml.close();
    ml = await ManagedLedger.open(store, name);
    d = await DedupState.recover(store, ml);
    assert.deepEqual(d.persistedRanges(P), { low: 9, ranges: [12, 12, 14, 14, 30, 39] });
    assert.equal(await put(d, ml, span(10, 20)), 'stored');
    assert.deepEqual((await storedIds(ml)).slice(-9), [10, 11, 13, ...span(15, 20)]);
    await ml.close();
  });
});

test('dedup - an old snapshot (highest IDs only) still reads, as low watermarks; a malformed one makes a full replay', async () => {
  await withStore(async (store) => {
    const name = 'persistent://t/ns/dedup-old';
    let ml = await ManagedLedger.open(store, name);
    let d = await DedupState.recover(store, ml);
    await put(d, ml, span(0, 49));
    await put(d, ml, span(100, 109));
    const last = ml.lastConfirmed!;
    await ml.close();
    // What the previous version wrote: the highest persisted ID per producer.
    await store.topics.put(['dedup', name], { ledgerId: last.ledgerId, entryId: last.entryId, producers: { [P]: 109 } });
    ml = await ManagedLedger.open(store, name);
    d = await DedupState.recover(store, ml);
    assert.deepEqual(d.persistedRanges(P), { low: 109, ranges: [] });
    assert.equal(d.lastSequenceId(P), 109);
    assert.equal(await put(d, ml, span(60, 69)), 'duplicate', 'below the old highest ID: the old rule');
    assert.equal(await put(d, ml, span(110, 119)), 'stored');
    await ml.close();
    // A malformed snapshot is not trusted: the whole log is replayed.
    await store.topics.put(['dedup', name], { ledgerId: last.ledgerId, entryId: last.entryId, producers: { [P]: 'x' } });
    ml = await ManagedLedger.open(store, name);
    d = await DedupState.recover(store, ml);
    assert.deepEqual(d.persistedRanges(P), { low: 49, ranges: [100, 119] });
    await ml.close();
  });
});

test('dedup - property: for any interleaving of batches, resends, reorders, overlaps and failed appends, each distinct ID sent is stored exactly once', async () => {
  const N = 60;
  // An operation sends the IDs [first, first + len) (a resend when they were sent before), now or
  // while earlier appends are in flight, and its append may fail.
  const op = fc.record({ first: fc.integer({ min: 0, max: N - 1 }), len: fc.integer({ min: 1, max: 12 }), fail: fc.boolean(), wait: fc.boolean(), gap: fc.boolean() });
  await withStore(async (store) => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), fc.boolean(), async (ops, restart) => {
        const name = `persistent://t/ns/dedup-prop-${mlCounter++}`;
        let ml = await ManagedLedger.open(store, name);
        let d = await DedupState.recover(store, ml);
        const sent = new Set<number>();
        let flight: Promise<unknown>[] = [];
        for (const [i, o] of ops.entries()) {
          let ids = span(o.first, Math.min(N - 1, o.first + o.len - 1));
          if (o.gap) ids = ids.filter((id) => id % 3 !== 0 || id === ids[0]);
          const p = put(d, ml, ids, { fail: o.fail });
          flight.push(p.then(() => { for (const id of ids) sent.add(id); }, () => undefined));
          if (o.wait) {
            await Promise.all(flight);
            flight = [];
          }
          if (restart && i === Math.floor(ops.length / 2)) {
            await Promise.all(flight);
            flight = [];
            if (i % 2 === 0) await d.snapshot();
            await ml.close();
            ml = await ManagedLedger.open(store, name);
            d = await DedupState.recover(store, ml);
          }
        }
        await Promise.all(flight);
        // The producer resends every ID whose append failed, until each one is stored.
        for (const o of ops) if (o.fail) {
          const ids = span(o.first, Math.min(N - 1, o.first + o.len - 1));
          await put(d, ml, ids);
          for (const id of ids) sent.add(id);
        }
        const ids = await storedIds(ml);
        assert.equal(ids.length, new Set(ids).size, `an ID stored twice: ${ids.join(',')}`);
        assert.deepEqual([...ids].sort((a, b) => a - b), [...sent].sort((a, b) => a - b));
        await ml.close();
      }),
      { seed: testSeed(0xded0), numRuns: runs(60, 1500) },
    );
  });
});
