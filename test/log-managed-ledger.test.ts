import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ManagedLedger, Store, MillraceError, type AppendBatch, type AppendResult } from '../core/index.js';
import { decodeEntry, encodeInto, encodedSize } from '../wasm/index.js';
import { tempDir, removeDir } from './util/tmp.js';

const enc = new TextEncoder();

function batch(tag: string, n = 3, size = 20): AppendBatch {
  return {
    producerName: enc.encode('p1'),
    messages: Array.from({ length: n }, (_, i) => ({
      key: enc.encode(`k${i % 2}`),
      value: enc.encode(`${tag}#${i}:`.padEnd(size, '.')),
      sequenceId: i,
    })),
  };
}

function values(entry: Uint8Array): string[] {
  return decodeEntry(entry).messages.map((m) => new TextDecoder().decode(m.value!));
}

async function withLedger(fn: (ml: ManagedLedger, store: Store, dir: string) => Promise<void>, options = {}): Promise<void> {
  const dir = tempDir();
  const store = Store.open(dir);
  try {
    const ml = await ManagedLedger.open(store, 'persistent://t/ns/a-partition-0', options);
    await fn(ml, store, dir);
    await ml.close();
  } finally {
    await store.close();
    removeDir(dir);
  }
}

test('log - append resolves with increasing positions and read returns the same bytes', async () => {
  await withLedger(async (ml) => {
    const a = await ml.append(batch('a'));
    const b = await ml.append(batch('b'));
    assert.deepEqual(a.position, { ledgerId: 1, entryId: 0 });
    assert.deepEqual(b.position, { ledgerId: 1, entryId: 1 });
    assert.equal(a.count, 3);
    assert.ok(b.publishTime >= a.publishTime);
    const r = await ml.read(b.position);
    assert.deepEqual(values(r.entry), ['b#0:'.padEnd(20, '.'), 'b#1:'.padEnd(20, '.'), 'b#2:'.padEnd(20, '.')]);
    assert.equal(decodeEntry(r.entry).publishTime, b.publishTime);
  });
});

test('log - concurrent appends keep call order and all become readable', async () => {
  await withLedger(async (ml) => {
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => ml.append(batch(`c${i}`, 2))));
    results.forEach((r, i) => assert.deepEqual(r.position, { ledgerId: 1, entryId: i }));
    const read = await ml.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 1000 });
    assert.equal(read.length, 200);
    read.forEach((r, i) => assert.equal(values(r.entry)[0], `c${i}#0:`.padEnd(20, '.')));
    assert.deepEqual(ml.lastConfirmed, { ledgerId: 1, entryId: 199 });
  });
});

test('log - ledgers roll over by entries and by bytes, and sealed rows record their figures', async () => {
  await withLedger(async (ml) => {
    for (let i = 0; i < 7; i++) await ml.append(batch(`e${i}`));
    const ls = ml.ledgers();
    assert.deepEqual(ls.map((l) => [l.ledgerId, l.state, l.entries]), [[1, 'sealed', 3], [2, 'sealed', 3], [3, 'open', 1]]);
    assert.ok(ls[0]!.bytes > 0 && ls[0]!.lastPublishTime >= ls[0]!.firstPublishTime);
  }, { maxEntries: 3 });
  const one = encodedSize({ ...batch('x', 1, 100), publishTime: 0 });
  await withLedger(async (ml) => {
    for (let i = 0; i < 5; i++) assert.equal((await ml.append(batch('x', 1, 100))).bytes, one);
    // A ledger holds at most two entries under 2.5 entries' bytes.
    assert.deepEqual(ml.ledgers().map((l) => l.entries), [2, 2, 1]);
    assert.ok(ml.ledgers().every((l) => l.bytes <= Math.floor(one * 2.5)));
  }, { maxBytes: Math.floor(one * 2.5) });
  // An entry larger than maxBytes still gets a ledger of its own rather than being refused.
  await withLedger(async (ml) => {
    await ml.append(batch('big', 1, 100));
    await ml.append(batch('big', 1, 100));
    assert.deepEqual(ml.ledgers().map((l) => l.entries), [1, 1]);
  }, { maxBytes: 1 });
});

test('log - a ledger older than maxAgeMs rolls over on the next append', async () => {
  let now = 1_000_000;
  await withLedger(async (ml) => {
    await ml.append(batch('a'));
    now += 500;
    await ml.append(batch('b'));
    now += 1000;
    const c = await ml.append(batch('c'));
    assert.deepEqual(c.position, { ledgerId: 2, entryId: 0 });
    assert.equal(c.publishTime, now);
  }, { maxAgeMs: 1000, now: () => now });
});

test('log - publish times never go backwards even when the clock does', async () => {
  let now = 5_000;
  await withLedger(async (ml) => {
    const a = await ml.append(batch('a'));
    now = 1_000;
    const b = await ml.append(batch('b'));
    assert.equal(b.publishTime, a.publishTime);
  }, { now: () => now });
});

test('log - reopening continues IDs in a new ledger, seals the recovered one, and keeps every entry', async () => {
  const dir = tempDir();
  try {
    let store = Store.open(dir);
    let ml = await ManagedLedger.open(store, 'm');
    for (let i = 0; i < 5; i++) await ml.append(batch(`r${i}`));
    await ml.close();
    await store.close();

    store = Store.open(dir);
    ml = await ManagedLedger.open(store, 'm');
    assert.deepEqual(ml.ledgers().map((l) => [l.ledgerId, l.state, l.entries, l.messages, l.lastEntryId]), [[1, 'sealed', 5, 15, 4]]);
    assert.deepEqual(ml.lastConfirmed, { ledgerId: 1, entryId: 4 });
    const next = await ml.append(batch('after'));
    assert.deepEqual(next.position, { ledgerId: 2, entryId: 0 });
    const all = await ml.readRange({ ledgerId: 0, entryId: 0 });
    assert.deepEqual(all.map((r) => values(r.entry)[0]!.split('#')[0]), ['r0', 'r1', 'r2', 'r3', 'r4', 'after']);
    await ml.close();
    await store.close();
  } finally {
    removeDir(dir);
  }
});

test('log - readRange crosses ledgers and honours maxEntries and maxBytes', async () => {
  await withLedger(async (ml) => {
    const rs = [];
    for (let i = 0; i < 10; i++) rs.push(await ml.append(batch(`q${i}`)));
    const first = await ml.readRange(rs[2]!.position, { maxEntries: 4 });
    assert.deepEqual(first.map((r) => r.position), rs.slice(2, 6).map((r) => r.position));
    const byBytes = await ml.readRange(rs[0]!.position, { maxBytes: rs[0]!.bytes * 2 + 1 });
    assert.equal(byBytes.length, 2);
    const atLeastOne = await ml.readRange(rs[9]!.position, { maxBytes: 1 });
    assert.equal(atLeastOne.length, 1);
    assert.deepEqual(await ml.readRange({ ledgerId: 99, entryId: 0 }), []);
  }, { maxEntries: 3 });
});

test('log - with many ledgers, reads by ID find every ledger, and ledgers() is a frozen snapshot that later appends, seals and trims leave alone', async () => {
  await withLedger(async (ml) => {
    const rs: AppendResult[] = [];
    for (let i = 0; i < 200; i++) rs.push(await ml.append(batch(`m${i}`, 1)));
    // 100 ledgers (IDs 1..100, the last one open): every lookup by ID is a search now.
    for (const i of [0, 1, 2, 99, 100, 101, 150, 197, 198, 199]) {
      const r = rs[i]!;
      assert.deepEqual(values((await ml.read(r.position)).entry), [`m${i}#0:`.padEnd(20, '.')]);
      assert.equal(ml.isStored(r.position.ledgerId, r.position.entryId), true);
      assert.equal(ml.countMessages(r.position.ledgerId, r.position.entryId, r.position.entryId), 1);
      const range = await ml.readRange(r.position, { maxEntries: 3 });
      assert.deepEqual(range.map((e) => e.position), rs.slice(i, i + 3).map((x) => x.position));
    }
    assert.equal(ml.isStored(1000, 0), false);
    await assert.rejects(ml.read({ ledgerId: 1000, entryId: 0 }), (e: unknown) => e instanceof MillraceError && e.code === 'ENTRY_NOT_FOUND');
    const before = ml.ledgers();
    assert.equal(before.length, 100);
    assert.equal(before[99]!.state, 'open');
    assert.equal(before[99]!.entries, 2);
    assert.ok(Object.isFrozen(before[0]) && Object.isFrozen(before[99]));
    await ml.append(batch('next', 1)); // seals ledger 100, opens 101
    await ml.trimBefore(rs[10]!.position); // drops ledgers 1-5
    assert.equal(before.length, 100);
    assert.equal(before[0]!.ledgerId, 1);
    assert.deepEqual([before[99]!.state, before[99]!.entries], ['open', 2]);
    const after = ml.ledgers();
    assert.deepEqual([after[0]!.ledgerId, after.length], [6, 96]);
    assert.deepEqual([after[94]!.state, after[94]!.ledgerId, after[95]!.state], ['sealed', 100, 'open']);
    // A kept copy (a cursor's) follows appends in place, and is remade when a closed ledger changes.
    const copy = ml.refreshLedgers(undefined);
    assert.deepEqual(copy.list, ml.ledgers());
    await ml.append(batch('in-place', 1)); // ledger 101 gets its second entry: only the open row changes
    const same = ml.refreshLedgers(copy);
    assert.equal(same, copy);
    assert.deepEqual(same.list, ml.ledgers());
    assert.equal(same.list[same.list.length - 1]!.entries, 2);
    await ml.append(batch('rolled', 1)); // seals 101
    const remade = ml.refreshLedgers(same);
    assert.notEqual(remade.list, same.list);
    assert.deepEqual(remade.list, ml.ledgers());
  }, { maxEntries: 2 });
});

test('log - findByTime lands on the first entry published at or after the time', async () => {
  let now = 10_000;
  await withLedger(async (ml) => {
    const pos: AppendResult[] = [];
    for (let i = 0; i < 40; i++) {
      now += i % 3 === 0 ? 10 : 0; // runs of equal publish times
      pos.push(await ml.append(batch(`t${i}`, 2, 400)));
    }
    for (const t of [0, 10_005, 10_010, 10_011, 10_070, 10_140]) {
      const expected = pos.find((p) => p.publishTime >= t);
      assert.deepEqual(await ml.findByTime(t), expected?.position, `time ${t}`);
    }
    assert.equal(await ml.findByTime(now + 1), undefined);
  }, { maxEntries: 7, indexIntervalBytes: 2048, now: () => now });
});

test('log - trimBefore deletes only whole sealed ledgers before the position', async () => {
  await withLedger(async (ml) => {
    const rs = [];
    for (let i = 0; i < 8; i++) rs.push(await ml.append(batch(`d${i}`)));
    // Ledgers: 1 = entries 0-2, 2 = 0-2, 3 = 0-1 (open).
    assert.deepEqual(await ml.trimBefore(rs[4]!.position), [1]);
    assert.deepEqual(ml.ledgers().map((l) => l.ledgerId), [2, 3]);
    await assert.rejects(ml.read(rs[0]!.position), (e: unknown) => e instanceof MillraceError && e.code === 'ENTRY_NOT_FOUND');
    const fromStart = await ml.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 1 });
    assert.deepEqual(fromStart[0]!.position, rs[3]!.position);
    assert.deepEqual(ml.stats().firstPosition, rs[3]!.position);
    // The open ledger is never trimmed.
    assert.deepEqual(await ml.trimBefore({ ledgerId: 100, entryId: 0 }), [2]);
    assert.deepEqual(ml.ledgers().map((l) => l.state), ['open']);
  }, { maxEntries: 3 });
});

test('log - an entry laid out in a SharedArrayBuffer is stored intact', async () => {
  await withLedger(async (ml) => {
    const b = { publishTime: 0, producerName: enc.encode('ring'), messages: batch('sab', 4).messages };
    const ring = new Uint8Array(new SharedArrayBuffer(4096));
    const n = encodeInto(b, ring, 64);
    assert.equal(n, encodedSize(b));
    const r = await ml.appendEntry(ring.subarray(64, 64 + n));
    ring.fill(0xee); // the ring slot is reused at once
    const back = await ml.read(r.position);
    assert.deepEqual(values(back.entry), values(back.entry).map((_, i) => `sab#${i}:`.padEnd(20, '.')));
    assert.equal(decodeEntry(back.entry).publishTime, r.publishTime);
  });
});

test('log - a damaged entry on disk is reported as ENTRY_CORRUPT, never returned', async () => {
  await withLedger(async (ml, store) => {
    const r = await ml.append(batch('ok'));
    const key: [number, number, number] = [store.managedLedgerId(ml.name), r.position.ledgerId, r.position.entryId];
    const bytes = Buffer.from(store.entries.get(key)!);
    bytes[bytes.length - 1] ^= 0x40;
    await store.entries.put(key, bytes);
    await assert.rejects(ml.read(r.position), (e: unknown) => e instanceof MillraceError && e.code === 'ENTRY_CORRUPT');
    await assert.rejects(ml.readRange(r.position), (e: unknown) => e instanceof MillraceError && e.code === 'ENTRY_CORRUPT');
  });
});

test('log - bad input gets a typed error and writes nothing', async () => {
  await withLedger(async (ml) => {
    const code = (c: string) => (e: unknown) => e instanceof MillraceError && e.code === c;
    await assert.rejects(ml.append({ messages: [] }), code('BATCH_EMPTY'));
    await assert.rejects(ml.append({ messages: [{ value: new Uint8Array(5000) }] }), code('ENTRY_TOO_LARGE'));
    await assert.rejects(ml.append(null as unknown as AppendBatch), code('INVALID_ARGUMENT'));
    await assert.rejects(ml.append({ messages: [{ value: 'not bytes' as unknown as Uint8Array }] }), code('INVALID_ARGUMENT'));
    await assert.rejects(ml.appendEntry(new Uint8Array(40)), code('INVALID_ARGUMENT'));
    await assert.rejects(ml.read({ ledgerId: -1, entryId: 0 }), code('INVALID_ARGUMENT'));
    await assert.rejects(ml.read({ ledgerId: 1, entryId: 0 }), code('ENTRY_NOT_FOUND'));
    assert.equal(ml.lastConfirmed, undefined);
    assert.deepEqual(ml.ledgers().filter((l) => l.entries > 0), []);
    await ml.close();
    await ml.close();
    await assert.rejects(ml.append(batch('late')), code('CLOSED'));
  }, { maxEntryBytes: 4096 });
  await assert.rejects(async () => { await withLedger(async () => undefined, { maxEntries: 0 }); }, (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
});

test('data dir - a directory that is not a Millrace data dir is refused and left untouched', async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    assert.throws(() => Store.open(dir), (e: unknown) => e instanceof MillraceError && e.code === 'DATA_DIR_INVALID');
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
    assert.equal(readFileSync(join(dir, 'notes.txt'), 'utf8'), 'mine');
  } finally {
    removeDir(dir);
  }
});

test('data dir - a newer format version is refused before anything is opened', async () => {
  const dir = tempDir();
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'MILLRACE'), JSON.stringify({ format: 99, createdAt: 'future' }));
    assert.throws(() => Store.open(dir), (e: unknown) => e instanceof MillraceError && e.code === 'DATA_DIR_VERSION_UNSUPPORTED');
    assert.deepEqual(readdirSync(dir), ['MILLRACE']);
    writeFileSync(join(dir, 'MILLRACE'), 'garbage');
    assert.throws(() => Store.open(dir), (e: unknown) => e instanceof MillraceError && e.code === 'DATA_DIR_INVALID');
  } finally {
    removeDir(dir);
  }
});

test('log - async durability resolves appends and keeps them across a reopen', async () => {
  const dir = tempDir();
  try {
    let store = Store.open(dir, { durability: 'async' });
    let ml = await ManagedLedger.open(store, 'm');
    const rs = await Promise.all([ml.append(batch('a')), ml.append(batch('b'))]);
    await ml.close();
    await store.close();
    store = Store.open(dir);
    ml = await ManagedLedger.open(store, 'm');
    assert.deepEqual(ml.lastConfirmed, rs[1]!.position);
    await ml.close();
    await store.close();
    assert.throws(() => Store.open(dir, { durability: 'sometimes' as 'async' }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
  } finally {
    removeDir(dir);
  }
});
