import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDispatcher, type MessageRef } from '../core/dispatch/index.js';
import { RefMap } from '../core/dispatch/ref-map.js';
import { msg } from './dispatch-helpers.js';

const ref = (ledgerId: number, entryId: number, batchIndex: number): MessageRef => ({ position: { ledgerId, entryId }, batchIndex, key: null });

test('dispatch - ref map - keys by (ledger, entry, batch index) of any safe size, sparse indexes, removal', () => {
  const m = new RefMap<string>();
  const big = Number.MAX_SAFE_INTEGER;
  m.set(ref(big, big, 65535), 'far');
  m.set(ref(1, 2, 3), 'a');
  m.set(ref(1, 2, 0), 'b');
  m.set(ref(2, 2, 3), 'c');
  assert.equal(m.size, 4);
  assert.equal(m.get(ref(big, big, 65535)), 'far');
  assert.equal(m.get(ref(big, big - 1, 65535)), undefined);
  assert.equal(m.get(ref(1, 2, 3)), 'a');
  assert.equal(m.get(ref(1, 2, 1)), undefined);
  assert.equal(m.get(ref(2, 2, 3)), 'c');
  m.set(ref(1, 2, 3), 'a2');
  assert.equal(m.size, 4, 'replacing a value keeps the count');
  assert.equal(m.delete(ref(1, 2, 3)), true);
  assert.equal(m.delete(ref(1, 2, 3)), false);
  assert.equal(m.get(ref(1, 2, 0)), 'b');
  assert.equal(m.delete(ref(1, 2, 0)), true);
  assert.equal(m.get(ref(1, 2, 0)), undefined, 'an emptied entry and ledger are gone');
  m.set(ref(1, 2, 0), 'again');
  assert.equal(m.get(ref(1, 2, 0)), 'again');
  assert.deepEqual([...m.values()].sort(), ['again', 'c', 'far']);
});

for (const type of ['shared', 'exclusive', 'failover'] as const) {
  test(`dispatch - capacity - ${type} assigns exactly the first capacity() offers and holds the rest`, () => {
    const d = createDispatcher(type);
    d.addConsumer({ id: 1, name: 'a', priority: 0 });
    if (type !== 'exclusive') d.addConsumer({ id: 2, name: 'b', priority: 1 });
    assert.equal(d.capacity(), 0);
    d.addPermits(1, 3);
    if (type === 'shared') d.addPermits(2, 2);
    const cap = d.capacity();
    assert.equal(cap, type === 'shared' ? 5 : 3);
    const offers = [...Array(8).keys()].map((e) => msg(e));
    const r = d.dispatch(offers);
    const assigned = [...r.assigned.values()].flat().map((m) => m.position.entryId).sort((a, b) => a - b);
    assert.deepEqual(assigned, [...Array(cap).keys()]);
    assert.deepEqual(r.held.map((m) => m.position.entryId), [...Array(8).keys()].slice(cap));
    assert.equal(d.capacity(), 0);
  });
}

test('dispatch - capacity - failover is 0 while a switch drains, whatever the new active consumer was granted', () => {
  const d = createDispatcher('failover');
  d.addConsumer({ id: 2, name: 'b', priority: 0 });
  d.addPermits(2, 5);
  d.dispatch([msg(0)]);
  d.addConsumer({ id: 1, name: 'a', priority: 0 }); // sorts first: takes over, but b still holds msg 0
  d.addPermits(1, 5);
  assert.equal(d.activeConsumer(), 1);
  assert.equal(d.capacity(), 0);
  assert.equal(d.dispatch([msg(1)]).held.length, 1);
  d.onAck(2, msg(0));
  assert.equal(d.capacity(), 5);
});

test('dispatch - capacity - key_shared is an upper bound: the permits of every consumer', () => {
  const d = createDispatcher('key_shared');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addConsumer({ id: 2, name: 'b', priority: 0 });
  d.addPermits(1, 2);
  d.addPermits(2, 3);
  assert.equal(d.capacity(), 5);
});

test('dispatch - offers - a message offered twice in one call is refused whatever the order of the offer', () => {
  const d = createDispatcher('shared');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addPermits(1, 10);
  assert.throws(() => d.dispatch([msg(2), msg(1), msg(2)]), /offered twice/);
  assert.equal(d.pending(1).length, 0, 'a refused call assigns nothing');
  d.dispatch([msg(1)]);
  assert.throws(() => d.dispatch([msg(1)]), /already held by consumer 1/);
});
