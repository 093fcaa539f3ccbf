import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageId, compareMessageIds } from '../core/topic/index.js';
import { isMillraceError } from '../core/errors.js';
import { testSeed, runs } from './util/seed.js';

const invalidArg = (e: unknown): boolean => isMillraceError(e, 'INVALID_ARGUMENT');

// Small ranges make equal fields (and so the later tie-breaks) common; large ones cover the bounds.
const idField = fc.oneof(fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }));
const smallField = fc.oneof(fc.integer({ min: -1, max: 3 }), fc.integer({ min: -1, max: 2 ** 31 - 1 }));
const messageId = fc.tuple(idField, idField, smallField, smallField).map(([l, e, p, b]) => new MessageId(l, e, p, b));

function tupleCompare(a: MessageId, b: MessageId): number {
  const ta = [a.ledgerId, a.entryId, a.batchIndex];
  const tb = [b.ledgerId, b.entryId, b.batchIndex];
  for (let i = 0; i < 3; i++) if (ta[i] !== tb[i]) return ta[i]! < tb[i]! ? -1 : 1;
  return 0;
}

test('message id - toString is ledger:entry:partition:batch and fromString reads it back', () => {
  const id = new MessageId(12, 0, -1, 3);
  assert.equal(id.toString(), '12:0:-1:3');
  assert.ok(MessageId.fromString('12:0:-1:3').equals(id));
  assert.equal(new MessageId(5, 6).toString(), '5:6:-1:-1');
});

test('message id - fromString rejects anything but four canonical integers, naming the form', () => {
  for (const bad of ['', '1:2:3', '1:2:3:4:5', '1:2:3:x', ' 1:2:3:4', '1:2:3:4 ', '01:2:3:4', '+1:2:3:4', '-2:0:0:0', '1.5:2:3:4',
    '1:2:2147483648:0', '9007199254740992:0:0:0', '1e3:0:0:0', '1::3:4', '-0:0:0:0']) {
    assert.throws(() => MessageId.fromString(bad), (e: unknown) => {
      assert.ok(invalidArg(e), bad);
      return true;
    });
  }
  assert.throws(() => MessageId.fromString('nope'), /ledger:entry:partition:batch/);
});

test('message id - the constructor rejects fields out of range', () => {
  const cases: [number, number, number, number][] = [[-2, 0, 0, 0], [0, 1.5, 0, 0], [0, 0, 2 ** 31, 0], [0, 0, 0, -2], [NaN, 0, 0, 0], [2 ** 53, 0, 0, 0]];
  for (const [l, e, p, b] of cases) {
    assert.throws(() => new MessageId(l, e, p, b), invalidArg, [l, e, p, b].join(','));
  }
});

test('message id - ids order by ledger, then entry, then batch index', () => {
  const ids = ['2:0:1:-1', '1:5:1:2', '1:5:1:-1', '1:5:1:0', '1:4:1:9', '0:9:1:9'].map((s) => MessageId.fromString(s));
  ids.sort(compareMessageIds);
  assert.deepEqual(ids.map(String), ['0:9:1:9', '1:4:1:9', '1:5:1:-1', '1:5:1:0', '1:5:1:2', '2:0:1:-1']);
  assert.equal(new MessageId(1, 1, 0, 0).compare(new MessageId(1, 1, 0, 0)), 0);
});

test('message id - comparing ids of different partitions throws INVALID_ARGUMENT', () => {
  const a = new MessageId(1, 1, 0, -1);
  const b = new MessageId(1, 1, 1, -1);
  assert.throws(() => a.compare(b), (e: unknown) => invalidArg(e) && /different partitions/.test((e as Error).message));
  assert.throws(() => compareMessageIds(new MessageId(1, 1, -1, -1), b), invalidArg);
  assert.equal(a.equals(b), false);
});

test('message id - earliest compares below and latest above every id of every partition', () => {
  const { earliest, latest } = MessageId;
  for (const id of [new MessageId(0, 0, 0, -1), new MessageId(-1, -1, 5, -1), new MessageId(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 3, 7)]) {
    assert.ok(earliest.compare(id) < 0 && id.compare(earliest) > 0);
    assert.ok(latest.compare(id) > 0 && id.compare(latest) < 0);
  }
  assert.ok(earliest.compare(latest) < 0);
  assert.equal(earliest.compare(earliest), 0);
  assert.equal(latest.compare(latest), 0);
});

test('message id - earliest and latest are Pulsar\'s and round-trip through strings and bytes', () => {
  assert.equal(MessageId.earliest.toString(), '-1:-1:-1:-1');
  assert.equal(MessageId.latest.toString(), `${Number.MAX_SAFE_INTEGER}:${Number.MAX_SAFE_INTEGER}:-1:-1`);
  assert.equal(MessageId.fromString(MessageId.earliest.toString()), MessageId.earliest);
  assert.equal(MessageId.fromString(MessageId.latest.toString()), MessageId.latest);
  assert.equal(MessageId.fromString('9223372036854775807:9223372036854775807:-1:-1'), MessageId.latest);
  assert.equal(MessageId.fromBytes(MessageId.earliest.toBytes()), MessageId.earliest);
  assert.equal(MessageId.fromBytes(MessageId.latest.toBytes()), MessageId.latest);
  const pulsarLatest = new Uint8Array(24);
  const v = new DataView(pulsarLatest.buffer);
  v.setBigInt64(0, 2n ** 63n - 1n, true);
  v.setBigInt64(8, 2n ** 63n - 1n, true);
  v.setInt32(16, -1, true);
  v.setInt32(20, -1, true);
  assert.equal(MessageId.fromBytes(pulsarLatest), MessageId.latest);
});

test('message id - toBytes is 24 bytes, little-endian i64 ledger, i64 entry, i32 partition, i32 batch', () => {
  const b = new MessageId(0x0102030405, 7, 2, -1).toBytes();
  assert.equal(b.byteLength, 24);
  assert.deepEqual([...b], [5, 4, 3, 2, 1, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 255, 255, 255, 255]);
});

test('message id - fromBytes rejects another length or an out-of-range ledger', () => {
  assert.throws(() => MessageId.fromBytes(new Uint8Array(23)), /exactly 24 bytes/);
  assert.throws(() => MessageId.fromBytes(new Uint8Array(25)), invalidArg);
  const big = new Uint8Array(24);
  new DataView(big.buffer).setBigInt64(0, 2n ** 53n, true);
  assert.throws(() => MessageId.fromBytes(big), invalidArg);
  const neg = new Uint8Array(24);
  new DataView(neg.buffer).setBigInt64(8, -2n, true);
  assert.throws(() => MessageId.fromBytes(neg), invalidArg);
  // A view into a larger buffer reads from its own offset.
  const host = new Uint8Array(40);
  host.set(new MessageId(9, 8, 7, 6).toBytes(), 8);
  assert.equal(MessageId.fromBytes(host.subarray(8, 32)).toString(), '9:8:7:6');
});

test('message id - property: toString/fromString and toBytes/fromBytes round-trip every id', () => {
  fc.assert(
    fc.property(messageId, (id) => {
      assert.ok(MessageId.fromString(id.toString()).equals(id));
      assert.ok(MessageId.fromBytes(id.toBytes()).equals(id));
    }),
    { seed: testSeed(0x1d), numRuns: runs(1000, 50_000) },
  );
});

test('message id - property: compare agrees with the (ledger, entry, batch) tuple order within a partition and is antisymmetric', () => {
  fc.assert(
    fc.property(messageId, messageId, (a0, b0) => {
      // Put both on one partition (earliest/latest by value are sentinels, whose rule is tested apart).
      const a = new MessageId(a0.ledgerId, a0.entryId, a0.partition, a0.batchIndex);
      const b = new MessageId(b0.ledgerId, b0.entryId, a0.partition, b0.batchIndex);
      if (a.isEarliest || a.isLatest || b.isEarliest || b.isLatest) return;
      assert.equal(Math.sign(a.compare(b)), tupleCompare(a, b));
      assert.equal(Math.sign(a.compare(b)) + Math.sign(b.compare(a)), 0, 'antisymmetric');
      assert.equal(a.compare(b) === 0, a.equals(b));
    }),
    { seed: testSeed(0xc0de), numRuns: runs(1000, 50_000) },
  );
});

test('message id - property: ids of different partitions never compare, unless one is a sentinel', () => {
  fc.assert(
    fc.property(messageId, messageId, (a, b) => {
      const sentinel = a.isEarliest || a.isLatest || b.isEarliest || b.isLatest;
      if (a.partition === b.partition || sentinel) {
        assert.doesNotThrow(() => a.compare(b));
      } else {
        assert.throws(() => a.compare(b), invalidArg);
      }
    }),
    { seed: testSeed(0x9a27), numRuns: runs(1000, 50_000) },
  );
});
