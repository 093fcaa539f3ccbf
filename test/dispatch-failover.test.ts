import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMillraceError } from '../core/errors.js';
import { createDispatcher, type ConsumerSlot } from '../core/dispatch/index.js';
import { ids, msg, summary } from './dispatch-helpers.js';

const slot = (id: number, name: string, priority = 0): ConsumerSlot => ({ id, name, priority });

test('dispatch - failover - the active consumer has the lowest priority value, then the first name', () => {
  const d = createDispatcher('failover');
  d.addConsumer(slot(1, 'charlie'));
  assert.equal(d.activeConsumer(), 1);
  d.addConsumer(slot(2, 'bravo'));
  assert.equal(d.activeConsumer(), 2, 'bravo sorts before charlie');
  d.addConsumer(slot(3, 'alpha', 1));
  assert.equal(d.activeConsumer(), 2, 'alpha is first by name but at a lower priority level');
  d.addConsumer(slot(4, 'zulu', 0));
  assert.equal(d.activeConsumer(), 2);
  d.removeConsumer(2);
  assert.equal(d.activeConsumer(), 1);
  d.removeConsumer(1);
  d.removeConsumer(4);
  assert.equal(d.activeConsumer(), 3, 'lower levels are standby until every higher one is gone');
});

test('dispatch - failover - partition i is served by sorted consumer i % n of the highest priority level (Pulsar)', () => {
  // Pulsar's documented example: 9 partitions, consumers A, B, C -> A gets P0, P3, P6; B P1, P4, P7; C P2, P5, P8.
  const names = ['C', 'A', 'B'];
  const active = (p: number, extra: ConsumerSlot[] = []): string => {
    const d = createDispatcher('failover', { partitionIndex: p });
    names.forEach((n, i) => d.addConsumer(slot(i + 1, n)));
    extra.forEach((s) => d.addConsumer(s));
    return d.consumers().find((c) => c.id === d.activeConsumer())!.name;
  };
  assert.deepEqual([...Array(9).keys()].map((p) => active(p)), ['A', 'B', 'C', 'A', 'B', 'C', 'A', 'B', 'C']);
  // A lower priority level does not take part in the spread.
  assert.deepEqual([...Array(4).keys()].map((p) => active(p, [slot(9, 'D', 1)])), ['A', 'B', 'C', 'A']);
  // 2 partitions, 4 consumers: P0 -> A, P1 -> B (the rest stand by).
  const d = createDispatcher('failover', { partitionIndex: 1 });
  for (const [i, n] of ['D', 'C', 'B', 'A'].entries()) d.addConsumer(slot(i + 1, n));
  assert.equal(d.activeConsumer(), 3);
});

test('dispatch - failover - standby consumers get nothing, even with permits', () => {
  const d = createDispatcher('failover');
  d.addConsumer(slot(1, 'a'));
  d.addConsumer(slot(2, 'b'));
  d.addPermits(2, 10);
  assert.deepEqual(summary(d.dispatch([msg(0), msg(1)])), { held: [0, 1] }, 'the active one has no permits');
  d.addPermits(1, 10);
  assert.deepEqual(summary(d.dispatch([msg(0), msg(1)])), { c1: [0, 1], held: [] });
});

test('dispatch - failover - when the active consumer leaves the next takes over from its unacked messages', () => {
  const d = createDispatcher('failover');
  d.addConsumer(slot(1, 'a'));
  d.addConsumer(slot(2, 'b'));
  d.addPermits(1, 10);
  d.addPermits(2, 10);
  d.dispatch([msg(0), msg(1), msg(2), msg(3)]);
  d.onAck(1, msg(0));
  d.onAck(1, msg(2));
  const back = d.removeConsumer(1);
  assert.deepEqual(ids(back), [1, 3]);
  assert.equal(d.activeConsumer(), 2);
  // The caller merges the returned messages before new reads.
  assert.deepEqual(summary(d.dispatch([...back, msg(4), msg(5)])), { c2: [1, 3, 4, 5], held: [] });
});

test('dispatch - failover - a joining consumer that becomes active gets messages only after the old active holds nothing', () => {
  const d = createDispatcher('failover');
  d.addConsumer(slot(1, 'b'));
  d.addPermits(1, 10);
  d.dispatch([msg(0), msg(1), msg(2)]);
  d.addConsumer(slot(2, 'a')); // sorts first: takes over
  d.addPermits(2, 10);
  assert.equal(d.activeConsumer(), 2);
  // Draining: the old active still holds 0..2, so nobody gets 3 (and the old one gets nothing more).
  assert.deepEqual(summary(d.dispatch([msg(3)])), { held: [3] });
  d.onAck(1, msg(0));
  assert.deepEqual(summary(d.dispatch([msg(3)])), { held: [3] });
  // Its ack timeout fires: the rest come back and go, in log order, to the new active consumer.
  const back = d.release(1, d.pending(1));
  assert.deepEqual(ids(back), [1, 2]);
  assert.deepEqual(summary(d.dispatch([...back, msg(3)])), { c2: [1, 2, 3], held: [] });
  assert.deepEqual(d.pending(1), []);
  // The old active consumer may still ack late; the message moved, and the ack is honoured once.
  d.onAck(1, msg(1));
  assert.deepEqual(ids(d.pending(2)), [2, 3]);
});

test('dispatch - failover - cumulative ack is allowed and covers only the acking consumer', () => {
  const d = createDispatcher('failover');
  d.addConsumer(slot(1, 'a'));
  d.addPermits(1, 10);
  d.dispatch([msg(0), msg(1), msg(2)]);
  d.onAckCumulative(1, msg(1));
  assert.deepEqual(ids(d.pending(1)), [2]);
  assert.throws(() => d.onAckCumulative(5, msg(1)), (e) => isMillraceError(e, 'ACK_INVALID'));
});
