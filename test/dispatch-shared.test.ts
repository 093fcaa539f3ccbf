import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMillraceError } from '../core/errors.js';
import { createDispatcher } from '../core/dispatch/index.js';
import { ids, msg, summary } from './dispatch-helpers.js';
import type { MessageRef } from '../core/dispatch/index.js';

test('dispatch - shared - round-robin over consumers with permits, priority levels in order (Pulsar example)', () => {
  // AbstractDispatcherMultipleConsumers: C1..C3 at level 0 with 2, 1, 1 permits, C4, C5 at level 1 with
  // 2, 1 -> C1, C2, C3, C1, C4, C5, C4.
  const d = createDispatcher('shared');
  const permits = [2, 1, 1, 2, 1];
  permits.forEach((p, i) => {
    d.addConsumer({ id: i + 1, name: `C${i + 1}`, priority: i < 3 ? 0 : 1 });
    d.addPermits(i + 1, p);
  });
  const order: number[] = [];
  for (let e = 0; e < 8; e++) {
    const r = d.dispatch([msg(e)]);
    for (const [c] of r.assigned) order.push(c);
    if (r.held.length) order.push(0);
  }
  assert.deepEqual(order, [1, 2, 3, 1, 4, 5, 4, 0]);
});

test('dispatch - shared - within one call messages alternate between consumers', () => {
  const d = createDispatcher('shared');
  for (const id of [1, 2, 3]) {
    d.addConsumer({ id, name: `c${id}`, priority: 0 });
    d.addPermits(id, 2);
  }
  assert.deepEqual(summary(d.dispatch([0, 1, 2, 3, 4, 5, 6].map((e) => msg(e)))),
    { c1: [0, 3], c2: [1, 4], c3: [2, 5], held: [6] });
});

test('dispatch - shared - a turn is an entry: its messages go to one consumer while it has permits', () => {
  // As Pulsar hands out whole entries: a batch is not dealt message by message over the consumers.
  const d = createDispatcher('shared');
  for (const id of [1, 2, 3]) d.addConsumer({ id, name: `c${id}`, priority: 0 });
  d.addPermits(1, 3);
  d.addPermits(2, 10);
  d.addPermits(3, 10);
  const batch = (entryId: number, n: number): MessageRef[] => Array.from({ length: n }, (_, i) => ({ position: { ledgerId: 1, entryId }, batchIndex: i, key: null }));
  const r = d.dispatch([...batch(0, 5), ...batch(1, 4), ...batch(2, 2)]);
  const got = (c: number): string[] => (r.assigned.get(c) ?? []).map((m) => `${m.position.entryId}:${m.batchIndex}`);
  // c1's permits run out three messages into entry 0: the rest goes to the next in turn, and the
  // next entry to the one after it.
  assert.deepEqual(got(1), ['0:0', '0:1', '0:2']);
  assert.deepEqual(got(2), ['0:3', '0:4', '2:0', '2:1']);
  assert.deepEqual(got(3), ['1:0', '1:1', '1:2', '1:3']);
  assert.deepEqual(r.held, []);
  // The next call's entry goes to the next in turn after c2: c3 (c1 has one permit, and its turn
  // comes after c3's).
  d.addPermits(1, 1);
  const r2 = d.dispatch(batch(3, 3));
  assert.deepEqual([...r2.assigned.keys()], [3]);
  assert.equal(r2.assigned.get(3)!.length, 3);
});

test('dispatch - shared - each message goes to one consumer at a time; a released message may go to another', () => {
  const d = createDispatcher('shared');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addConsumer({ id: 2, name: 'b', priority: 0 });
  d.addPermits(1, 1);
  d.dispatch([msg(0)]);
  assert.deepEqual(ids(d.pending(1)), [0]);
  assert.throws(() => d.dispatch([msg(0)]), (e) => isMillraceError(e, 'INVALID_ARGUMENT'), 'already held');
  d.addPermits(2, 1);
  const back = d.release(1, [msg(0), msg(9)]);
  assert.deepEqual(ids(back), [0], 'a message the consumer does not hold is skipped');
  assert.deepEqual(summary(d.dispatch(back)), { c2: [0], held: [] });
  assert.deepEqual(d.pending(1), []);
});

test('dispatch - shared - cumulative ack is refused with ACK_INVALID', () => {
  const d = createDispatcher('shared');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addPermits(1, 1);
  d.dispatch([msg(0)]);
  assert.throws(() => d.onAckCumulative(1, msg(0)), (e) => isMillraceError(e, 'ACK_INVALID'));
  assert.deepEqual(ids(d.pending(1)), [0]);
  assert.equal(d.activeConsumer(), undefined);
});

test('dispatch - shared - a leaving consumer\'s messages come back for the others', () => {
  const d = createDispatcher('shared');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addConsumer({ id: 2, name: 'b', priority: 0 });
  d.addPermits(1, 5);
  d.addPermits(2, 5);
  d.dispatch([0, 1, 2, 3].map((e) => msg(e)));
  const back = d.removeConsumer(1);
  assert.deepEqual(ids(back), [0, 2]);
  assert.deepEqual(summary(d.dispatch(back)), { c2: [0, 2], held: [] });
  // A message given back and then dead-lettered by the caller is reported with onAck.
  d.release(2, [msg(3)]);
  d.onAck(2, msg(3));
  assert.throws(() => d.onAck(2, msg(3)), (e) => isMillraceError(e, 'ACK_INVALID'));
});
