/**
 * Model-based test of the managed cursor: random sequences of ack, ackCumulative, redelivery,
 * resetTo and persist + reopen (the Store closed and opened again) run against the real cursor on a
 * real ledger (several ledgers of random batch sizes, real LMDB files) and an in-memory model: the
 * set of acked (entry, batch index) pairs and a map of redelivery counts. After every command, every
 * message's isAcked and redeliveryCount, the backlog, markDelete and firstUnacked equal the model's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManagedLedger, Store, formatPosition, type Position } from '../../core/index.js';
import { ManagedCursor } from '../../core/cursor/index.js';
import { runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

const MAX_ENTRIES = 3;
const ML_NAME = 'model-cursor';
const SUB = 'sub';

interface Entry { position: Position; batchSize: number }
interface Model {
  entries: Entry[];
  /** `entryIndex#batchIndex` of every acked message. */
  acked: Set<string>;
  counts: Map<string, number>;
}
interface Real { dir: string; store: Store; ml: ManagedLedger; cursor: ManagedCursor }

const msg = (entry: number, index: number): string => `${entry}#${index}`;

function entryAt(m: Model, pick: number): [number, Entry] {
  const i = pick % m.entries.length;
  return [i, m.entries[i]!];
}

function markAcked(m: Model, entry: number, index: number): void {
  m.acked.add(msg(entry, index));
  m.counts.delete(msg(entry, index));
}

function fullyAcked(m: Model, entry: number): boolean {
  for (let j = 0; j < m.entries[entry]!.batchSize; j++) if (!m.acked.has(msg(entry, j))) return false;
  return true;
}

/** The model's markDelete: the last entry of the fully acked prefix, else before the first ledger. */
function modelMarkDelete(m: Model): Position {
  let md: Position = { ledgerId: m.entries[0]!.position.ledgerId, entryId: -1 };
  for (let i = 0; i < m.entries.length && fullyAcked(m, i); i++) md = m.entries[i]!.position;
  return md;
}

function check(m: Model, r: Real): void {
  const c = r.cursor;
  let backlog = 0;
  let firstUnacked: Position | undefined;
  for (const [i, e] of m.entries.entries()) {
    for (let j = 0; j < e.batchSize; j++) {
      const acked = m.acked.has(msg(i, j));
      if (!acked) backlog++;
      assert.equal(c.isAcked(e.position, j), acked, `isAcked(${formatPosition(e.position)}#${j}) (entry ${i})`);
      assert.equal(c.redeliveryCount(e.position, j), m.counts.get(msg(i, j)) ?? 0, `redeliveryCount(${formatPosition(e.position)}#${j})`);
    }
    if (!firstUnacked && !fullyAcked(m, i)) firstUnacked = e.position;
  }
  assert.equal(c.backlog(), backlog, 'backlog');
  assert.deepEqual(c.markDeletePosition, modelMarkDelete(m), 'markDelete');
  assert.deepEqual(c.firstUnacked(), firstUnacked, 'firstUnacked');
}

type Cmd = fc.AsyncCommand<Model, Real>;

class Ack implements Cmd {
  constructor(readonly entry: number, readonly index: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const [i, e] = entryAt(m, this.entry);
    const j = this.index % e.batchSize;
    const fresh = !m.acked.has(msg(i, j));
    markAcked(m, i, j);
    assert.equal(r.cursor.ack(e.position, j, e.batchSize), fresh, 'ack returns whether the message was unacked');
    check(m, r);
  }
  toString(): string { return `ack(e${this.entry}#${this.index})`; }
}

class AckCumulative implements Cmd {
  constructor(readonly entry: number, readonly index: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const [i, e] = entryAt(m, this.entry);
    const j = this.index % e.batchSize;
    for (let k = 0; k < i; k++) for (let x = 0; x < m.entries[k]!.batchSize; x++) markAcked(m, k, x);
    for (let x = 0; x <= j; x++) markAcked(m, i, x);
    r.cursor.ackCumulative(e.position, j, e.batchSize);
    check(m, r);
  }
  toString(): string { return `ackCumulative(e${this.entry}#${this.index})`; }
}

class Redeliver implements Cmd {
  constructor(readonly entry: number, readonly index: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const [i, e] = entryAt(m, this.entry);
    const j = this.index % e.batchSize;
    let want = 0;
    if (!m.acked.has(msg(i, j))) {
      want = (m.counts.get(msg(i, j)) ?? 0) + 1;
      m.counts.set(msg(i, j), want);
    }
    assert.equal(r.cursor.incrementRedeliveryCount(e.position, j), want);
    check(m, r);
  }
  toString(): string { return `redeliver(e${this.entry}#${this.index})`; }
}

class ResetTo implements Cmd {
  constructor(readonly entry: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const [i, e] = entryAt(m, this.entry);
    m.acked.clear();
    for (let k = 0; k < i; k++) for (let x = 0; x < m.entries[k]!.batchSize; x++) markAcked(m, k, x);
    r.cursor.resetTo(e.position);
    check(m, r);
  }
  toString(): string { return `resetTo(e${this.entry})`; }
}

class Reopen implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    await r.cursor.persist();
    await r.ml.close();
    await r.store.close();
    r.store = Store.open(r.dir);
    r.ml = await ManagedLedger.open(r.store, ML_NAME, { maxEntries: MAX_ENTRIES });
    r.cursor = await ManagedCursor.open(r.store, r.ml, SUB);
    check(m, r);
  }
  toString(): string { return 'persist+reopen'; }
}

const pick = fc.nat(1000);
const commands = [
  fc.tuple(pick, pick).map(([e, i]) => new Ack(e, i)),
  fc.tuple(pick, pick).map(([e, i]) => new AckCumulative(e, i)),
  fc.tuple(pick, pick).map(([e, i]) => new Redeliver(e, i)),
  pick.map((e) => new ResetTo(e)),
  fc.constant(new Reopen()),
];

test('cursor model - isAcked, backlog, redelivery counts and markDelete always equal the model, also after persist + reopen', async () => {
  const seed = testSeed(11);
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 14 }),
      fc.constantFrom<'earliest' | 'latest'>('earliest', 'latest'),
      fc.commands(commands, { maxCommands: 40 }),
      async (batchSizes, initialPosition, cmds) => {
        const dir = tempDir('millrace-cursor-model');
        const store = Store.open(dir);
        const ml = await ManagedLedger.open(store, ML_NAME, { maxEntries: MAX_ENTRIES });
        const enc = new TextEncoder();
        const rs = await Promise.all(batchSizes.map((n, i) => ml.append({
          messages: Array.from({ length: n }, (_, j) => ({ value: enc.encode(`e${i}#${j}`) })),
        })));
        const model: Model = { entries: rs.map((x, i) => ({ position: x.position, batchSize: batchSizes[i]! })), acked: new Set(), counts: new Map() };
        if (initialPosition === 'latest') for (const [i, n] of batchSizes.entries()) for (let j = 0; j < n; j++) model.acked.add(msg(i, j));
        const real: Real = { dir, store, ml, cursor: await ManagedCursor.open(store, ml, SUB, { initialPosition }) };
        try {
          check(model, real);
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          await real.ml.close();
          await real.store.close();
          removeDir(dir);
        }
      },
    ),
    { seed, numRuns: runs(60, 1500), verbose: 1 },
  ).catch((err: unknown) => {
    throw new Error(`cursor model failed with seed ${seed} (rerun: MILLRACE_SEED=${seed})\n${String(err)}`);
  });
});

// Model sanity: the assertions compare against the model's markDelete rule, so check it by itself.
test('cursor model - the model\'s markDelete is the last entry of the fully acked prefix', () => {
  const m: Model = {
    entries: [{ position: { ledgerId: 1, entryId: 0 }, batchSize: 2 }, { position: { ledgerId: 2, entryId: 0 }, batchSize: 1 }],
    acked: new Set(), counts: new Map(),
  };
  assert.deepEqual(modelMarkDelete(m), { ledgerId: 1, entryId: -1 });
  markAcked(m, 1, 0);
  markAcked(m, 0, 0);
  assert.deepEqual(modelMarkDelete(m), { ledgerId: 1, entryId: -1 });
  markAcked(m, 0, 1);
  assert.deepEqual(modelMarkDelete(m), { ledgerId: 2, entryId: 0 });
});
