/**
 * Model-based property of Shared: each message is held by at most one consumer at a time, no consumer
 * exceeds its permits, and nothing is lost across joins, leaves, acks and nacks (checked by the
 * harness after every command and after driving to quiescence).
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { runs, testSeed } from '../util/seed.js';
import {
  Ack, Grant, Join, Leave, Nack, Redeliver, Send, ackPick, checkAll, consumerName, newWorld, permitCount, quiesce,
  type Cmd, type Model, type World,
} from './dispatch-harness.js';

const commands = fc.commands<Model, World>([
  // Sends listed twice: twice as likely as any other command, so runs carry a real backlog.
  fc.constantFrom<string | null>('k1', 'k2', null).map((k): Cmd => new Send(k)),
  fc.constantFrom<string | null>('k1', 'k2', null).map((k): Cmd => new Send(k)),
  fc.tuple(consumerName, fc.integer({ min: 0, max: 1 })).map(([c, p]): Cmd => new Join(c, p)),
  consumerName.map((c): Cmd => new Leave(c)),
  fc.tuple(consumerName, ackPick).map(([c, p]): Cmd => new Ack(c, p)),
  fc.tuple(consumerName, ackPick).map(([c, p]): Cmd => new Nack(c, p)),
  fc.constant<Cmd>(new Redeliver()),
  fc.tuple(consumerName, permitCount).map(([c, n]): Cmd => new Grant(c, n)),
], { maxCommands: 60, size: 'xlarge' });

test('dispatch model - shared - each message held by at most one consumer, within permits, none lost', () => {
  fc.assert(
    fc.property(commands, (cmds) => {
      const w = newWorld('shared');
      fc.modelRun(() => ({ model: { joined: new Set<string>(), type: 'shared' as const }, real: w }), cmds);
      quiesce(w);
      checkAll(w);
    }),
    { seed: testSeed(0x73686172), numRuns: runs(200, 3000), verbose: true },
  );
});
