import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMillraceError } from '../core/errors.js';
import {
  HashRing, KeySharedDispatcher, createDispatcher, murmur3_32, murmur3_32Latin1, stickyKeyHash,
} from '../core/dispatch/index.js';
import { ids, keysOwnedBy, msg, summary } from './dispatch-helpers.js';

const enc = new TextEncoder();

test('dispatch - key_shared - keys hash with Murmur3-32 (reference vectors)', () => {
  assert.equal(murmur3_32(new Uint8Array(0)), 0);
  assert.equal(murmur3_32(new Uint8Array(0), 0, 1), 0x514e28b7);
  assert.equal(murmur3_32(enc.encode('hello')), 0x248bfa47);
  assert.equal(murmur3_32(enc.encode('The quick brown fox jumps over the lazy dog')), 0x2e4ff723);
  assert.equal(murmur3_32Latin1('\u00ff\u0000\u0080'), murmur3_32(Uint8Array.of(0xff, 0, 0x80)), 'latin1: one char per byte');
  assert.equal(stickyKeyHash(null, 65536), stickyKeyHash('', 65536));
  assert.throws(() => murmur3_32Latin1('\u0100'), (e) => isMillraceError(e, 'INVALID_ARGUMENT'));
});

test('dispatch - key_shared - a key always goes to the same consumer while membership is stable', () => {
  const d = createDispatcher('key_shared');
  for (const id of [1, 2, 3]) {
    d.addConsumer({ id, name: `c${id}`, priority: 0 });
    d.addPermits(id, 1000);
  }
  const seen = new Map<string, number>();
  for (let round = 0; round < 5; round++) {
    const r = d.dispatch([...Array(60).keys()].map((i) => msg(round * 60 + i, `key-${i % 20}`)));
    assert.deepEqual(r.held, []);
    for (const [c, ms] of r.assigned) {
      for (const m of ms) {
        assert.equal(seen.get(m.key!) ?? c, c, `key ${m.key} moved between consumers`);
        seen.set(m.key!, c);
      }
      for (const m of ms) d.onAck(c, m);
    }
  }
  assert.equal(new Set(seen.values()).size, 3, '20 keys spread over all three consumers');
});

test('dispatch - key_shared - messages without a key hash as the empty key', () => {
  const d = createDispatcher('key_shared') as KeySharedDispatcher;
  for (const id of [1, 2, 3]) {
    d.addConsumer({ id, name: `c${id}`, priority: 0 });
    d.addPermits(id, 10);
  }
  const owner = d.ownerOf('');
  const r = d.dispatch([msg(0, null), msg(1, ''), msg(2, null)]);
  assert.deepEqual(summary(r), { [`c${owner}`]: [0, 1, 2], held: [] });
});

test('dispatch - key_shared - the ring is deterministic, spreads hashes and a join moves hashes only to the joiner', () => {
  const slots = [1, 2, 3].map((id) => ({ id, name: `consumer-${id}`, priority: 0 }));
  const a = new HashRing(slots, 65536);
  const b = new HashRing([...slots].reverse(), 65536);
  assert.ok(a.size > 290 && a.size <= 300, `about 100 points each, got ${a.size}`);
  const share = new Map<number, number>();
  for (let h = 0; h < 65536; h++) {
    const o = a.owner(h)!;
    assert.equal(b.owner(h), o, 'independent of insertion order');
    share.set(o, (share.get(o) ?? 0) + 1);
  }
  for (const [id, n] of share) assert.ok(n > 65536 * 0.2 && n < 65536 * 0.47, `consumer ${id} owns ${n} of 65536 hashes`);
  const c = new HashRing([...slots, { id: 4, name: 'consumer-4', priority: 0 }], 65536);
  let moved = 0;
  for (let h = 0; h < 65536; h++) {
    if (c.owner(h) !== a.owner(h)) {
      assert.equal(c.owner(h), 4, `hash ${h} moved between two old consumers`);
      moved++;
    }
  }
  assert.ok(moved > 65536 * 0.1 && moved < 65536 * 0.4, `the joiner takes about a quarter, took ${moved}`);
  // Consumers sharing a name share points and split them instead of one taking all.
  const twins = new HashRing([{ id: 1, name: 'same', priority: 0 }, { id: 2, name: 'same', priority: 0 }], 65536);
  const twinShare = new Set<number>();
  for (let h = 0; h < 65536; h += 97) twinShare.add(twins.owner(h)!);
  assert.deepEqual([...twinShare].sort(), [1, 2]);
});

test('dispatch - key_shared - a joining consumer gets a key only after earlier messages of that key are acked', () => {
  const d = createDispatcher('key_shared') as KeySharedDispatcher;
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addPermits(1, 100);
  const keys = [...Array(40).keys()].map((i) => `k${i}`);
  d.dispatch(keys.map((k, i) => msg(i, k)));
  d.addConsumer({ id: 2, name: 'c2', priority: 0 });
  d.addPermits(2, 100);
  const moved = keys.filter((k) => d.ownerOf(k) === 2);
  const stayed = keys.filter((k) => d.ownerOf(k) === 1);
  assert.ok(moved.length > 0 && stayed.length > 0);
  const [km] = moved;
  const [ks] = stayed;
  assert.ok(d.drainingHashes().includes(d.hashOf(km!)));
  // km's next message is held: c1 still holds km's first one. ks keeps flowing to c1.
  const r = d.dispatch([msg(100, km!), msg(101, ks!), msg(102, km!)]);
  assert.deepEqual(summary(r), { c1: [101], held: [100, 102] });
  // c1 acks km's earlier message: the hash has drained and km now goes to c2, in order.
  d.onAck(1, msg(keys.indexOf(km!), km!));
  assert.ok(!d.drainingHashes().includes(d.hashOf(km!)));
  assert.deepEqual(summary(d.dispatch(r.held)), { c2: [100, 102], held: [] });
});

test('dispatch - key_shared - a released message also ends the draining of its key, and goes to the new owner first', () => {
  const d = createDispatcher('key_shared') as KeySharedDispatcher;
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addPermits(1, 100);
  d.addConsumer({ id: 2, name: 'c2', priority: 0 });
  const [k] = keysOwnedBy(d, 2, 1);
  d.removeConsumer(2);
  d.dispatch([msg(0, k!), msg(1, k!)]);
  d.addConsumer({ id: 2, name: 'c2', priority: 0 });
  d.addPermits(2, 100);
  assert.deepEqual(summary(d.dispatch([msg(2, k!)])), { held: [2] }, 'draining');
  const back = d.release(1, [msg(1, k!), msg(0, k!)]);
  assert.deepEqual(ids(back), [0, 1]);
  assert.deepEqual(summary(d.dispatch([msg(2, k!)])), { held: [2] }, 'earlier messages of k wait for redelivery');
  assert.deepEqual(summary(d.dispatch([...back, msg(2, k!)])), { c2: [0, 1, 2], held: [] });
});

test('dispatch - key_shared - a leaving consumer\'s messages go out before later messages of the same key', () => {
  const d = createDispatcher('key_shared') as KeySharedDispatcher;
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addConsumer({ id: 2, name: 'c2', priority: 0 });
  d.addPermits(1, 100);
  d.addPermits(2, 100);
  const [k] = keysOwnedBy(d, 2, 1);
  d.dispatch([msg(0, k!), msg(1, k!)]);
  const back = d.removeConsumer(2);
  assert.deepEqual(ids(back), [0, 1]);
  assert.equal(d.ownerOf(k!), 1);
  // The caller offers a new message before the (delayed) redelivery: it must wait.
  assert.deepEqual(summary(d.dispatch([msg(2, k!)])), { held: [2] });
  // Offering the redelivery alone, out of reach of permits, still keeps the later one back.
  assert.deepEqual(summary(d.dispatch([back[1]!, msg(2, k!)])), { held: [1, 2] }, 'message 0 must go first');
  assert.deepEqual(summary(d.dispatch([...back, msg(2, k!)])), { c1: [0, 1, 2], held: [] });
});

test('dispatch - key_shared - a nacked message is redelivered before later messages of its key, other keys flow', () => {
  const d = createDispatcher('key_shared') as KeySharedDispatcher;
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addPermits(1, 100);
  d.dispatch([msg(0, 'a'), msg(1, 'b')]);
  const back = d.release(1, [msg(0, 'a')]);
  assert.deepEqual(summary(d.dispatch([msg(2, 'a'), msg(3, 'b')])), { c1: [3], held: [2] });
  assert.deepEqual(summary(d.dispatch([...back, msg(2, 'a')])), { c1: [0, 2], held: [] });
});

test('dispatch - key_shared - a message dead-lettered while waiting for redelivery unblocks its key via onAck', () => {
  const d = createDispatcher('key_shared');
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addPermits(1, 100);
  d.dispatch([msg(0, 'a')]);
  d.release(1, [msg(0, 'a')]);
  assert.deepEqual(summary(d.dispatch([msg(1, 'a')])), { held: [1] });
  d.onAck(1, msg(0, 'a')); // the caller sent it to the DLQ instead of redelivering
  assert.deepEqual(summary(d.dispatch([msg(1, 'a')])), { c1: [1], held: [] });
});

test('dispatch - key_shared - without permits at the owner a key waits and other keys go on', () => {
  const d = createDispatcher('key_shared') as KeySharedDispatcher;
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addConsumer({ id: 2, name: 'c2', priority: 0 });
  const [k1] = keysOwnedBy(d, 1, 1);
  const [k2] = keysOwnedBy(d, 2, 1);
  d.addPermits(2, 5);
  assert.deepEqual(summary(d.dispatch([msg(0, k1!), msg(1, k2!), msg(2, k1!), msg(3, k2!)])), { c2: [1, 3], held: [0, 2] });
});

test('dispatch - key_shared - cumulative ack is refused with ACK_INVALID', () => {
  const d = createDispatcher('key_shared');
  d.addConsumer({ id: 1, name: 'c1', priority: 0 });
  d.addPermits(1, 1);
  d.dispatch([msg(0, 'a')]);
  assert.throws(() => d.onAckCumulative(1, msg(0, 'a')), (e) => isMillraceError(e, 'ACK_INVALID'));
  assert.throws(() => d.dispatch([msg(1, '\u2603')]), (e) => isMillraceError(e, 'INVALID_ARGUMENT'), 'keys are latin1');
});
