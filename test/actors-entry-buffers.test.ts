/**
 * The pool appended entries are copied into (actors/partition/entry-buffers.ts): a buffer comes back
 * only once its append has settled, and never twice, or two entries would share memory while
 * lmdb-js still reads one of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseEntryBuffer, takeEntryBuffer } from '../actors/partition/entry-buffers.js';

test('entry buffers - a released buffer holds the next entry; one released twice is pooled once', () => {
  const a = takeEntryBuffer(40_000);
  assert.equal(a.length, 40_000);
  a.fill(7);
  releaseEntryBuffer(a);
  const b = takeEntryBuffer(50_000);
  assert.equal(b.buffer, a.buffer, 'the released memory is reused, not a fresh allocation');
  assert.equal(b.length, 50_000);
  releaseEntryBuffer(b);
  releaseEntryBuffer(b); // a second release of the same entry must not pool its memory twice
  const c = takeEntryBuffer(40_000);
  const d = takeEntryBuffer(40_000);
  assert.notEqual(c.buffer, d.buffer, 'two entries in flight never share memory');
  releaseEntryBuffer(c);
  releaseEntryBuffer(d);
});

test('entry buffers - buffers not from the pool are not taken in, and large entries get their own', () => {
  const foreign = Buffer.alloc(256 * 1024);
  releaseEntryBuffer(foreign);
  const e = takeEntryBuffer(40_000);
  assert.notEqual(e.buffer, foreign.buffer, 'a buffer the pool did not hand out is never reused');
  releaseEntryBuffer(e);
  const big = takeEntryBuffer(1024 * 1024);
  assert.equal(big.length, 1024 * 1024);
  releaseEntryBuffer(big);
  const pooled = takeEntryBuffer(40_000);
  assert.notEqual(pooled.buffer, big.buffer);
  releaseEntryBuffer(pooled);
  // A small entry (an unbatched send) is not given a 256 KiB pooled buffer of its own.
  const small = takeEntryBuffer(150);
  assert.equal(small.length, 150);
  assert.ok(small.buffer.byteLength < 256 * 1024);
  releaseEntryBuffer(small);
  assert.notEqual(takeEntryBuffer(40_000).buffer, small.buffer, 'nor taken into the pool');
});
