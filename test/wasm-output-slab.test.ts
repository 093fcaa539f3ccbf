import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsFramer, loadWasmFramer, EntryStatus, type FrameBatch, type Framer } from '../wasm/index.js';
import { DEFAULT_SLAB_BYTES, OutputSlab } from '../wasm/output-slab.js';
import { sameBytes } from './wasm-helpers.js';

const framers: [string, Framer][] = [['js', jsFramer], ['wasm', loadWasmFramer()]];

/** A batch of `n` messages of `size`-byte values whose bytes depend on `seed`. */
function batch(seed: number, n: number, size: number): FrameBatch {
  const messages = [];
  for (let i = 0; i < n; i++) {
    messages.push({ value: new Uint8Array(size).map((_, j) => (seed * 7 + i * 31 + j) & 0xff), key: new Uint8Array([seed & 0xff, i & 0xff]), sequenceId: seed * 1000 + i });
  }
  return { publishTime: 1_764_000_000_000 + seed, producerName: new Uint8Array([1, 2, 3]), messages };
}

/** Asserts that no two of `views` overlap in memory. */
function assertDisjoint(views: Uint8Array[]): void {
  const byBuffer = new Map<ArrayBufferLike, [number, number][]>();
  for (const v of views) {
    const list = byBuffer.get(v.buffer) ?? [];
    list.push([v.byteOffset, v.byteOffset + v.length]);
    byBuffer.set(v.buffer, list);
  }
  for (const list of byBuffer.values()) {
    list.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < list.length; i++) assert.ok(list[i]![0] >= list[i - 1]![1], `regions ${String(list[i - 1])} and ${String(list[i])} overlap`);
  }
}

test('wasm-output-slab - two framed entries never share bytes: writing to one never changes another', () => {
  // ~13 KB entries, both framers interleaved (they share this thread's slab), across several slabs.
  const entries: Uint8Array[] = [];
  for (let i = 0; i < 240; i++) entries.push(framers[i % 2]![1].frame(batch(i, 100, 100)));
  assert.ok(new Set(entries.map((e) => e.buffer)).size >= 3, 'expected the entries to span several slabs');
  assertDisjoint(entries);
  // Fill every entry with its own byte, then check that every entry still holds only its byte.
  entries.forEach((e, i) => e.fill((i * 13 + 1) & 0xff));
  entries.forEach((e, i) => assert.ok(e.every((b) => b === ((i * 13 + 1) & 0xff)), `entry ${i} was changed by a write to another`));
});

test('wasm-output-slab - an entry is never written again by later frames (lmdb-js keeps a pointer until commit)', () => {
  for (const [name, f] of framers) {
    const first = f.frame(batch(1, 100, 100));
    const copy = first.slice();
    // Enough later frames, of both framers, to exhaust the current slab several times over.
    for (let i = 0; i < 300; i++) framers[i % 2]![1].frame(batch(i + 2, 100, 100));
    assert.ok(sameBytes(first, copy), `${name}: a later frame changed an earlier entry`);
    assert.equal(f.validate(first), EntryStatus.OK);
  }
});

test('wasm-output-slab - frames are ordinary (non-Shared) ArrayBuffer-backed Uint8Arrays, 8-byte aligned', () => {
  for (const [name, f] of framers) {
    for (const [n, size] of [[1, 0], [3, 5], [100, 100], [1, DEFAULT_SLAB_BYTES]] as const) {
      const e = f.frame(batch(n, n, size));
      assert.equal(Object.getPrototypeOf(e), Uint8Array.prototype, `${name}: a plain Uint8Array`);
      assert.ok(e.buffer instanceof ArrayBuffer, `${name}: ArrayBuffer-backed`);
      assert.ok(!(typeof SharedArrayBuffer === 'function' && e.buffer instanceof SharedArrayBuffer), `${name}: not shared`);
      assert.equal(e.byteOffset % 8, 0, `${name}: 8-byte aligned`);
      assert.equal(f.validate(e), EntryStatus.OK);
      assert.ok(sameBytes(e, jsFramer.frame(batch(n, n, size))));
    }
  }
});

test('wasm-output-slab - OutputSlab carves aligned disjoint regions, starts a new slab when full, gives large ones their own buffer', () => {
  const slab = new OutputSlab(256);
  assert.equal(slab.maxCarve, 64);
  const taken: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) {
    const n = (i * 37) % 90; // 0..89: some over the 64-byte carve limit
    const v = slab.take(n);
    assert.equal(v.length, n);
    assert.ok(v.buffer instanceof ArrayBuffer);
    assert.equal(v.byteOffset % 8, 0);
    if (n === 0) continue;
    if (n > slab.maxCarve) assert.ok(v.byteOffset === 0 && v.buffer.byteLength === n, 'a large region gets its own buffer');
    else assert.equal(v.buffer.byteLength, 256);
    taken.push(v);
  }
  assert.ok(new Set(taken.filter((v) => v.buffer.byteLength === 256).map((v) => v.buffer)).size > 10, 'new slabs were started');
  assertDisjoint(taken.filter((v) => v.length > 0));
  taken.forEach((v, i) => v.fill(i & 0xff));
  taken.forEach((v, i) => assert.ok(v.every((b) => b === (i & 0xff)), `region ${i} was changed by a write to another`));
  for (const bad of [0, 63, 100, 2 ** 31, 1.5]) assert.throws(() => new OutputSlab(bad), RangeError);
});

test('wasm-output-slab - the WASM one-pass check accepts and refuses at the size limit exactly as the reference', () => {
  const b = batch(5, 10, 50);
  const size = jsFramer.frame(b).length;
  for (const [name, f] of framers) {
    assert.equal(f.frame(b, size).length, size, `${name}: fits exactly`);
    assert.throws(() => f.frame(b, size - 1), (e: unknown) => (e as { code?: string }).code === 'ENTRY_TOO_LARGE', `${name}: one byte over`);
  }
});
