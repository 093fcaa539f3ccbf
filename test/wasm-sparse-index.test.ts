import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isMillraceError } from '../core/errors.js';
import { loadWasmFramer, SparseIndex } from '../wasm/index.js';
import { check } from './wasm-helpers.js';

/** Entries offered in order: sizes and time steps (0 keeps equal publish times). */
const ledgerArb = fc.array(fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.constantFrom(0, 0, 1, 7)), { minLength: 0, maxLength: 300 });

function build(entries: [number, number][], intervalBytes: number): { index: SparseIndex; offered: { id: number; pos: number; time: number }[] } {
  const index = new SparseIndex({ intervalBytes });
  const offered = [];
  let pos = 0;
  let time = 1_700_000_000_000;
  for (let id = 0; id < entries.length; id++) {
    const [size, step] = entries[id]!;
    time += step;
    index.add(id, pos, time, size);
    offered.push({ id, pos, time });
    pos += size;
  }
  return { index, offered };
}

test('sparse-index - indexes the first entry, then one entry per intervalBytes of data', () => {
  const index = new SparseIndex({ intervalBytes: 100 });
  assert.equal(index.floorByEntry(0), undefined);
  assert.equal(index.floorByTime(5), undefined);
  // Sizes 60 each: indexed at 0, then once >= 100 bytes were offered since: entries 0, 2, 4.
  for (let i = 0; i < 6; i++) index.add(i, i * 60, 1000 + i, 60);
  assert.equal(index.count, 3);
  assert.deepEqual(index.floorByEntry(3), { entryId: 2, position: 120, publishTime: 1002 });
  assert.deepEqual(index.floorByEntry(100), { entryId: 4, position: 240, publishTime: 1004 });
  assert.equal(new SparseIndex().intervalBytes, 32 * 1024);
});

test('sparse-index - floorByTime lands before every entry that may have publishTime >= t', () => {
  const index = new SparseIndex({ intervalBytes: 1 });
  // Equal times: the first entry with time >= 20 is entry 1, so the scan must start at or before it.
  [[0, 10], [1, 20], [2, 20], [3, 20], [4, 30]].forEach(([id, t]) => index.add(id!, id! * 10, t!, 10));
  assert.equal(index.floorByTime(20)!.entryId, 0);
  assert.equal(index.floorByTime(21)!.entryId, 3);
  assert.equal(index.floorByTime(5)!.entryId, 0); // nothing earlier: the first entry
  assert.equal(index.floorByTime(1e15)!.entryId, 4);
});

test('sparse-index - floor searches match a linear scan and a scan from the hit finds the target', () => {
  check(fc.property(ledgerArb, fc.integer({ min: 1, max: 20000 }), fc.nat(), fc.nat(2000), (entries, interval, probe, dt) => {
    const { index, offered } = build(entries, interval);
    if (offered.length === 0) return;
    const target = probe % (offered.length + 2);
    const hit = index.floorByEntry(target);
    const slots = [];
    for (let i = 0; i < index.count; i++) slots.push(index.slots[i * 4]!);
    const expected = slots.filter((id) => id <= target).pop();
    assert.equal(hit?.entryId, expected);
    const t = offered[0]!.time + dt - 3;
    const th = index.floorByTime(t)!;
    const first = offered.find((e) => e.time >= t);
    if (first) assert.ok(th.entryId <= first.id, 'time floor is past the first matching entry');
    // A scan from the hit reads less than one interval plus one entry of data before the target.
    if (first && th.publishTime < t) {
      const dist = first.pos - th.position;
      assert.ok(dist <= interval + 5000 * 2, `scan distance ${dist}`);
    }
  }), 300);
});

test('sparse-index - WASM search over the index region agrees with the JS search', () => {
  const wasm = loadWasmFramer();
  check(fc.property(ledgerArb, fc.integer({ min: 1, max: 4000 }), fc.array(fc.integer({ min: -5, max: 400 }), { maxLength: 20 }), fc.array(fc.double({ min: 1.7e12 - 10, max: 1.7e12 + 3000, noNaN: true }), { maxLength: 20 }),
    (entries, interval, ids, times) => {
      const { index } = build(entries, interval);
      assert.ok(wasm.loadIndex(index.slots, index.count));
      for (const id of ids) {
        const slot = wasm.indexFloorByEntry(index.count, id);
        assert.equal(slot < 0 ? undefined : index.slots[slot * 4], index.floorByEntry(id)?.entryId);
      }
      for (const t of times) {
        const slot = wasm.indexFloorByTime(index.count, t);
        assert.equal(slot < 0 ? undefined : index.slots[slot * 4], index.floorByTime(t)?.entryId);
      }
    }), 300);
});

test('sparse-index - toBytes/fromBytes round trip keeps searches and lets add continue as if never saved', () => {
  check(fc.property(ledgerArb, fc.integer({ min: 1, max: 20000 }), fc.nat(300), (entries, interval, cut) => {
    const whole = build(entries, interval).index;
    const at = Math.min(cut, entries.length);
    const first = build(entries.slice(0, at), interval).index;
    const reloaded = SparseIndex.fromBytes(first.toBytes());
    assert.deepEqual(reloaded.toBytes(), first.toBytes());
    // Continue offering the rest to the reloaded index.
    let pos = entries.slice(0, at).reduce((s, [size]) => s + size, 0);
    let time = 1_700_000_000_000 + entries.slice(0, at).reduce((s, [, step]) => s + step, 0);
    for (let id = at; id < entries.length; id++) {
      const [size, step] = entries[id]!;
      time += step;
      reloaded.add(id, pos, time, size);
      pos += size;
    }
    assert.deepEqual(reloaded.toBytes(), whole.toBytes());
  }), 200);
});

test('sparse-index - fromBytes rejects garbage, bit flips and truncation with ENTRY_CORRUPT', () => {
  const corrupt = (e: unknown) => isMillraceError(e, 'ENTRY_CORRUPT');
  check(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    assert.throws(() => SparseIndex.fromBytes(bytes), corrupt);
  }), 500);
  check(fc.property(ledgerArb, fc.nat(), fc.nat(7), (entries, at, bit) => {
    const bytes = build(entries, 500).index.toBytes();
    const flipped = bytes.slice();
    flipped[at % bytes.length]! ^= 1 << bit;
    assert.throws(() => SparseIndex.fromBytes(flipped), corrupt);
    assert.throws(() => SparseIndex.fromBytes(bytes.subarray(0, at % bytes.length)), corrupt);
  }), 300);
});

test('sparse-index - add refuses out-of-order or out-of-range entries with INVALID_ARGUMENT', () => {
  const index = new SparseIndex();
  index.add(5, 100, 1000, 50);
  const invalid = (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT');
  assert.throws(() => index.add(5, 200, 1000, 50), invalid);
  assert.throws(() => index.add(6, 100, 1000, 50), invalid);
  assert.throws(() => index.add(6, 200, 999, 50), invalid);
  assert.throws(() => index.add(6, 2 ** 32, 1000, 50), invalid);
  assert.throws(() => index.add(6, 200, -1, 50), invalid);
  assert.throws(() => new SparseIndex({ intervalBytes: 0 }), invalid);
  index.add(6, 200, 1000, 50);
});
