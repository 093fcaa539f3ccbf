import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isMillraceError } from '../core/errors.js';
import { checkSubscriptionType, createDispatcher } from '../core/dispatch/index.js';
import { ids, msg, summary } from './dispatch-helpers.js';

test('dispatch - exclusive - a second consumer is refused with CONSUMER_BUSY', () => {
  const d = createDispatcher('exclusive');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  assert.throws(() => d.addConsumer({ id: 2, name: 'b', priority: 0 }), (e) => isMillraceError(e, 'CONSUMER_BUSY'));
  assert.equal(d.activeConsumer(), 1);
  assert.deepEqual(d.consumers().map((c) => c.id), [1]);
  // Once the first one leaves, another may take its place.
  d.removeConsumer(1);
  d.addConsumer({ id: 2, name: 'b', priority: 0 });
  assert.equal(d.activeConsumer(), 2);
});

test('dispatch - exclusive - all messages go to the one consumer within its permits', () => {
  const d = createDispatcher('exclusive');
  assert.deepEqual(summary(d.dispatch([msg(0)])), { held: [0] }, 'no consumer: everything is held');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addPermits(1, 3);
  const r = d.dispatch([msg(0, 'x'), msg(1, 'y'), msg(2, null), msg(3), msg(4)]);
  assert.deepEqual(summary(r), { c1: [0, 1, 2], held: [3, 4] });
  d.addPermits(1, 5);
  assert.deepEqual(summary(d.dispatch(r.held)), { c1: [3, 4], held: [] });
  assert.deepEqual(ids(d.pending(1)), [0, 1, 2, 3, 4]);
});

test('dispatch - exclusive - cumulative ack acks every held message at or before the position', () => {
  const d = createDispatcher('exclusive');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addPermits(1, 10);
  const batch = (e: number, b: number) => ({ position: { ledgerId: 1, entryId: e }, batchIndex: b, key: null });
  d.dispatch([msg(0), batch(1, 0), batch(1, 1), batch(1, 2), msg(2)]);
  d.onAckCumulative(1, batch(1, 1));
  assert.deepEqual(d.pending(1).map((m) => `${m.position.entryId}.${m.batchIndex}`), ['1.2', '2.0']);
  d.onAckCumulative(1, msg(9));
  assert.deepEqual(d.pending(1), []);
  assert.throws(() => d.onAck(1, msg(0)), (e) => isMillraceError(e, 'ACK_INVALID'), 'acked twice');
});

test('dispatch - exclusive - removing the consumer returns its unacked messages in position order', () => {
  const d = createDispatcher('exclusive');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addPermits(1, 10);
  d.dispatch([msg(3), msg(1), msg(2), msg(0)]);
  d.onAck(1, msg(2));
  assert.deepEqual(ids(d.removeConsumer(1)), [0, 1, 3]);
  assert.equal(d.activeConsumer(), undefined);
  assert.deepEqual(d.removeConsumer(1), [], 'removal is idempotent');
  // The returned messages are now "waiting for redelivery": a reconnecting consumer gets them.
  d.addConsumer({ id: 2, name: 'a', priority: 0 });
  d.addPermits(2, 10);
  assert.deepEqual(summary(d.dispatch([msg(0), msg(1), msg(3), msg(4)])), { c2: [0, 1, 3, 4], held: [] });
});

test('dispatch - exclusive - bad arguments are refused with INVALID_ARGUMENT and leave no state behind', () => {
  const d = createDispatcher('exclusive');
  const bad = (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT');
  assert.throws(() => d.addConsumer({ id: 1.5, name: 'a', priority: 0 }), bad);
  assert.throws(() => d.addConsumer({ id: 1, name: 'a', priority: -1 }), bad);
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  assert.throws(() => d.addPermits(1, -1), bad);
  assert.throws(() => d.addPermits(7, 1), bad, 'unknown consumer');
  d.addPermits(1, 5);
  d.dispatch([msg(0)]);
  assert.throws(() => d.dispatch([msg(1), msg(0)]), bad, 'message 0 is already held');
  assert.throws(() => d.dispatch([msg(1), msg(1)]), bad, 'offered twice');
  assert.deepEqual(ids(d.pending(1)), [0], 'the refused calls assigned nothing');
  assert.throws(() => createDispatcher('fanout' as never), bad);
  assert.throws(() => createDispatcher('failover', { partitionIndex: -2 }), bad);
  assert.throws(() => createDispatcher('key_shared', { keySharedHashRangeSize: 0 }), bad);
});

test('dispatch - exclusive - a consumer of another type is refused with SUBSCRIPTION_TYPE_CONFLICT while consumers are connected', () => {
  const d = createDispatcher('exclusive');
  checkSubscriptionType(d, 'shared'); // nobody connected: the type may change
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  checkSubscriptionType(d, 'exclusive');
  assert.throws(() => checkSubscriptionType(d, 'shared'), (e) => isMillraceError(e, 'SUBSCRIPTION_TYPE_CONFLICT'));
});
