/**
 * Shared pieces of the wasm tests: the property-test seed policy and batch arbitraries.
 * Seed: MILLRACE_SEED if set, else a fixed seed, so CI runs are reproducible; MILLRACE_SOAK=1 runs
 * many more cases. On failure the seed (and fast-check's replay path) is printed: rerun exactly that
 * case with MILLRACE_SEED=<seed>.
 */
import fc from 'fast-check';
import type { FrameBatch, FrameColumns, FrameMessage } from '../wasm/index.js';

export const SEED = process.env.MILLRACE_SEED !== undefined ? Number(process.env.MILLRACE_SEED) : 20261125;
export const SOAK = process.env.MILLRACE_SOAK === '1';

/** fc.assert with the seed policy; prints the seed when the property fails. */
export function check<T>(property: fc.IRawProperty<T>, numRuns: number): void {
  try {
    fc.assert(property, { seed: SEED, numRuns: SOAK ? numRuns * 20 : numRuns });
  } catch (err) {
    console.error(`property failed with MILLRACE_SEED=${SEED} (rerun with that env var)`);
    throw err;
  }
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

const bytes = (maxLength: number) => fc.uint8Array({ maxLength });
/** Absent (key left out), null, or bytes. */
const optionalBytes = (maxLength: number) => fc.option(bytes(maxLength), { nil: null });
const time = fc.oneof(fc.constant(0), fc.nat(1000), fc.maxSafeNat());

const messageArb: fc.Arbitrary<FrameMessage> = fc.record(
  {
    value: fc.option(bytes(120), { nil: null, freq: 6 }),
    key: optionalBytes(40),
    properties: optionalBytes(20),
    eventTime: time,
    deliverAt: time,
  },
  { requiredKeys: ['value'] },
);

/** Sequence IDs for `n` messages: strictly increasing, span < 2^32, all safe integers. */
const sequenceArb = (n: number) =>
  fc.tuple(fc.oneof(fc.nat(1000), fc.maxSafeNat()), fc.array(fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 2 ** 32 })), { minLength: n, maxLength: n }))
    .map(([base, gaps]) => {
      const deltas: number[] = [];
      let d = 0;
      for (let i = 0; i < n; i++) {
        if (i > 0) d += gaps[i]!;
        deltas.push(d);
      }
      // Keep the span below 2^32 (floor keeps order, + i keeps it strict) and every ID a safe integer.
      const span = deltas[n - 1]!;
      const scale = span > 0xffffffff - n ? (0xffffffff - n) / span : 1;
      const scaled = deltas.map((x, i) => (scale === 1 ? x : Math.floor(x * scale) + i));
      const last = scaled[n - 1]!;
      const b = Math.min(base, MAX_SAFE - last);
      return scaled.map((x) => b + x);
    });

/** Random valid batches: 1-12 messages, optional producer name and sequence IDs. */
export const batchArb: fc.Arbitrary<FrameBatch> = fc
  .tuple(fc.maxSafeNat(), fc.option(bytes(24), { nil: null }), fc.array(messageArb, { minLength: 1, maxLength: 12 }), fc.boolean())
  .chain(([publishTime, producerName, messages, withSeq]) =>
    (withSeq ? sequenceArb(messages.length) : fc.constant(null)).map((seq) => ({
      publishTime,
      producerName,
      messages: seq === null ? messages : messages.map((m, i) => ({ ...m, sequenceId: seq[i]! })),
    })),
  );

/** Byte-wise equality with a readable failure. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/**
 * Columns with spare capacity: each column (and a copy of the payload inside a larger buffer) longer
 * than needed, as a producer reusing its buffers would pass them; the spare slots hold junk that must
 * never be read.
 */
export function padColumns(c: FrameColumns, spare: number, junk: number): FrameColumns {
  const pad = <T extends Int32Array | Float64Array>(a: T | null | undefined, make: (n: number) => T): T | null => {
    if (a === null || a === undefined) return null;
    const b = make(a.length + spare);
    b.fill(junk);
    b.set(a);
    return b;
  };
  const buf = new Uint8Array(c.payload.length + 2 * spare).fill(junk & 0xff);
  buf.set(c.payload, spare);
  return {
    ...c,
    payload: buf.subarray(spare, spare + c.payload.length),
    keyLengths: pad(c.keyLengths, (n) => new Int32Array(n))!,
    propertiesLengths: pad(c.propertiesLengths, (n) => new Int32Array(n))!,
    valueLengths: pad(c.valueLengths, (n) => new Int32Array(n))!,
    sequenceIds: pad(c.sequenceIds, (n) => new Float64Array(n)),
    eventTimes: pad(c.eventTimes, (n) => new Float64Array(n)),
    deliverAt: pad(c.deliverAt, (n) => new Float64Array(n)),
  };
}
