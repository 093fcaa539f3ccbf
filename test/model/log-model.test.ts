/**
 * Model-based test of the managed ledger: random sequences of append, concurrent appends, read,
 * findByTime, trim, clock steps and reopen run against the real ledger (real LMDB files) and a small
 * in-memory model that predicts every position. After each command the whole log must equal the model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManagedLedger, Store, comparePositions, formatPosition, type Position } from '../../core/index.js';
import { decodeEntry } from '../../wasm/index.js';
import { runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

const MAX_ENTRIES = 4;

interface ModelEntry { position: Position; tag: string; publishTime: number }
interface ModelLedger { id: number; open: boolean; entries: ModelEntry[] }
interface Model { ledgers: ModelLedger[]; nextLedgerId: number; clock: number }
interface Real { dir: string; store: Store; ml: ManagedLedger; clock: { now: number } }

const enc = new TextEncoder();
const dec = new TextDecoder();

function modelAppend(m: Model, tag: string): ModelEntry {
  let cur = m.ledgers.at(-1);
  if (!cur || !cur.open || cur.entries.length >= MAX_ENTRIES) {
    if (cur) cur.open = false;
    cur = { id: m.nextLedgerId++, open: true, entries: [] };
    m.ledgers.push(cur);
  }
  const e = { position: { ledgerId: cur.id, entryId: cur.entries.length }, tag, publishTime: m.clock };
  cur.entries.push(e);
  return e;
}

function all(m: Model): ModelEntry[] {
  return m.ledgers.flatMap((l) => l.entries);
}

async function readAll(ml: ManagedLedger): Promise<{ position: Position; tag: string }[]> {
  const out: { position: Position; tag: string }[] = [];
  for (let from: Position = { ledgerId: 0, entryId: 0 }; ;) {
    const rs = await ml.readRange(from, { maxEntries: 3 });
    if (rs.length === 0) return out;
    for (const r of rs) out.push({ position: r.position, tag: dec.decode(decodeEntry(r.entry).messages[0]!.value!) });
    const last = rs.at(-1)!.position;
    from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
  }
}

async function check(m: Model, r: Real): Promise<void> {
  const got = await readAll(r.ml);
  assert.deepEqual(got, all(m).map(({ position, tag }) => ({ position, tag })));
}

type Cmd = fc.AsyncCommand<Model, Real>;

class Append implements Cmd {
  constructor(readonly tags: string[]) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    // Several appends in flight at once: positions must follow call order.
    const results = await Promise.all(this.tags.map((tag) => r.ml.append({ messages: [{ value: enc.encode(tag) }] })));
    const expected = this.tags.map((tag) => modelAppend(m, tag));
    assert.deepEqual(results.map((x) => x.position), expected.map((e) => e.position));
    assert.deepEqual(results.map((x) => x.publishTime), expected.map((e) => e.publishTime));
    await check(m, r);
  }
  toString(): string { return `append(${this.tags.join(',')})`; }
}

class Tick implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    m.clock += this.ms;
    r.clock.now += this.ms;
  }
  toString(): string { return `tick(${this.ms})`; }
}

class FindByTime implements Cmd {
  constructor(readonly back: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const t = m.clock - this.back;
    const want = all(m).find((e) => e.publishTime >= t)?.position;
    assert.deepEqual(await r.ml.findByTime(t), want);
  }
  toString(): string { return `findByTime(now-${this.back})`; }
}

class Trim implements Cmd {
  constructor(readonly pick: number) {}
  check(m: Readonly<Model>): boolean { return all(m as Model).length > 0; }
  async run(m: Model, r: Real): Promise<void> {
    const entries = all(m);
    const at = entries[this.pick % entries.length]!.position;
    const victims = m.ledgers.filter((l) => !l.open && l.entries.every((e) => comparePositions(e.position, at) < 0)).map((l) => l.id);
    assert.deepEqual(await r.ml.trimBefore(at), victims);
    m.ledgers = m.ledgers.filter((l) => !victims.includes(l.id));
    await check(m, r);
  }
  toString(): string { return `trimBefore(#${this.pick})`; }
}

class TrimAll implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const victims = m.ledgers.filter((l) => !l.open).map((l) => l.id);
    assert.deepEqual(await r.ml.trimBefore({ ledgerId: Number.MAX_SAFE_INTEGER, entryId: 0 }), victims);
    m.ledgers = m.ledgers.filter((l) => l.open);
    await check(m, r);
  }
  toString(): string { return 'trimAll'; }
}

class Reopen implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    await r.ml.close();
    await r.store.close();
    r.store = Store.open(r.dir);
    r.ml = await ManagedLedger.open(r.store, 'model', { maxEntries: MAX_ENTRIES, indexIntervalBytes: 64, now: () => r.clock.now });
    const cur = m.ledgers.at(-1);
    if (cur) cur.open = false;
    // Recovery leaves no empty ledger behind: the model's empty open ledger never had a row written.
    await check(m, r);
  }
  toString(): string { return 'reopen'; }
}

const commands = [
  fc.array(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 6 }).map((t) => new Append(t)),
  fc.integer({ min: 0, max: 50 }).map((ms) => new Tick(ms)),
  fc.integer({ min: 0, max: 200 }).map((b) => new FindByTime(b)),
  fc.nat(1000).map((p) => new Trim(p)),
  fc.constant(new Reopen()),
  fc.constant(new TrimAll()),
];

test('log model - the log always equals the model under appends, trims, time search and reopens', async () => {
  const seed = testSeed(7);
  await fc.assert(
    fc.asyncProperty(fc.commands(commands, { maxCommands: 40 }), async (cmds) => {
      const dir = tempDir('millrace-model');
      const clock = { now: 1_000_000 };
      const store = Store.open(dir);
      const real: Real = { dir, store, clock, ml: await ManagedLedger.open(store, 'model', { maxEntries: MAX_ENTRIES, indexIntervalBytes: 64, now: () => clock.now }) };
      const model: Model = { ledgers: [], nextLedgerId: 1, clock: clock.now };
      try {
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      } finally {
        await real.ml.close();
        await real.store.close();
        removeDir(dir);
      }
    }),
    { seed, numRuns: runs(40, 1000), verbose: 1 },
  ).catch((err: unknown) => {
    throw new Error(`log model failed with seed ${seed} (rerun: MILLRACE_SEED=${seed})\n${String(err)}`);
  });
});

// Model sanity: the model is what the assertions compare against, so its rule is checked by itself.
test('log model - the model rolls over after MAX_ENTRIES and after a reopen', () => {
  const m: Model = { ledgers: [], nextLedgerId: 1, clock: 0 };
  for (let i = 0; i < MAX_ENTRIES + 1; i++) modelAppend(m, `x${i}`);
  assert.deepEqual(m.ledgers.map((l) => l.entries.length), [MAX_ENTRIES, 1]);
  m.ledgers.at(-1)!.open = false;
  assert.equal(formatPosition(modelAppend(m, 'y').position), '3:0');
});
