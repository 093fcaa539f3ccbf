/**
 * Model-based property of Key_Shared (G3): random sends, joins, leaves, acks, nacks and permit grants,
 * with the harness playing the partition actor. Checked at every step:
 * (1) per key, when a message is delivered, every earlier message of its key is acked or pending at
 *     the same consumer: first deliveries follow log order, and a returned (leave, nack) message is
 *     delivered again before any later message of its key; and at no moment do two consumers hold
 *     unacked messages of the same key;
 * (2) no message is held by two consumers, and (3) none is lost: after the commands, enough permits and
 *     acks drive everything to acked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareRefs, refKey, type MessageRef } from '../../core/dispatch/index.js';
import { runs, testSeed } from '../util/seed.js';
import {
  Ack, Grant, Join, Leave, Nack, Redeliver, Send, ackPick, checkAll, consumerName, label, newWorld, permitCount, quiesce,
  type Cmd, type Model, type World,
} from './dispatch-harness.js';

function onDeliver(w: World, id: number, m: MessageRef): void {
  const pendingHere = new Set(w.d.pending(id).map(refKey));
  for (const e of w.sent) {
    if (compareRefs(e, m) >= 0) break;
    if (e.key !== m.key) continue;
    const k = refKey(e);
    assert.ok(w.acked.has(k) || pendingHere.has(k),
      `${label(w, m)} delivered to consumer ${id} while earlier ${label(w, e)} is neither acked nor held by that consumer`);
  }
}

function check(w: World): void {
  const holderOfKey = new Map<string, number>();
  for (const c of w.d.consumers()) {
    for (const m of w.d.pending(c.id)) {
      const key = m.key ?? '';
      const other = holderOfKey.get(key);
      assert.ok(other === undefined || other === c.id,
        `consumers ${other} and ${c.id} both hold unacked messages of key ${m.key ?? '_'}`);
      holderOfKey.set(key, c.id);
    }
  }
}

const commands = fc.commands<Model, World>([
  // Sends listed twice: twice as likely as any other command, so runs carry a real backlog.
  fc.constantFrom<string | null>('k1', 'k2', 'k3', 'k4', null).map((k): Cmd => new Send(k)),
  fc.constantFrom<string | null>('k1', 'k2', 'k3', 'k4', null).map((k): Cmd => new Send(k)),
  consumerName.map((c): Cmd => new Join(c)),
  consumerName.map((c): Cmd => new Leave(c)),
  fc.tuple(consumerName, ackPick).map(([c, p]): Cmd => new Ack(c, p)),
  fc.tuple(consumerName, ackPick).map(([c, p]): Cmd => new Nack(c, p)),
  fc.constant<Cmd>(new Redeliver()),
  fc.tuple(consumerName, permitCount).map(([c, n]): Cmd => new Grant(c, n)),
], { maxCommands: 80, size: 'xlarge' });

test('dispatch model - key_shared - per-key order across joins, leaves and nacks; one consumer per key; nothing lost', () => {
  fc.assert(
    fc.property(commands, (cmds) => {
      const w = newWorld('key_shared', { onDeliver, check });
      fc.modelRun(() => ({ model: { joined: new Set<string>(), type: 'key_shared' as const }, real: w }), cmds);
      quiesce(w);
      checkAll(w);
    }),
    { seed: testSeed(0x6b657953), numRuns: runs(300, 5000), verbose: true },
  );
});
