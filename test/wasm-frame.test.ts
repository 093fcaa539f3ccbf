import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { isMillraceError } from '../core/errors.js';
import {
  jsFramer, loadWasmFramer, encodedSize, encodeInto, decodeEntry, EntryStatus, entryStatusMessage, xxhash32,
  entryLength, entryCount, entryPublishTime, entryBaseSequenceId, entryLastSequenceId,
  OFF_CHECKSUM, OFF_VERSION, OFF_FLAGS, OFF_PUBLISH_TIME, OFF_BASE_SEQUENCE, ENTRY_HEADER_SIZE, CHECKSUM_FROM,
  toColumns, type FrameBatch, type FrameColumns, type Framer,
} from '../wasm/index.js';
import { sameBytes } from './wasm-helpers.js';

const enc = new TextEncoder();
const framers: [string, Framer][] = [['js', jsFramer], ['wasm', loadWasmFramer()]];

function sample(): FrameBatch {
  return {
    publishTime: 1_764_000_000_123,
    producerName: enc.encode('producer-a'),
    messages: [
      { value: enc.encode('hello'), key: enc.encode('k1'), properties: new Uint8Array([0x80]), eventTime: 17, sequenceId: 40 },
      { value: null, key: new Uint8Array(0), sequenceId: 41, deliverAt: 2 ** 53 - 1 },
      { value: new Uint8Array(0), eventTime: 0, deliverAt: 5, sequenceId: 2 ** 32 + 39 },
    ],
  };
}

/** Copy of `entry` changed by `mutate`, with its checksum recomputed so structural checks are reached. */
function resealed(entry: Uint8Array, mutate: (dv: DataView, e: Uint8Array) => void): Uint8Array {
  const e = entry.slice();
  const dv = new DataView(e.buffer);
  mutate(dv, e);
  dv.setUint32(OFF_CHECKSUM, xxhash32(e, CHECKSUM_FROM, e.length), true);
  return e;
}

test('wasm-frame - xxhash32 matches the published vectors in both implementations', () => {
  const vectors: [string, number][] = [['', 0x02cc5d05], ['a', 0x550d7456], ['abc', 0x32d153ff]];
  for (const [s, h] of vectors) {
    const b = enc.encode(s);
    assert.equal(xxhash32(b, 0, b.length), h, `js "${s}"`);
    for (const [name, f] of framers) assert.equal(f.checksum(b, 0, b.length), h, `${name} "${s}"`);
  }
  // Longer than one 16-byte stripe, at an unaligned start: both agree.
  const long = new Uint8Array(1000).map((_, i) => (i * 131) & 0xff);
  for (let start = 0; start < 5; start++) {
    assert.equal(loadWasmFramer().checksum(long, start, 997), xxhash32(long, start, 997));
  }
});

for (const [name, f] of framers) {
  test(`wasm-frame - ${name} frame then decode returns every field as given`, () => {
    const b = sample();
    const entry = f.frame(b);
    assert.equal(f.validate(entry), EntryStatus.OK);
    assert.ok(entry.buffer instanceof ArrayBuffer && !(entry.buffer instanceof SharedArrayBuffer));
    const d = decodeEntry(entry);
    assert.equal(d.length, entry.length);
    assert.equal(d.publishTime, b.publishTime);
    assert.equal(d.baseSequenceId, 40);
    assert.deepEqual(Array.from(d.producerName), Array.from(enc.encode('producer-a')));
    assert.equal(d.count, 3);
    const [m0, m1, m2] = d.messages;
    assert.deepEqual([m0!.index, Buffer.from(m0!.value!).toString(), Buffer.from(m0!.key!).toString(), m0!.properties![0], m0!.eventTime, m0!.deliverAt, m0!.sequenceId],
      [0, 'hello', 'k1', 0x80, 17, undefined, 40]);
    assert.deepEqual([m1!.value, m1!.key!.length, m1!.properties, m1!.eventTime, m1!.deliverAt, m1!.sequenceId],
      [null, 0, null, undefined, 2 ** 53 - 1, 41]);
    assert.deepEqual([m2!.value!.length, m2!.key, m2!.eventTime, m2!.deliverAt, m2!.sequenceId], [0, null, 0, 5, 2 ** 32 + 39]);
    // Views, not copies.
    assert.equal(m0!.value!.buffer, entry.buffer);
    assert.deepEqual([entryLength(entry), entryCount(entry), entryPublishTime(entry), entryBaseSequenceId(entry), entryLastSequenceId(entry)],
      [entry.length, 3, b.publishTime, 40, 2 ** 32 + 39]);
  });

  test(`wasm-frame - ${name} frameColumns of the sample written as columns gives frame's bytes`, () => {
    // Written out by hand (not with toColumns), so toColumns is checked against it too.
    const cols: FrameColumns = {
      publishTime: 1_764_000_000_123,
      producerName: enc.encode('producer-a'),
      count: 3,
      payload: new Uint8Array([...enc.encode('k1'), 0x80, ...enc.encode('hello')]),
      keyLengths: Int32Array.of(2, 0, -1),
      propertiesLengths: Int32Array.of(1, 0, 0),
      valueLengths: Int32Array.of(5, -1, 0),
      sequenceIds: Float64Array.of(40, 41, 2 ** 32 + 39),
      eventTimes: Float64Array.of(17, -1, 0),
      deliverAt: Float64Array.of(-1, 2 ** 53 - 1, 5),
    };
    const entry = f.frameColumns(cols);
    assert.ok(sameBytes(entry, f.frame(sample())));
    assert.deepEqual(toColumns(sample()), cols);
    assert.ok(entry.buffer instanceof ArrayBuffer && !(entry.buffer instanceof SharedArrayBuffer));
  });

  test(`wasm-frame - ${name} frameColumns refuses each bad input with its error code`, () => {
    const ok = (): FrameColumns => ({ ...toColumns(sample()) });
    const code = (c: unknown, max?: number): string | undefined => {
      try {
        f.frameColumns(c as FrameColumns, max);
        return undefined;
      } catch (err) {
        assert.ok(isMillraceError(err), String(err));
        return err.code;
      }
    };
    assert.equal(code(null), 'INVALID_ARGUMENT');
    assert.equal(code({ ...ok(), count: 0 }), 'BATCH_EMPTY');
    assert.equal(code({ ...ok(), count: 4 }), 'INVALID_ARGUMENT'); // columns hold 3
    assert.equal(code({ ...ok(), publishTime: -1 }), 'INVALID_ARGUMENT');
    assert.equal(code({ ...ok(), keyLengths: [2, 0, -1] }), 'INVALID_ARGUMENT');
    assert.equal(code({ ...ok(), keyLengths: Int32Array.of(2, -2, -1) }), 'INVALID_ARGUMENT');
    assert.equal(code({ ...ok(), valueLengths: Int32Array.of(4, -1, 0) }), 'INVALID_ARGUMENT'); // payload 1 byte longer
    assert.equal(code({ ...ok(), eventTimes: Float64Array.of(17, -1, 0.5) }), 'INVALID_ARGUMENT');
    assert.equal(code({ ...ok(), sequenceIds: Float64Array.of(40, 40, 41) }), 'SEQUENCE_INVALID');
    assert.equal(code({ ...ok(), sequenceIds: Float64Array.of(40, 41, 2 ** 32 + 41) }), 'SEQUENCE_INVALID');
    assert.equal(code(ok(), 60), 'ENTRY_TOO_LARGE');
    // The largest key the format holds, with its bytes behind it, and one byte more.
    const one = (keyLen: number): FrameColumns => ({ publishTime: 1, count: 1, payload: new Uint8Array(keyLen), keyLengths: Int32Array.of(keyLen), propertiesLengths: Int32Array.of(0), valueLengths: Int32Array.of(0) });
    assert.equal(code(one(65_535)), undefined);
    assert.equal(code(one(65_536)), 'INVALID_ARGUMENT');
    assert.equal(code(ok()), undefined);
  });

  test(`wasm-frame - ${name} frame of a batch without sequence IDs stores base -1`, () => {
    const entry = f.frame({ publishTime: 0, messages: [{ value: enc.encode('x') }, { value: enc.encode('y') }] });
    assert.equal(f.validate(entry), EntryStatus.OK);
    assert.equal(entryBaseSequenceId(entry), -1);
    assert.equal(entryLastSequenceId(entry), -1);
    assert.deepEqual(decodeEntry(entry).messages.map((m) => m.sequenceId), [undefined, undefined]);
    assert.equal(decodeEntry(entry).producerName.length, 0);
  });

  test(`wasm-frame - ${name} seal of an encodeInto layout equals frame, also in a SharedArrayBuffer slot`, () => {
    const b = sample();
    const framed = f.frame(b);
    const size = encodedSize(b);
    assert.equal(size, framed.length);
    const ring = new Uint8Array(new SharedArrayBuffer(size + 64));
    assert.equal(encodeInto(b, ring, 7), size);
    const slot = ring.subarray(7, 7 + size);
    assert.equal(new DataView(ring.buffer).getUint32(7 + OFF_CHECKSUM, true), 0);
    assert.equal(f.validate(slot), EntryStatus.CHECKSUM_MISMATCH);
    // The partition copies out of the ring (never hand a SAB view to LMDB), then seals the copy.
    const copy = slot.slice();
    assert.equal(f.seal(copy, b.publishTime), EntryStatus.OK);
    assert.ok(sameBytes(copy, framed));
    // Sealing in place in the SAB works too.
    assert.equal(f.seal(slot, b.publishTime), EntryStatus.OK);
    assert.ok(sameBytes(slot, framed));
  });

  test(`wasm-frame - ${name} seal refuses a bad publish time or structure and leaves the entry unchanged`, () => {
    const b = sample();
    const laid = new Uint8Array(encodedSize(b));
    encodeInto(b, laid, 0);
    for (const t of [-1, 1.5, Number.NaN, 2 ** 53, '5' as unknown as number]) {
      const before = laid.slice();
      assert.equal(f.seal(laid, t), EntryStatus.BAD_PUBLISH_TIME, String(t));
      assert.ok(sameBytes(before, laid));
    }
    const bad = laid.slice();
    bad[OFF_VERSION] = 2;
    const before = bad.slice();
    assert.equal(f.seal(bad, 1), EntryStatus.BAD_VERSION);
    assert.ok(sameBytes(before, bad));
    assert.equal(f.seal(new Uint8Array(3), 1), EntryStatus.TOO_SHORT);
  });

  test(`wasm-frame - ${name} validate reports each corruption with its status`, () => {
    const good = f.frame(sample());
    const rec0 = ENTRY_HEADER_SIZE + 10; // after 'producer-a'
    const cases: [string, Uint8Array, number][] = [
      ['short', good.subarray(0, 20), EntryStatus.TOO_SHORT],
      ['truncated', good.subarray(0, good.length - 1), EntryStatus.LENGTH_MISMATCH],
      ['version', resealed(good, (dv) => dv.setUint8(OFF_VERSION, 9)), EntryStatus.BAD_VERSION],
      ['payload bit', (() => { const e = good.slice(); e[e.length - 1]! ^= 1; return e; })(), EntryStatus.CHECKSUM_MISMATCH],
      ['entry flags', resealed(good, (dv) => dv.setUint8(OFF_FLAGS, 1)), EntryStatus.BAD_FLAGS],
      ['publish time', resealed(good, (dv) => dv.setUint32(OFF_PUBLISH_TIME + 4, 0x200000, true)), EntryStatus.FIELD_OUT_OF_RANGE],
      ['base below -1', resealed(good, (dv) => dv.setUint32(OFF_BASE_SEQUENCE + 4, 0xfffffffe, true)), EntryStatus.SEQUENCE_INVALID],
      ['producer length', resealed(good, (dv) => dv.setUint16(12, 0xffff, true)), EntryStatus.TOO_SHORT],
      ['count 0', resealed(good, (dv) => dv.setUint16(10, 0, true)), EntryStatus.COUNT_MISMATCH],
      ['count 2', resealed(good, (dv) => dv.setUint16(10, 2, true)), EntryStatus.COUNT_MISMATCH],
      ['count 4', resealed(good, (dv) => dv.setUint16(10, 4, true)), EntryStatus.RECORD_OUT_OF_BOUNDS],
      ['record size', resealed(good, (dv) => dv.setUint32(rec0, 0xffffff, true)), EntryStatus.RECORD_OUT_OF_BOUNDS],
      ['record small', resealed(good, (dv) => dv.setUint32(rec0, 16, true)), EntryStatus.RECORD_OUT_OF_BOUNDS],
      ['record flags', resealed(good, (dv) => dv.setUint8(rec0 + 4, 0x10 | dv.getUint8(rec0 + 4))), EntryStatus.BAD_FLAGS],
      ['key without flag', resealed(good, (dv) => dv.setUint8(rec0 + 4, dv.getUint8(rec0 + 4) & ~1)), EntryStatus.BAD_FLAGS],
      ['null value with bytes', resealed(good, (dv) => dv.setUint8(rec0 + 4, dv.getUint8(rec0 + 4) | 8)), EntryStatus.BAD_FLAGS],
      ['event time', resealed(good, (dv) => dv.setUint32(rec0 + 16 + 4, 0xffffffff, true)), EntryStatus.FIELD_OUT_OF_RANGE],
      ['first delta', resealed(good, (dv) => dv.setUint32(rec0 + 12, 1, true)), EntryStatus.SEQUENCE_INVALID],
    ];
    for (const [what, e, status] of cases) {
      assert.equal(f.validate(e), status, `${what}: got ${entryStatusMessage(f.validate(e))}`);
    }
    assert.equal(f.validate(good), EntryStatus.OK);
    assert.match(entryStatusMessage(EntryStatus.CHECKSUM_MISMATCH), /checksum/);
  });

  test(`wasm-frame - ${name} frame refuses each bad input with its error code`, () => {
    const v = enc.encode('v');
    const ok = (messages: FrameBatch['messages'], extra: Partial<FrameBatch> = {}): FrameBatch => ({ publishTime: 1, messages, ...extra });
    const cases: [string, () => unknown, string][] = [
      ['empty', () => f.frame(ok([])), 'BATCH_EMPTY'],
      ['mixed seq', () => f.frame(ok([{ value: v, sequenceId: 1 }, { value: v }])), 'SEQUENCE_INVALID'],
      ['missing first seq', () => f.frame(ok([{ value: v }, { value: v, sequenceId: 1 }])), 'SEQUENCE_INVALID'],
      ['equal seq', () => f.frame(ok([{ value: v, sequenceId: 1 }, { value: v, sequenceId: 1 }])), 'SEQUENCE_INVALID'],
      ['negative seq', () => f.frame(ok([{ value: v, sequenceId: -1 }])), 'SEQUENCE_INVALID'],
      ['fractional seq', () => f.frame(ok([{ value: v, sequenceId: 1.5 }])), 'SEQUENCE_INVALID'],
      ['seq span', () => f.frame(ok([{ value: v, sequenceId: 0 }, { value: v, sequenceId: 2 ** 32 }])), 'SEQUENCE_INVALID'],
      ['not a batch', () => f.frame(null as unknown as FrameBatch), 'INVALID_ARGUMENT'],
      ['value undefined', () => f.frame(ok([{} as never])), 'INVALID_ARGUMENT'],
      ['value string', () => f.frame(ok([{ value: 'x' as never }])), 'INVALID_ARGUMENT'],
      ['key too long', () => f.frame(ok([{ value: v, key: new Uint8Array(65536) }])), 'INVALID_ARGUMENT'],
      ['props array', () => f.frame(ok([{ value: v, properties: [1] as never }])), 'INVALID_ARGUMENT'],
      ['event time', () => f.frame(ok([{ value: v, eventTime: -5 }])), 'INVALID_ARGUMENT'],
      ['deliver at', () => f.frame(ok([{ value: v, deliverAt: 2 ** 53 }])), 'INVALID_ARGUMENT'],
      ['publish time', () => f.frame(ok([{ value: v }], { publishTime: -1 })), 'INVALID_ARGUMENT'],
      ['producer name', () => f.frame(ok([{ value: v }], { producerName: 'p' as never })), 'INVALID_ARGUMENT'],
      ['too many', () => f.frame(ok(new Array(65536).fill({ value: v }))), 'INVALID_ARGUMENT'],
      ['max arg', () => f.frame(ok([{ value: v }]), 0), 'INVALID_ARGUMENT'],
      ['over max', () => f.frame(ok([{ value: new Uint8Array(100) }]), 100), 'ENTRY_TOO_LARGE'],
      ['over default', () => f.frame(ok([{ value: new Uint8Array(5 * 1024 * 1024) }])), 'ENTRY_TOO_LARGE'],
    ];
    for (const [what, run, code] of cases) {
      assert.throws(run, (err: unknown) => isMillraceError(err) && err.code === code && err.message.length > 10, what);
    }
    // The same first fault wins in both: a wrong key type before an over-size batch.
    assert.throws(() => f.frame(ok([{ value: new Uint8Array(200) }, { value: v, key: 5 as never }]), 100),
      (err: unknown) => isMillraceError(err, 'INVALID_ARGUMENT'));
    // Exactly at the limit is fine; 65535 messages are fine.
    const one = f.frame(ok([{ value: v }]));
    assert.equal(f.frame(ok([{ value: v }]), one.length).length, one.length);
    assert.equal(entryCount(f.frame(ok(new Array(65535).fill({ value: v })))), 65535);
  });
}

test('wasm-frame - an entry above the WASM region (10 MiB) falls back to the JS reference, same bytes', () => {
  const b: FrameBatch = { publishTime: 9, messages: [{ value: new Uint8Array(11 * 1024 * 1024).fill(7) }] };
  const max = 12 * 1024 * 1024;
  const w = loadWasmFramer();
  const entry = w.frame(b, max);
  assert.ok(sameBytes(entry, jsFramer.frame(b, max)));
  assert.equal(w.validate(entry), EntryStatus.OK);
  assert.equal(w.checksum(entry, 8, entry.length), new DataView(entry.buffer, entry.byteOffset, entry.length).getUint32(OFF_CHECKSUM, true));
});

test('wasm-frame - frameColumns up to the WASM region (10 MiB) moves the payload in place; one byte more falls back, same bytes', () => {
  // The payload is staged at the region's end and moved down, message by message: at exactly the
  // region size the last messages' staged and final bytes overlap, which is the case to get right.
  const REGION = 10 * 1024 * 1024; // wasm/assembly/memory.ts ENTRY_CAP
  const w = loadWasmFramer();
  const max = 12 * 1024 * 1024;
  for (const extra of [0, 1]) {
    const messages = [];
    const count = 160;
    let size = ENTRY_HEADER_SIZE;
    for (let i = 0; i < count; i++) {
      const eventTime = i % 3 === 0 ? 1_764_000_000_000 + i : undefined;
      size += 16 + (eventTime === undefined ? 0 : 8) + 16 + 3;
      messages.push({ value: new Uint8Array(0), key: new Uint8Array(16).fill(i), properties: Uint8Array.of(i, 1, 2), eventTime, sequenceId: 5 + i * 7 });
    }
    // Spread the remaining bytes over the values, with the rest in the last one.
    const rest = REGION + extra - size;
    const each = Math.floor(rest / count);
    messages.forEach((m, i) => { m.value = new Uint8Array(i === count - 1 ? rest - each * (count - 1) : each).map((_, j) => (i * 31 + j * 7) & 0xff); });
    const b: FrameBatch = { publishTime: 77, messages };
    const before = w.referenceFallbacks();
    const entry = w.frameColumns(toColumns(b), max);
    assert.equal(entry.length, REGION + extra);
    assert.equal(w.referenceFallbacks() - before, extra, extra === 0 ? 'an entry of exactly the region size is framed in WASM' : 'a larger one goes to the reference');
    assert.ok(sameBytes(entry, jsFramer.frame(b, max)));
    assert.equal(w.validate(entry), EntryStatus.OK);
  }
});

test('wasm-frame - encodeInto refuses a target too small, a bad offset and a non-Uint8Array', () => {
  const b: FrameBatch = { publishTime: 0, messages: [{ value: enc.encode('abc') }] };
  const size = encodedSize(b);
  assert.throws(() => encodeInto(b, new Uint8Array(size - 1), 0), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => encodeInto(b, new Uint8Array(size), 1), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => encodeInto(b, new Uint8Array(size), -1), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => encodeInto(b, [] as never, 0), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  // publishTime is the partition's: encodeInto ignores it and writes 0.
  const t = new Uint8Array(size);
  encodeInto({ ...b, publishTime: -1 }, t, 0);
  assert.equal(entryPublishTime(t), 0);
});

test('wasm-frame - decodeEntry refuses a walk out of bounds with ENTRY_CORRUPT', () => {
  const good = jsFramer.frame({ publishTime: 0, messages: [{ value: enc.encode('abc') }] });
  const bad = good.slice();
  new DataView(bad.buffer).setUint32(ENTRY_HEADER_SIZE, 1000, true);
  assert.throws(() => decodeEntry(bad), (e: unknown) => isMillraceError(e, 'ENTRY_CORRUPT'));
  assert.throws(() => decodeEntry(good.subarray(0, 10)), (e: unknown) => isMillraceError(e, 'ENTRY_CORRUPT'));
});

test('wasm-frame - each worker thread gets its own WASM instance that frames identically', async () => {
  const url = new URL('../wasm/index.js', import.meta.url).href;
  const code = `
    const { parentPort } = require('node:worker_threads');
    import(${JSON.stringify(url)}).then((w) => {
      const f = w.loadWasmFramer();
      const e = f.frame({ publishTime: 5, producerName: new TextEncoder().encode('w'),
        messages: [{ value: new Uint8Array([1, 2, 3]), key: new Uint8Array([9]), sequenceId: 3 }] });
      parentPort.postMessage({ entry: e, status: f.validate(e) });
    });`;
  const worker = new Worker(code, { eval: true });
  const msg = await new Promise<{ entry: Uint8Array; status: number }>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  await worker.terminate();
  assert.equal(msg.status, EntryStatus.OK);
  const here = loadWasmFramer().frame({ publishTime: 5, producerName: enc.encode('w'),
    messages: [{ value: new Uint8Array([1, 2, 3]), key: new Uint8Array([9]), sequenceId: 3 }] });
  assert.ok(sameBytes(msg.entry, here));
});
