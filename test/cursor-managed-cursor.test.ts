import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManagedLedger, Store, isMillraceError, type ManagedLedgerOptions, type Position } from '../core/index.js';
import { ManagedCursor, CURSOR_FORMAT_VERSION } from '../core/cursor/index.js';
import { jsFramer } from '../wasm/index.js';
import { tempDir, removeDir } from './util/tmp.js';

const enc = new TextEncoder();
const ML_NAME = 'persistent://t/ns/c-partition-0';

const pos = (ledgerId: number, entryId: number): Position => ({ ledgerId, entryId });

interface Env {
  dir: string;
  store: Store;
  ml: ManagedLedger;
  /** Positions of the appended entries, with their batch sizes. */
  entries: { position: Position; batchSize: number }[];
  reopen(): Promise<void>;
  open(name?: string, initialPosition?: 'earliest' | 'latest'): Promise<ManagedCursor>;
  append(...batchSizes: number[]): Promise<Position[]>;
}

async function withEnv(fn: (env: Env) => Promise<void>, mlOptions: ManagedLedgerOptions = { maxEntries: 3 }, dir = tempDir('millrace-cursor')): Promise<void> {
  const env: Env = {
    dir,
    store: Store.open(dir),
    ml: undefined as unknown as ManagedLedger,
    entries: [],
    async reopen() {
      await env.ml.close();
      await env.store.close();
      env.store = Store.open(dir);
      env.ml = await ManagedLedger.open(env.store, ML_NAME, mlOptions);
    },
    open(name = 'sub', initialPosition = 'earliest') {
      return ManagedCursor.open(env.store, env.ml, name, { initialPosition });
    },
    async append(...batchSizes) {
      const rs = await Promise.all(batchSizes.map((n, i) => env.ml.append({
        messages: Array.from({ length: n }, (_, j) => ({ value: enc.encode(`m${env.entries.length + i}#${j}`) })),
      })));
      rs.forEach((r, i) => env.entries.push({ position: r.position, batchSize: batchSizes[i]! }));
      return rs.map((r) => r.position);
    },
  };
  env.ml = await ManagedLedger.open(env.store, ML_NAME, mlOptions);
  try {
    await fn(env);
  } finally {
    await env.ml.close();
    await env.store.close();
    removeDir(dir);
  }
}

function rejectsWith(code: string, fn: () => unknown): void {
  assert.throws(fn, (e: unknown) => isMillraceError(e) && e.code === code);
}

test('cursor - individual acks are remembered and a second ack of the same message returns false', async () => {
  await withEnv(async (env) => {
    const [a, b, c] = await env.append(1, 1, 1);
    const cur = await env.open();
    assert.deepEqual(cur.markDeletePosition, pos(1, -1));
    assert.equal(cur.ack(b!, 0, 1), true);
    assert.equal(cur.ack(b!, 0, 1), false);
    assert.equal(cur.isAcked(a!, 0), false);
    assert.equal(cur.isAcked(b!, 0), true);
    assert.deepEqual(cur.markDeletePosition, pos(1, -1), 'a hole before b keeps markDelete');
    assert.deepEqual(cur.ackState().ackedRanges, [{ from: b, to: b }]);
    assert.equal(cur.ack(a!, 0, 1), true);
    assert.deepEqual(cur.markDeletePosition, b, 'markDelete moves over a and the contiguous b');
    assert.deepEqual(cur.ackState().ackedRanges, []);
    assert.equal(cur.isAcked(c!, 0), false);
    assert.deepEqual(cur.firstUnacked(), c);
  });
});

test('cursor - batch-index acks complete an entry only when every index is acked', async () => {
  await withEnv(async (env) => {
    const [a, b] = await env.append(3, 2);
    const cur = await env.open();
    assert.equal(cur.ack(a!, 2, 3), true);
    assert.equal(cur.ack(a!, 0, 3), true);
    assert.equal(cur.ack(a!, 0, 3), false);
    assert.deepEqual(cur.markDeletePosition, pos(1, -1));
    assert.equal(cur.isAcked(a!, 0), true);
    assert.equal(cur.isAcked(a!, 1), false);
    assert.deepEqual(cur.ackState().partial, [{ position: a, acked: [0, 2], batchSize: 3 }]);
    assert.equal(cur.backlog(), 3);
    assert.deepEqual(cur.firstUnacked(), a, 'a partially acked entry is where dispatch resumes');
    assert.equal(cur.ack(a!, 1, 3), true);
    assert.deepEqual(cur.markDeletePosition, a);
    assert.deepEqual(cur.ackState().partial, []);
    assert.equal(cur.backlog(), 2);
    assert.deepEqual(cur.firstUnacked(), b);
    cur.ack(b!, 0, 2);
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(b!, 1, 3));
    assert.equal(cur.isAcked(b!, 1), false);
  });
});

test('cursor - cumulative ack acks everything at or before the message, leaving the rest of its batch', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(2, 2, 4, 2, 2);
    const cur = await env.open();
    cur.ack(ps[3]!, 0, 2);
    cur.ackCumulative(ps[2]!, 1, 4);
    // Entries 0 and 1 of ledger 1 are acked; ps[2] (ledger 1, entry 2) has indexes 0-1.
    assert.deepEqual(cur.markDeletePosition, ps[1]);
    assert.deepEqual(cur.ackState().partial, [
      { position: ps[2], acked: [0, 1], batchSize: 4 },
      { position: ps[3], acked: [0], batchSize: 2 },
    ]);
    assert.equal(cur.backlog(), 2 + 1 + 2);
    cur.ackCumulative(ps[2]!, 3, 4);
    assert.deepEqual(cur.markDeletePosition, ps[2], 'the whole entry crosses the ledger boundary of markDelete');
    assert.equal(cur.isAcked(ps[3]!, 0), true);
    assert.equal(cur.isAcked(ps[3]!, 1), false);
    cur.ackCumulative(ps[0]!, 0, 2);
    assert.deepEqual(cur.markDeletePosition, ps[2], 'a cumulative ack behind markDelete changes nothing');
    cur.ackCumulative(ps[4]!, 1, 2);
    assert.deepEqual(cur.markDeletePosition, ps[4]);
    assert.equal(cur.backlog(), 0);
    assert.equal(cur.firstUnacked(), undefined);
  });
});

test('cursor - a cumulative ack at index 0 of a ledger\'s first entry puts markDelete on the previous ledger\'s last entry', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(1, 1, 1, 3);
    assert.deepEqual(ps[3], pos(2, 0));
    const cur = await env.open();
    cur.ackCumulative(ps[3]!, 0, 3);
    assert.deepEqual(cur.markDeletePosition, pos(1, 2));
    assert.deepEqual(cur.ackState().partial, [{ position: pos(2, 0), acked: [0], batchSize: 3 }]);
  });
});

test('cursor - markDelete moves over contiguous acked entries across ledger boundaries', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(1, 1, 1, 1, 1, 1, 1);
    assert.deepEqual(ps.map((p) => p.ledgerId), [1, 1, 1, 2, 2, 2, 3]);
    const cur = await env.open();
    for (const i of [6, 4, 3, 2, 1]) cur.ack(ps[i]!, 0, 1);
    assert.deepEqual(cur.markDeletePosition, pos(1, -1));
    assert.deepEqual(cur.ackState().ackedRanges, [
      { from: pos(1, 1), to: pos(1, 2) }, { from: pos(2, 0), to: pos(2, 1) }, { from: pos(3, 0), to: pos(3, 0) },
    ]);
    assert.equal(cur.backlog(), 2);
    cur.ack(ps[0]!, 0, 1);
    assert.deepEqual(cur.markDeletePosition, pos(2, 1));
    assert.deepEqual(cur.firstUnacked(), pos(2, 2));
    cur.ack(ps[5]!, 0, 1);
    assert.deepEqual(cur.markDeletePosition, pos(3, 0));
    assert.equal(cur.backlog(), 0);
  });
});

test('cursor - a gap (an entry ID never stored) counts as acked and markDelete moves over it', async () => {
  // A failed write leaves an assigned entry ID unstored. Lay out such a ledger by hand: entries 0
  // and 2 stored, 1 missing, row saying 2 entries of last ID 2.
  const dir = tempDir('millrace-cursor-gap');
  const store = Store.open(dir);
  const mlId = store.managedLedgerId(ML_NAME);
  const now = Date.now();
  for (const e of [0, 2]) {
    const entry = jsFramer.frame({ publishTime: now, producerName: null, messages: [{ value: enc.encode(`e${e}a`) }, { value: enc.encode(`e${e}b`) }] });
    await store.entries.put([mlId, 1, e], Buffer.from(entry));
  }
  await store.ledgers.put([mlId, 1], { ledgerId: 1, state: 'sealed', entries: 2, bytes: 0, messages: 4, lastEntryId: 2, firstPublishTime: now, lastPublishTime: now, createdAt: now, sealedAt: now });
  await store.meta.put(['next-ledger', mlId], 2);
  await store.close();
  await withEnv(async (env) => {
    const [c] = await env.append(1);
    assert.deepEqual(c, pos(2, 0));
    const cur = await env.open();
    assert.equal(cur.backlog(), 5);
    cur.ack(pos(1, 0), 0, 2);
    cur.ack(pos(1, 0), 1, 2);
    assert.deepEqual(cur.markDeletePosition, pos(1, 1), 'markDelete moves over the gap');
    assert.deepEqual(cur.firstUnacked(), pos(1, 2));
    rejectsWith('ACK_INVALID', () => cur.ack(pos(1, 3), 0, 1));
    cur.ack(pos(1, 2), 0, 2);
    cur.ack(pos(1, 2), 1, 2);
    assert.deepEqual(cur.markDeletePosition, pos(1, 2));
    assert.equal(cur.backlog(), 1);
  }, { maxEntries: 3 }, dir);
});

test('cursor - entries of trimmed ledgers count as acked for a cursor behind them', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(2, 2, 2, 2, 2, 2, 2);
    const cur = await env.open();
    cur.ack(ps[4]!, 0, 2);
    cur.incrementRedeliveryCount(ps[1]!, 0);
    assert.equal(cur.backlog(), 13);
    assert.deepEqual(await env.ml.trimBefore(pos(2, 2)), [1]);
    assert.equal(cur.isAcked(ps[0]!, 0), true);
    assert.equal(cur.isAcked(ps[2]!, 1), true);
    assert.equal(cur.redeliveryCount(ps[1]!, 0), 0);
    assert.deepEqual(cur.markDeletePosition, pos(2, -1));
    assert.deepEqual(cur.firstUnacked(), pos(2, 0));
    assert.equal(cur.backlog(), 7);
    assert.equal(cur.ack(ps[0]!, 0, 2), false);
  });
});

test('cursor - persist and reopen restore markDelete, ranges, partial batches and redelivery counts exactly', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(3, 1, 5, 1, 1, 1, 20, 9);
    const cur = await env.open('s1');
    cur.ack(ps[0]!, 0, 3);
    cur.ack(ps[0]!, 1, 3);
    cur.ack(ps[0]!, 2, 3);
    cur.ack(ps[3]!, 0, 1);
    cur.ack(ps[4]!, 0, 1);
    cur.ack(ps[2]!, 4, 5);
    for (const i of [0, 3, 17, 19]) cur.ack(ps[6]!, i, 20);
    cur.incrementRedeliveryCount(ps[1]!, 0);
    cur.incrementRedeliveryCount(ps[1]!, 0);
    cur.incrementRedeliveryCount(ps[6]!, 5);
    cur.incrementRedeliveryCount(ps[7]!, 8);
    const state = cur.ackState();
    const backlog = cur.backlog();
    const acked = env.entries.map((e) => Array.from({ length: e.batchSize }, (_, j) => cur.isAcked(e.position, j)));
    await cur.persist();
    await env.reopen();
    const again = await env.open('s1');
    assert.deepEqual(again.ackState(), state);
    assert.equal(again.backlog(), backlog);
    assert.equal(again.redeliveryCount(ps[1]!, 0), 2);
    assert.equal(again.redeliveryCount(ps[6]!, 5), 1);
    assert.equal(again.redeliveryCount(ps[7]!, 8), 1);
    assert.equal(again.redeliveryCount(ps[7]!, 7), 0);
    assert.deepEqual(env.entries.map((e) => Array.from({ length: e.batchSize }, (_, j) => again.isAcked(e.position, j))), acked);
    assert.throws(() => cur.isAcked(ps[0]!, 0), (e: unknown) => isMillraceError(e, 'CLOSED'), 'a cursor of a closed store refuses calls');
  });
});

test('cursor - a redelivery count survives a restart and is dropped on ack', async () => {
  await withEnv(async (env) => {
    const [a, b] = await env.append(2, 2);
    const cur = await env.open();
    assert.equal(cur.redeliveryCount(a!, 1), 0);
    assert.equal(cur.incrementRedeliveryCount(a!, 1), 1);
    assert.equal(cur.incrementRedeliveryCount(a!, 1), 2);
    assert.equal(cur.incrementRedeliveryCount(b!, 0), 1);
    await cur.persist();
    await env.reopen();
    const again = await env.open();
    assert.equal(again.redeliveryCount(a!, 1), 2);
    assert.equal(again.incrementRedeliveryCount(a!, 1), 3);
    again.ack(a!, 1, 2);
    assert.equal(again.redeliveryCount(a!, 1), 0);
    assert.equal(again.incrementRedeliveryCount(a!, 1), 0, 'an acked message gets no count');
    again.ackCumulative(b!, 0, 2);
    assert.equal(again.redeliveryCount(b!, 0), 0, 'a cumulative ack drops the counts it covers');
    await again.persist();
    await env.reopen();
    const third = await env.open();
    assert.equal(third.redeliveryCount(a!, 1), 0);
    assert.equal(third.redeliveryCount(b!, 0), 0);
  });
});

test('cursor - resetTo makes the position the next to deliver and forgets acks at or after it', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(2, 2, 2, 2, 2);
    const cur = await env.open();
    cur.ackCumulative(ps[1]!, 1, 2);
    cur.ack(ps[3]!, 0, 2);
    cur.ack(ps[4]!, 0, 2);
    cur.ack(ps[4]!, 1, 2);
    cur.incrementRedeliveryCount(ps[2]!, 0);
    cur.incrementRedeliveryCount(ps[3]!, 1);
    cur.resetTo(ps[3]!);
    assert.deepEqual(cur.markDeletePosition, ps[2]);
    assert.deepEqual(cur.firstUnacked(), ps[3]);
    assert.equal(cur.isAcked(ps[2]!, 1), true, 'everything before the position is acked');
    assert.equal(cur.isAcked(ps[3]!, 0), false);
    assert.equal(cur.isAcked(ps[4]!, 1), false);
    assert.equal(cur.redeliveryCount(ps[2]!, 0), 0);
    assert.equal(cur.redeliveryCount(ps[3]!, 1), 1);
    assert.equal(cur.backlog(), 4);
    cur.resetTo(ps[0]!);
    assert.deepEqual(cur.markDeletePosition, pos(1, -1));
    assert.equal(cur.backlog(), 10);
    cur.resetTo(ps[3]!); // ledger 2's first entry: markDelete is ledger 1's last entry
    assert.deepEqual(cur.markDeletePosition, pos(1, 2));
    cur.resetTo(pos(9, 9));
    assert.deepEqual(cur.markDeletePosition, ps[4], 'past the end resets to just after the last entry');
    assert.equal(cur.backlog(), 0);
  });
});

test('cursor - backlog counts unacked messages from ledger rows, acked ranges and batch indexes', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(5, 1, 3, 7, 2, 2, 4);
    const cur = await env.open();
    assert.equal(cur.backlog(), 24);
    cur.ack(ps[3]!, 6, 7);
    assert.equal(cur.backlog(), 23);
    cur.ack(ps[1]!, 0, 1);
    assert.equal(cur.backlog(), 22);
    cur.ackCumulative(ps[2]!, 1, 3);
    assert.equal(cur.backlog(), 24 - 5 - 1 - 2 - 1);
    await env.append(10);
    assert.equal(cur.backlog(), 25);
    const late = await env.open('late', 'latest');
    assert.equal(late.backlog(), 0);
    await env.append(3);
    assert.equal(late.backlog(), 3);
  });
});

test('cursor - a new cursor starts at earliest or latest and keeps its position across a restart', async () => {
  await withEnv(async (env) => {
    const empty = await env.open('empty-earliest', 'earliest');
    assert.deepEqual(empty.markDeletePosition, pos(0, -1));
    assert.equal(empty.firstUnacked(), undefined);
    const emptyLatest = await env.open('empty-latest', 'latest');
    const ps = await env.append(1, 1, 1, 1);
    assert.deepEqual(empty.markDeletePosition, pos(1, -1));
    assert.deepEqual(emptyLatest.firstUnacked(), ps[0], 'latest on an empty log sees the first message');
    const earliest = await env.open('e', 'earliest');
    const latest = await env.open('l', 'latest');
    assert.deepEqual(earliest.markDeletePosition, pos(1, -1));
    assert.deepEqual(earliest.firstUnacked(), ps[0]);
    assert.equal(earliest.backlog(), 4);
    assert.deepEqual(latest.markDeletePosition, ps[3]);
    assert.equal(latest.backlog(), 0);
    const [next] = await env.append(1);
    assert.deepEqual(latest.firstUnacked(), next);
    // Created durably at open: a restart does not move 'latest' on.
    await env.reopen();
    const latestAgain = await env.open('l', 'latest');
    assert.deepEqual(latestAgain.markDeletePosition, ps[3]);
    const earliestAgain = await env.open('e', 'latest');
    assert.deepEqual(earliestAgain.markDeletePosition, pos(1, -1), 'the option only matters at creation');
  });
});

test('cursor - a corrupted or newer-version stored value is refused with ENTRY_CORRUPT', async () => {
  await withEnv(async (env) => {
    const [a] = await env.append(3, 1);
    const cur = await env.open('c');
    cur.ack(a!, 1, 3);
    cur.incrementRedeliveryCount(a!, 0);
    await cur.persist();
    const mlId = env.store.managedLedgerId(ML_NAME);
    const good = Buffer.from(env.store.cursors.get([mlId, 'c'])!);
    assert.equal(good[0], CURSOR_FORMAT_VERSION);
    const bad: Buffer[] = [];
    const flipped = Buffer.from(good);
    flipped[good.length - 1]! ^= 0x40;
    bad.push(flipped);
    const newer = Buffer.from(good);
    newer[0] = CURSOR_FORMAT_VERSION + 1;
    bad.push(newer);
    bad.push(good.subarray(0, good.length - 1));
    bad.push(Buffer.from([1, 2]));
    bad.push(Buffer.concat([good, Buffer.from([0])]));
    for (const [i, value] of bad.entries()) {
      await env.store.cursors.put([mlId, 'c'], Buffer.from(value));
      await assert.rejects(env.open('c'), (e: unknown) => isMillraceError(e, 'ENTRY_CORRUPT'), `corruption ${i}`);
    }
    // The bad value is left as it was: never silently reset.
    assert.deepEqual(env.store.cursors.get([mlId, 'c']), bad.at(-1));
  });
});

test('cursor - bad input is INVALID_ARGUMENT, an ack past the last confirmed entry ACK_INVALID', async () => {
  await withEnv(async (env) => {
    const [a] = await env.append(2);
    const cur = await env.open();
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(pos(-1, 0), 0, 1));
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(pos(1, 0.5), 0, 1));
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(a!, 2, 2));
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(a!, -1, 2));
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(a!, 0, 0));
    rejectsWith('INVALID_ARGUMENT', () => cur.ack(a!, 0, 65536));
    rejectsWith('INVALID_ARGUMENT', () => cur.ackCumulative(a!, 0, 1.5));
    rejectsWith('INVALID_ARGUMENT', () => cur.isAcked(null as unknown as Position, 0));
    rejectsWith('INVALID_ARGUMENT', () => cur.redeliveryCount(a!, -2));
    rejectsWith('INVALID_ARGUMENT', () => cur.resetTo(pos(1, -3)));
    rejectsWith('ACK_INVALID', () => cur.ack(pos(1, 1), 0, 1));
    rejectsWith('ACK_INVALID', () => cur.ackCumulative(pos(2, 0), 0, 1));
    rejectsWith('ACK_INVALID', () => cur.incrementRedeliveryCount(pos(1, 5), 0));
    await assert.rejects(ManagedCursor.open(env.store, env.ml, ''), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
    await assert.rejects(ManagedCursor.open(env.store, env.ml, 'x', { initialPosition: 'middle' as 'latest' }), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  });
});

test('cursor - the stored form stays small: acked ranges as ranges, partial entries as bitsets', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(...Array.from({ length: 2000 }, () => 1));
    const cur = await env.open('small');
    // Acking every entry but a few leaves few ranges; one value however many messages are acked.
    for (const [i, p] of ps.entries()) if (i % 500 !== 0) cur.ack(p, 0, 1);
    await cur.persist();
    const mlId = env.store.managedLedgerId(ML_NAME);
    const size = env.store.cursors.get([mlId, 'small'])!.length;
    assert.ok(size < 64, `4 ranges take ${size} bytes`);
    assert.equal(cur.ackState().ackedRanges.length, 4);
    assert.equal(cur.backlog(), 4);
  }, { maxEntries: 5000 });
});

test('cursor - persist calls in one turn share one write, and a delete removes the stored state', async () => {
  await withEnv(async (env) => {
    const [a] = await env.append(4);
    const cur = await env.open('d');
    cur.ack(a!, 0, 4);
    const p1 = cur.persist();
    cur.ack(a!, 1, 4);
    const p2 = cur.persist();
    assert.equal(p1, p2, 'a call while a write is queued shares it');
    await p1;
    assert.equal(cur.persist(), cur.persist(), 'nothing changed: the last write is shared');
    await env.reopen();
    const again = await env.open('d');
    assert.deepEqual(again.ackState().partial, [{ position: a, acked: [0, 1], batchSize: 4 }], 'the shared write holds both acks');
    await again.delete();
    rejectsWith('CLOSED', () => again.backlog());
    const mlId = env.store.managedLedgerId(ML_NAME);
    assert.equal(env.store.cursors.get([mlId, 'd']), undefined);
    const fresh = await env.open('d', 'earliest');
    assert.deepEqual(fresh.ackState().partial, []);
  });
});

test('cursor - overlapping persists across turns, each with a fresh value, leave the last state stored', async () => {
  await withEnv(async (env) => {
    const ps = await env.append(...Array.from({ length: 40 }, () => 3));
    const cur = await env.open('o');
    const writes: Promise<void>[] = [];
    for (const [i, p] of ps.entries()) {
      cur.ack(p, i % 3, 3);
      if (i % 2 === 0) cur.incrementRedeliveryCount(p, (i + 1) % 3);
      writes.push(cur.persist());
      // A new turn between writes: earlier puts are still in flight while later ones are queued.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(writes);
    const state = cur.ackState();
    const counts = ps.map((p) => [0, 1, 2].map((j) => cur.redeliveryCount(p, j)));
    await env.reopen();
    const again = await env.open('o');
    assert.deepEqual(again.ackState(), state);
    assert.deepEqual(ps.map((p) => [0, 1, 2].map((j) => again.redeliveryCount(p, j))), counts);
  }, { maxEntries: 7 });
});

test('cursor - acks persisted while a write is in flight go out in one write after it, and every one resolves durable', () => withEnv(async (env) => {
  const [a, b, c, d] = await env.append(1, 1, 1, 1);
  const cur = await env.open();
  // Count the cursor's writes to LMDB (the durable store sends them through lmdb-js's async put),
  // and hold each one in flight 50 ms, as a slow fsync would, so the test does not hang on timing.
  const db = env.store.cursors as unknown as { put(...args: unknown[]): Promise<unknown> };
  const put = db.put.bind(db);
  let writes = 0;
  db.put = (...args: unknown[]) => {
    writes++;
    return put(...args).then((r) => new Promise((resolve) => setTimeout(() => resolve(r), 50)));
  };
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  cur.ack(a!, 0, 1);
  const p1 = cur.persist();
  await turn(); // the first write is in flight now
  cur.ack(b!, 0, 1);
  const p2 = cur.persist();
  await turn();
  cur.ack(c!, 0, 1);
  const p3 = cur.persist();
  await turn();
  cur.ack(d!, 0, 1);
  const p4 = cur.persist();
  await Promise.all([p1, p2, p3, p4]);
  assert.equal(writes, 2, 'the first write, then one for the three acks made while it was in flight');
  await env.reopen();
  const again = await env.open();
  assert.deepEqual(again.markDeletePosition, d, 'every ack is stored');
}));
