/**
 * Model-based property of Failover: at no moment do two consumers hold messages; messages go only to
 * the active consumer; within permits; nothing lost across joins (with priorities), leaves, acks,
 * cumulative acks and nacks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { MessageRef } from '../../core/dispatch/index.js';
import { runs, testSeed } from '../util/seed.js';
import {
  Ack, AckCumulative, Grant, Join, Leave, Nack, Redeliver, Send, ackPick, checkAll, consumerName, label, newWorld, permitCount,
  quiesce, type Cmd, type Model, type World,
} from './dispatch-harness.js';

function onDeliver(w: World, id: number, m: MessageRef): void {
  assert.equal(id, w.d.activeConsumer(), `${label(w, m)} went to consumer ${id}, which is not the active one`);
}

function check(w: World): void {
  const holders = w.d.consumers().filter((c) => w.d.pending(c.id).length > 0).map((c) => c.id);
  assert.ok(holders.length <= 1, `consumers ${holders.join(' and ')} hold messages at the same time`);
}

const commands = fc.commands<Model, World>([
  // Sends listed twice: twice as likely as any other command, so runs carry a real backlog.
  fc.constant<Cmd>(new Send(null)),
  fc.constant<Cmd>(new Send(null)),
  fc.tuple(consumerName, fc.integer({ min: 0, max: 1 })).map(([c, p]): Cmd => new Join(c, p)),
  consumerName.map((c): Cmd => new Leave(c)),
  fc.tuple(consumerName, ackPick).map(([c, p]): Cmd => new Ack(c, p)),
  fc.tuple(consumerName, fc.nat(20)).map(([c, p]): Cmd => new AckCumulative(c, p)),
  fc.tuple(consumerName, ackPick).map(([c, p]): Cmd => new Nack(c, p)),
  fc.constant<Cmd>(new Redeliver()),
  fc.tuple(consumerName, permitCount).map(([c, n]): Cmd => new Grant(c, n)),
], { maxCommands: 60, size: 'xlarge' });

test('dispatch model - failover - at most one consumer holds messages, only the active one receives, none lost', () => {
  fc.assert(
    fc.property(commands, (cmds) => {
      const w = newWorld('failover', { onDeliver, check });
      fc.modelRun(() => ({ model: { joined: new Set<string>(), type: 'failover' as const }, real: w }), cmds);
      quiesce(w);
      checkAll(w);
    }),
    { seed: testSeed(0x6661696c), numRuns: runs(200, 3000), verbose: true },
  );
});
