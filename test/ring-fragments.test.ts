/**
 * Records larger than a ring record, carried as fragments through the ring: a property over random
 * mixes of whole and fragmented records written while the reader drains at random, against the
 * sequence written; the queued form (splitFragments) the same way; records given as parts (a
 * header and bodies, never gathered into one buffer) the same way; and fragments out of sequence.
 * Seed: MILLRACE_SEED if set, else a fixed one; MILLRACE_SOAK=1 runs many more cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FRAGMENT_HEADER, FragmentAssembler, RingBuffer, copyRecord, recordLength, splitFragments, writeFragments } from '../actors/ring/index.js';
import { isMillraceError } from '../core/errors.js';

const SEED = process.env['MILLRACE_SEED'] !== undefined ? Number(process.env['MILLRACE_SEED']) : 20261126;
const SOAK = process.env['MILLRACE_SOAK'] === '1';
const FRAGMENT = 4;

/** Record `i` of a run: its bytes say where they came from, so a misplaced chunk shows. */
function record(i: number, length: number): Uint8Array {
  const r = new Uint8Array(length);
  for (let k = 0; k < length; k++) r[k] = (i * 31 + k * 7) & 0xff;
  return r;
}

/** Reads everything in the ring, rebuilding fragmented records; pushes [type, bytes] in order. */
function drain(ring: RingBuffer, assembler: FragmentAssembler, out: [number, Uint8Array][], limit?: number): number {
  return ring.read((type, bytes, offset, length) => {
    if (type !== FRAGMENT) {
      out.push([type, bytes.slice(offset, offset + length)]);
      return;
    }
    const whole = assembler.add(bytes, offset, length);
    if (whole) out.push([assembler.type, whole]);
  }, limit);
}

test('fragments - whole and fragmented records, written while the reader drains at random, come out as written', () => {
  const ring = RingBuffer.create(1024); // maxRecordLength 128
  fc.assert(fc.property(
    fc.array(fc.record({ length: fc.integer({ min: 0, max: 900 }), type: fc.integer({ min: 1, max: 3 }), readAfter: fc.integer({ min: 0, max: 6 }) }), { minLength: 1, maxLength: 60 }),
    (plan) => {
      const assembler = new FragmentAssembler();
      const out: [number, Uint8Array][] = [];
      plan.forEach(({ length, type, readAfter }, i) => {
        const r = record(i, length);
        if (length <= ring.maxRecordLength) {
          while (!ring.tryWrite(type, r)) drain(ring, assembler, out, 1);
        } else {
          // The writer resumes where the full ring stopped it, as the client endpoint does.
          let sent = 0;
          while ((sent = writeFragments(ring, FRAGMENT, type, r, sent)) < length) drain(ring, assembler, out, 1);
        }
        drain(ring, assembler, out, readAfter);
      });
      drain(ring, assembler, out);
      assert.equal(out.length, plan.length);
      out.forEach(([type, bytes], i) => {
        assert.equal(type, plan[i]!.type, `record ${i}'s type`);
        assert.deepEqual(bytes, record(i, plan[i]!.length), `record ${i}'s bytes`);
      });
    },
  ), { seed: SEED, numRuns: SOAK ? 2000 : 100 });
});

test('fragments - the queued form: what did not fit is split, then written in order later, and rebuilds the same record', () => {
  const ring = RingBuffer.create(1024);
  const assembler = new FragmentAssembler();
  const big = record(7, 5000);
  const sent = writeFragments(ring, FRAGMENT, 2, big, 0);
  assert.ok(sent > 0 && sent < big.length, `a part fits in the empty ring (${sent} bytes)`);
  const queued = splitFragments(ring.maxRecordLength, 2, big, sent);
  for (const f of queued) assert.ok(f.length <= ring.maxRecordLength && f.length > FRAGMENT_HEADER);
  const out: [number, Uint8Array][] = [];
  for (const f of queued) while (!ring.tryWrite(FRAGMENT, f)) drain(ring, assembler, out);
  drain(ring, assembler, out);
  assert.equal(out.length, 1);
  assert.equal(out[0]![0], 2);
  assert.deepEqual(out[0]![1], big);
});

/** `r` cut at `cuts` (offsets, any order, repeats give empty parts), plus empty parts at both ends. */
function cut(r: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [0, ...cuts.map((c) => c % (r.length + 1)).sort((a, b) => a - b), r.length];
  const parts: Uint8Array[] = [new Uint8Array(0)];
  for (let i = 1; i < at.length; i++) parts.push(r.subarray(at[i - 1], at[i]));
  parts.push(new Uint8Array(0));
  return parts;
}

test('fragments - a record given as parts goes through the ring, in place or queued, as the same bytes', () => {
  const ring = RingBuffer.create(1024);
  fc.assert(fc.property(
    fc.array(fc.record({
      length: fc.integer({ min: 0, max: 2000 }), cuts: fc.array(fc.nat(), { maxLength: 8 }),
      // When the ring is full: wait for the reader, or queue the rest as the host loop does.
      queue: fc.boolean(), readAfter: fc.integer({ min: 0, max: 6 }),
    }), { minLength: 1, maxLength: 30 }),
    (plan) => {
      const assembler = new FragmentAssembler();
      const out: [number, Uint8Array][] = [];
      plan.forEach(({ length, cuts, queue, readAfter }, i) => {
        const r = record(i, length);
        const parts = cut(r, cuts);
        assert.equal(recordLength(parts), length);
        if (length <= ring.maxRecordLength) {
          const whole = new Uint8Array(length);
          copyRecord(parts, whole, 0);
          while (!ring.tryWrite(2, whole)) drain(ring, assembler, out, 1);
        } else if (queue) {
          const sent = writeFragments(ring, FRAGMENT, 2, parts, 0);
          for (const f of splitFragments(ring.maxRecordLength, 2, parts, sent)) while (!ring.tryWrite(FRAGMENT, f)) drain(ring, assembler, out, 1);
        } else {
          let sent = 0;
          while ((sent = writeFragments(ring, FRAGMENT, 2, parts, sent)) < length) drain(ring, assembler, out, 1);
        }
        drain(ring, assembler, out, readAfter);
      });
      drain(ring, assembler, out);
      assert.equal(out.length, plan.length);
      out.forEach(([, bytes], i) => assert.deepEqual(bytes, record(i, plan[i]!.length), `record ${i}'s bytes`));
    },
  ), { seed: SEED, numRuns: SOAK ? 2000 : 100 });
});

test('fragments - a fragment out of sequence is INVALID_ARGUMENT, and the next record starts clean', () => {
  const [first, second, third] = splitFragments(128, 1, record(1, 300));
  const feed = (a: FragmentAssembler, f: Uint8Array): Uint8Array | undefined => a.add(f, 0, f.length);
  const invalid = (fn: () => unknown): void => assert.throws(fn, (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  const a = new FragmentAssembler();
  invalid(() => feed(a, second!)); // no start
  assert.equal(feed(a, first!), undefined);
  invalid(() => feed(a, third!)); // a gap
  // The broken record is dropped: the next start rebuilds cleanly.
  assert.equal(feed(a, first!), undefined);
  assert.equal(feed(a, second!), undefined);
  assert.deepEqual(feed(a, third!), record(1, 300));
  // A start in the middle of a record is a writer interleaving two: refused.
  const b = new FragmentAssembler();
  feed(b, first!);
  invalid(() => feed(b, splitFragments(128, 1, record(2, 300))[0]!));
});
