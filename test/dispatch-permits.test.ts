import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SUBSCRIPTION_TYPES, createDispatcher } from '../core/dispatch/index.js';
import { msg } from './dispatch-helpers.js';

for (const type of SUBSCRIPTION_TYPES) {
  test(`dispatch - permits - ${type} never assigns a consumer more messages than it was granted`, () => {
    const d = createDispatcher(type);
    d.addConsumer({ id: 1, name: 'a', priority: 0 });
    if (type !== 'exclusive') d.addConsumer({ id: 2, name: 'b', priority: 0 });
    const granted = new Map<number, number>([[1, 0], [2, 0]]);
    const got = new Map<number, number>([[1, 0], [2, 0]]);
    let backlog = [...Array(40).keys()].map((e) => msg(e, `k${e % 5}`));
    for (let round = 0; round < 12; round++) {
      for (const id of d.consumers().map((c) => c.id)) {
        const n = (round * 7 + id * 3) % 4;
        d.addPermits(id, n);
        granted.set(id, granted.get(id)! + n);
      }
      const r = d.dispatch(backlog);
      for (const [id, ms] of r.assigned) got.set(id, got.get(id)! + ms.length);
      for (const [id, n] of got) assert.ok(n <= granted.get(id)!, `consumer ${id}: ${n} assigned, ${granted.get(id)} granted`);
      backlog = r.held;
      // Acks do not give permits back: only addPermits does (Pulsar's flow command).
      for (const c of d.consumers()) for (const m of d.pending(c.id)) d.onAck(c.id, m);
    }
  });
}

test('dispatch - permits - held messages come back in log order, ready to be offered again', () => {
  const d = createDispatcher('key_shared');
  d.addConsumer({ id: 1, name: 'a', priority: 0 });
  d.addPermits(1, 2);
  const r = d.dispatch([msg(5, 'x'), msg(1, 'x'), msg(3, 'y'), msg(2, 'x')]);
  assert.deepEqual(r.assigned.get(1)!.map((m) => m.position.entryId), [1, 2]);
  assert.deepEqual(r.held.map((m) => m.position.entryId), [3, 5]);
});
