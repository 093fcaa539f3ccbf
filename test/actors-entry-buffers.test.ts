/**
 * The pool appended entries are copied into (actors/partition/entry-buffers.ts): a buffer comes back
 * only once its append has settled, and never twice, or two entries would share memory while
 * lmdb-js still reads one of them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { releaseEntryBuffer, takeEntryBuffer } from '../actors/partition/entry-buffers.js';

test('entry buffers - a released buffer holds the next entry; one released twice is pooled once', () => {
  const a = takeEntryBuffer(1000);
  assert.equal(a.length, 1000);
  a.fill(7);
  releaseEntryBuffer(a);
  const b = takeEntryBuffer(2000);
  assert.equal(b.buffer, a.buffer, 'the released memory is reused, not a fresh allocation');
  assert.equal(b.length, 2000);
  releaseEntryBuffer(b);
  releaseEntryBuffer(b); // a second release of the same entry must not pool its memory twice
  const c = takeEntryBuffer(10);
  const d = takeEntryBuffer(10);
  assert.notEqual(c.buffer, d.buffer, 'two entries in flight never share memory');
  releaseEntryBuffer(c);
  releaseEntryBuffer(d);
});

test('entry buffers - buffers not from the pool are not taken in, and large entries get their own', () => {
  const foreign = Buffer.alloc(256 * 1024);
  releaseEntryBuffer(foreign);
  const e = takeEntryBuffer(100);
  assert.notEqual(e.buffer, foreign.buffer, 'a buffer the pool did not hand out is never reused');
  releaseEntryBuffer(e);
  const big = takeEntryBuffer(1024 * 1024);
  assert.equal(big.length, 1024 * 1024);
  releaseEntryBuffer(big);
  const small = takeEntryBuffer(100);
  assert.notEqual(small.buffer, big.buffer);
  releaseEntryBuffer(small);
});
