import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  jsFramer, loadWasmFramer, encodedSize, encodeInto, decodeEntry, EntryStatus, xxhash32, OFF_CHECKSUM, CHECKSUM_FROM,
  toColumns, type FrameBatch, type FrameColumns,
} from '../wasm/index.js';
import { batchArb, check, padColumns, sameBytes } from './wasm-helpers.js';

const wasm = loadWasmFramer();

/** Validates with both implementations; asserts they agree and never throw; decodes when OK. */
function validateBoth(entry: Uint8Array): number {
  const a = jsFramer.validate(entry);
  const b = wasm.validate(entry);
  assert.equal(b, a, `wasm validate ${b} != js ${a}`);
  assert.ok(a <= 0 && a >= -10);
  if (a === EntryStatus.OK) decodeEntry(entry); // only ever after validate OK; must not throw then
  return a;
}

/** Seals copies with both implementations; asserts identical status and bytes. */
function sealBoth(entry: Uint8Array, publishTime: number): number {
  const a = entry.slice();
  const b = entry.slice();
  const sa = jsFramer.seal(a, publishTime);
  const sb = wasm.seal(b, publishTime);
  assert.equal(sb, sa);
  assert.ok(sameBytes(a, b));
  if (sa === EntryStatus.OK) assert.equal(validateBoth(a), EntryStatus.OK);
  else assert.ok(sameBytes(a, entry), 'a refused seal changed the entry');
  return sa;
}

function expectDecoded(entry: Uint8Array, batch: FrameBatch): void {
  const d = decodeEntry(entry);
  assert.equal(d.publishTime, batch.publishTime);
  assert.equal(d.count, batch.messages.length);
  batch.messages.forEach((m, i) => {
    const got = d.messages[i]!;
    assert.deepEqual(got.value === null ? null : Array.from(got.value), m.value === null ? null : Array.from(m.value));
    assert.deepEqual(got.key === null ? null : Array.from(got.key), m.key == null ? null : Array.from(m.key));
    assert.deepEqual(got.properties === null ? [] : Array.from(got.properties), m.properties == null ? [] : Array.from(m.properties));
    assert.equal(got.eventTime, m.eventTime);
    assert.equal(got.deliverAt, m.deliverAt);
    assert.equal(got.sequenceId, m.sequenceId);
  });
}

test('wasm-differential - WASM and JS frame random batches to identical bytes that validate, seal and decode back', () => {
  check(fc.property(batchArb, (batch) => {
    const a = jsFramer.frame(batch);
    const b = wasm.frame(batch);
    assert.ok(sameBytes(a, b), 'framed bytes differ');
    assert.equal(validateBoth(a), EntryStatus.OK);
    expectDecoded(a, batch);
    // Client layout + partition seal gives the same entry as frame.
    const laid = new Uint8Array(encodedSize(batch));
    encodeInto(batch, laid, 0);
    const sealed = laid.slice();
    assert.equal(sealBoth(laid, batch.publishTime), EntryStatus.OK);
    assert.equal(wasm.seal(sealed, batch.publishTime), EntryStatus.OK);
    assert.ok(sameBytes(sealed, a));
  }), 300);
});

test('wasm-differential - WASM and JS throw the same error (code and message) for the same invalid batch', () => {
  const junk = fc.oneof(fc.constant(undefined), fc.constant(null), fc.constant(-1), fc.constant(1.5), fc.constant('x'), fc.constant(2 ** 53),
    fc.constant(new Uint8Array(3)), fc.constant([1]));
  const field = fc.constantFrom('value', 'key', 'properties', 'eventTime', 'deliverAt', 'sequenceId');
  check(fc.property(batchArb, fc.nat(), field, junk, fc.integer({ min: 16, max: 400 }), (batch, at, name, bad, max) => {
    const messages = batch.messages.map((m) => ({ ...m }));
    (messages[at % messages.length] as Record<string, unknown>)[name] = bad;
    const broken = { ...batch, messages };
    const outcome = (f: typeof jsFramer): string => {
      try {
        return `ok:${Buffer.from(f.frame(broken, Math.max(max, 48))).toString('hex')}`;
      } catch (err) {
        // The WASM framer hands any batch it does not accept to the reference: same code and message.
        return `err:${(err as { code?: string }).code}:${(err as Error).message}`;
      }
    };
    assert.equal(outcome(wasm), outcome(jsFramer));
  }), 300);
});

/** A valid entry with one change, and (usually) the checksum recomputed so the structural checks run. */
const mutatedArb = fc.tuple(batchArb, fc.nat(), fc.nat(7), fc.constantFrom('flip', 'flip', 'byte', 'truncate', 'extend', 'u32'), fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 8 }))
  .map(([batch, at, bit, kind, recheck, extra]) => {
    const e = jsFramer.frame(batch);
    let m: Uint8Array;
    const i = at % e.length;
    if (kind === 'flip') { m = e.slice(); m[i]! ^= 1 << bit; }
    else if (kind === 'byte') { m = e.slice(); m[i] = extra[0]!; }
    else if (kind === 'u32') { m = e.slice(); if (i + 4 <= m.length) new DataView(m.buffer).setUint32(i, 0xffffffff - extra[0]!, true); }
    else if (kind === 'truncate') m = e.slice(0, i);
    else { m = new Uint8Array(e.length + extra.length); m.set(e); m.set(extra, e.length); }
    if (recheck && m.length >= 8) {
      const dv = new DataView(m.buffer);
      if (kind === 'truncate' || kind === 'extend') dv.setUint32(0, m.length, true);
      dv.setUint32(OFF_CHECKSUM, xxhash32(m, CHECKSUM_FROM, m.length), true);
    }
    return { entry: m, original: e, kind, at: i };
  });

test('wasm-differential - validate never throws and both implementations agree on random bytes', () => {
  check(fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, fix) => {
    const e = bytes.slice();
    if (fix && e.length >= 32) {
      // Make the header plausible so the record walk is reached.
      const dv = new DataView(e.buffer);
      dv.setUint32(0, e.length, true);
      e[8] = 1;
      dv.setUint32(OFF_CHECKSUM, xxhash32(e, CHECKSUM_FROM, e.length), true);
    }
    validateBoth(e);
    sealBoth(e, 123);
  }), 2000);
});

test('wasm-differential - validate rejects bit-flipped, truncated and extended entries, and both agree', () => {
  const seen = new Set<number>();
  check(fc.property(mutatedArb, ({ entry, original }) => {
    const status = validateBoth(entry);
    seen.add(status);
    if (sameBytes(entry, original)) assert.equal(status, EntryStatus.OK);
    sealBoth(entry, 7);
    // A structurally valid change passed with a fixed-up checksum must still decode within bounds.
    if (status === EntryStatus.OK) decodeEntry(entry);
  }), 2000);
  // The fixed-up checksums must let mutations reach the record walk, not stop at the checksum.
  for (const s of [EntryStatus.CHECKSUM_MISMATCH, EntryStatus.LENGTH_MISMATCH, EntryStatus.RECORD_OUT_OF_BOUNDS, EntryStatus.BAD_FLAGS, EntryStatus.COUNT_MISMATCH]) {
    assert.ok(seen.has(s), `mutations never produced status ${s}; seen ${[...seen].join(',')}`);
  }
  // Without a fixed checksum, every single bit flip is caught.
  check(fc.property(batchArb, fc.nat(), fc.nat(7), (batch, at, bit) => {
    const e = jsFramer.frame(batch);
    e[at % e.length]! ^= 1 << bit;
    assert.ok(validateBoth(e) < 0);
  }), 500);
});

test('wasm-differential - validate reads only the given view, not the bytes around it', () => {
  check(fc.property(batchArb, fc.uint8Array({ minLength: 1, maxLength: 64 }), (batch, pad) => {
    const e = jsFramer.frame(batch);
    const big = new Uint8Array(pad.length + e.length + pad.length);
    big.set(pad, 0);
    big.set(e, pad.length);
    big.set(pad, pad.length + e.length);
    const view = big.subarray(pad.length, pad.length + e.length);
    assert.equal(validateBoth(view), EntryStatus.OK);
    // One byte short: the trailing pad must not be read as the missing byte.
    assert.ok(validateBoth(big.subarray(pad.length, pad.length + e.length - 1)) < 0);
  }), 300);
});

test('wasm-differential - WASM and JS throw the same error for each batch-level fault', () => {
  const ok = { value: new Uint8Array([1]) };
  const cases: unknown[] = [
    null, 7, {}, { publishTime: 1, messages: 'x' }, { publishTime: 1, messages: [] },
    { publishTime: 1, messages: new Array(65_536).fill(ok) }, { publishTime: -1, messages: [ok] }, { publishTime: 1.5, messages: [ok] },
    { messages: [ok] }, { publishTime: 1, producerName: 'p', messages: [ok] }, { publishTime: 1, producerName: new Uint8Array(65_536), messages: [ok] },
    { publishTime: 1, messages: [ok, null] }, { publishTime: 1, messages: [ok, 3] }, { publishTime: 1, messages: [{ ...ok, sequenceId: 1 }, ok] },
    { publishTime: 1, messages: [ok, { ...ok, sequenceId: 1 }] }, { publishTime: 1, messages: [{ ...ok, sequenceId: 5 }, { ...ok, sequenceId: 5 }] },
    { publishTime: 1, messages: [{ ...ok, sequenceId: 0 }, { ...ok, sequenceId: 2 ** 32 }] }, { publishTime: 1, messages: [{ ...ok, key: new Uint8Array(65_536) }] },
  ];
  const outcome = (f: typeof jsFramer, b: unknown, max?: number): string => {
    try {
      return `ok:${Buffer.from(f.frame(b as FrameBatch, max)).toString('hex')}`;
    } catch (err) {
      return `err:${(err as { code?: string }).code}:${(err as Error).message}`;
    }
  };
  for (const b of cases) {
    const js = outcome(jsFramer, b);
    assert.ok(js.startsWith('err:'), `expected a fault: ${js.slice(0, 80)}`);
    assert.equal(outcome(wasm, b), js);
  }
  // Bad maxEntryBytes, and a fault after the size limit is passed: the fault wins in both.
  assert.equal(outcome(wasm, { publishTime: 1, messages: [ok] }, 3), outcome(jsFramer, { publishTime: 1, messages: [ok] }, 3));
  const big = { publishTime: 1, messages: [{ value: new Uint8Array(500) }, { value: 'x' }] };
  assert.equal(outcome(wasm, big, 100), outcome(jsFramer, big, 100));
  assert.match(outcome(wasm, big, 100), /INVALID_ARGUMENT/);
});

/** Column junk: what a reused buffer's spare slots might hold. */
const junkArb = fc.constantFrom(-1, 0, 7, -100_000, 2 ** 31 - 1);

test('wasm-differential - WASM and JS frame random batches given as columns to the bytes frame gives', () => {
  const fallbacks = wasm.referenceFallbacks();
  check(fc.property(batchArb, fc.nat(5), junkArb, (batch, spare, junk) => {
    const expected = jsFramer.frame(batch);
    const cols = padColumns(toColumns(batch), spare, junk);
    assert.ok(sameBytes(jsFramer.frameColumns(cols), expected), 'JS columns differ from JS objects');
    assert.ok(sameBytes(wasm.frameColumns(cols), expected), 'WASM columns differ from JS objects');
  }), 300);
  // Valid batches are framed by the module itself, not handed to the reference.
  assert.equal(wasm.referenceFallbacks(), fallbacks);
});

/** One change to valid columns: most break a rule, a few leave them valid. */
type Mutation = (c: FrameColumns, i: number, x: number) => FrameColumns;
const mutations: Record<string, Mutation> = {
  count: (c, _i, x) => ({ ...c, count: [0, c.count + 1, 65_536, 1.5, -1, Number.NaN, c.count - 1][x % 7]! }),
  publishTime: (c, _i, x) => ({ ...c, publishTime: [-1, 1.5, 2 ** 53, Number.NaN][x % 4]! }),
  producerName: (c, _i, x) => ({ ...c, producerName: (x % 2 === 0 ? 'p' : new Uint8Array(65_536)) as unknown as Uint8Array }),
  payloadType: (c) => ({ ...c, payload: Array.from(c.payload) as unknown as Uint8Array }),
  payloadLength: (c, _i, x) => ({ ...c, payload: x % 2 === 0 ? c.payload.subarray(0, Math.max(0, c.payload.length - 1)) : Uint8Array.of(...c.payload, 9) }),
  columnType: (c, _i, x) => {
    const name = (['keyLengths', 'propertiesLengths', 'valueLengths', 'sequenceIds', 'eventTimes', 'deliverAt'] as const)[x % 6];
    const a = c[name] ?? new Float64Array(c.count);
    const wrong = x % 12 < 6 ? (a instanceof Int32Array ? Float64Array.from(a) : Int32Array.from(a)) : a.subarray(0, c.count - 1);
    return { ...c, [name]: wrong } as FrameColumns;
  },
  keyLength: (c, i, x) => withLength(c, 'keyLengths', i, [-2, 65_536, 65_535, c.keyLengths[i]! + 1, -1, 2 ** 31 - 1][x % 6]!, x),
  propertiesLength: (c, i, x) => withLength(c, 'propertiesLengths', i, [-1, c.propertiesLengths[i]! + 1, -(2 ** 31), 70_000][x % 4]!, x),
  valueLength: (c, i, x) => withLength(c, 'valueLengths', i, [-2, c.valueLengths[i]! + 1, -1, 2 ** 31 - 1, 0][x % 5]!, x),
  sequenceId: (c, i, x) => {
    const s = c.sequenceIds ?? new Float64Array(c.count).map((_, j) => 10 + j);
    const prev = i > 0 ? s[i - 1]! : 0;
    return { ...c, sequenceIds: patchFloat(s, i, [Number.NaN, -1, prev, prev + 2 ** 32 + 1, 2 ** 53, 0.5, s[0]! + 2 ** 32][x % 7]!) };
  },
  eventTime: (c, i, x) => ({ ...c, eventTimes: patchFloat(c.eventTimes ?? new Float64Array(c.count).fill(-1), i, [-2, 1.5, Number.NaN, 2 ** 53, -0, 2 ** 53 - 1][x % 6]!) }),
  deliverAt: (c, i, x) => ({ ...c, deliverAt: patchFloat(c.deliverAt ?? new Float64Array(c.count).fill(-1), i, [-2, 1.5, Number.NaN, 2 ** 53, Infinity][x % 5]!) }),
  notAnObject: (_c, _i, x) => [null, 7, 'x'][x % 3] as unknown as FrameColumns,
};

/**
 * Sets one length; for half the cases (by `x`) the payload grows or shrinks at its end to match, so
 * that only the length rule itself is at stake (a 65536-byte key with 65536 bytes behind it).
 */
function withLength(c: FrameColumns, name: 'keyLengths' | 'propertiesLengths' | 'valueLengths', i: number, v: number, x: number): FrameColumns {
  const lengths = patchInt(c[name], i, v);
  if ((x >> 4) % 2 === 0 || Math.abs(v) > 100_000) return { ...c, [name]: lengths };
  const delta = Math.max(0, lengths[i]!) - Math.max(0, c[name][i]!);
  const payload = new Uint8Array(Math.max(0, c.payload.length + delta));
  payload.set(delta >= 0 ? c.payload : c.payload.subarray(0, payload.length));
  return { ...c, [name]: lengths, payload };
}

function patchInt(a: Int32Array, i: number, v: number): Int32Array {
  const b = a.slice();
  b[i] = v;
  return b;
}

function patchFloat(a: Float64Array, i: number, v: number): Float64Array {
  const b = a.slice();
  b[i] = v;
  return b;
}

test('wasm-differential - WASM and JS frameColumns throw the same error (code and message) for the same broken columns', () => {
  const seen = new Map<string, number>();
  check(fc.property(batchArb, fc.constantFrom(...Object.keys(mutations)), fc.nat(), fc.nat(), fc.nat(3), junkArb, fc.option(fc.integer({ min: 16, max: 5000 }), { nil: undefined }),
    (batch, name, at, x, spare, junk, max) => {
      const cols = padColumns(toColumns(batch), spare, junk);
      const broken = mutations[name]!(cols, at % cols.count, x);
      const outcome = (f: typeof jsFramer): string => {
        try {
          return `ok:${Buffer.from(f.frameColumns(broken, max === undefined ? undefined : Math.max(max, 48))).toString('hex')}`;
        } catch (err) {
          return `err:${(err as { code?: string }).code}:${(err as Error).message}`;
        }
      };
      const js = outcome(jsFramer);
      assert.equal(outcome(wasm), js);
      const kind = js.startsWith('ok:') ? 'ok' : js.split(':')[1]!;
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
    }), 1000);
  // The mutations must mostly break the batch, and reach every error code frameColumns has.
  for (const code of ['INVALID_ARGUMENT', 'BATCH_EMPTY', 'SEQUENCE_INVALID', 'ENTRY_TOO_LARGE', 'ok']) {
    assert.ok((seen.get(code) ?? 0) > 0, `no case ended in ${code}: ${JSON.stringify([...seen])}`);
  }
  assert.ok((seen.get('ok') ?? 0) < 500, `too few cases broke the batch: ${JSON.stringify([...seen])}`);
});
