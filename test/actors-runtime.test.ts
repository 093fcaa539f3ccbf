import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ActorSystem, PartitionClient, ManagedLedger, Store, MillraceError, comparePositions, type Position } from '../index.js';
import { decodeEntry } from '../wasm/index.js';
import { OP_LAST_POSITION } from '../actors/partition/partition-protocol.js';
import { OP_QUIET_REPLY } from '../actors/host/protocol.js';
import { tempDir, removeDir } from './util/tmp.js';

const enc = new TextEncoder();

// Every system a test opens is closed after it, also when an assertion failed half-way: an open
// pool would keep the test process alive.
const opened: ActorSystem[] = [];
function track(sys: ActorSystem): ActorSystem {
  opened.push(sys);
  return sys;
}
afterEach(async () => {
  for (const sys of opened.splice(0)) await sys.close();
});
// No sequence IDs: these batches test the runtime, not producer deduplication.
const batch = (tag: string, n = 10) => ({ producerName: enc.encode('rt'), messages: Array.from({ length: n }, (_, i) => ({ value: enc.encode(`${tag}-${i}`) })) });

test('actors - appends through the ring reach the partition ledger durably and read back', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 2 }));
    const parts = await Promise.all([0, 1, 2, 3].map((i) => PartitionClient.spawn(sys, `rt-partition-${i}`)));
    // Placement spreads the partitions evenly over the hosts.
    assert.deepEqual(new Set(parts.map((p) => sys.hostOf(p.ref))).size, 2);
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => parts[i % 4]!.append(batch(`m${i}`))));
    for (let p = 0; p < 4; p++) {
      const mine = results.filter((_, i) => i % 4 === p).map((r) => r.position);
      mine.slice(1).forEach((pos, i) => assert.ok(comparePositions(pos, mine[i]!) > 0, 'positions of one partition follow call order'));
      const read = await parts[p]!.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 100 });
      assert.equal(read.length, 50);
      assert.equal(new TextDecoder().decode(decodeEntry(read[0]!.entry).messages[3]!.value!), `m${p}-3`);
    }
    const s = await parts[0]!.stats();
    assert.equal(s.entries, 50);
    await sys.close();
    await sys.close();
    await assert.rejects(parts[0]!.append(batch('late')), (e: unknown) => e instanceof MillraceError && e.code === 'CLOSED');
    // What the actors wrote is in the data dir's LMDB files, readable without the runtime.
    const store = Store.open(dir);
    const ml = await ManagedLedger.open(store, 'rt-partition-2');
    assert.equal(ml.stats().entries, 50);
    await ml.close();
    await store.close();
  } finally {
    removeDir(dir);
  }
});

test('actors - placement puts each new actor on the host with the fewest; a topic whose names all hash to one host is still spread evenly', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 2 }));
    // Rendezvous hashing alone put all four of these on one host.
    const names = [0, 1, 2, 3].map((i) => `persistent://public/default/events-partition-${i}`);
    const parts = await Promise.all(names.map((n) => PartitionClient.spawn(sys, n)));
    const hosts = parts.map((p) => sys.hostOf(p.ref));
    assert.deepEqual([hosts.filter((h) => h === 0).length, hosts.filter((h) => h === 1).length], [2, 2], hosts.join());
    // Spawned one at a time (as topics are created over a broker's life), they alternate.
    const more = [];
    for (let i = 0; i < 6; i++) more.push(sys.hostOf((await PartitionClient.spawn(sys, `later-${i}`)).ref));
    assert.deepEqual([more.filter((h) => h === 0).length, more.filter((h) => h === 1).length], [3, 3], more.join());
    await sys.close();
  } finally {
    removeDir(dir);
  }
});

test('actors - a batch larger than a ring record travels the cold path and still lands', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 1, ringBytes: 64 * 1024 }));
    const p = await PartitionClient.spawn(sys, 'big');
    const big = { messages: [{ value: new Uint8Array(200_000).fill(7) }] };
    const r = await p.append(big);
    const [back] = await p.readRange(r.position, { maxEntries: 1 });
    assert.equal(decodeEntry(back!.entry).messages[0]!.value!.length, 200_000);
    await sys.close();
  } finally {
    removeDir(dir);
  }
});

test('actors - requests waiting for room in a full ring when their host dies reject with WORKER_DIED; nothing is left unhandled', async () => {
  const dir = tempDir();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => {
    unhandled.push(reason);
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    // 64 KiB rings: 7 KB appends fill the request ring and wait for room; 200 KB ones go in fragments
    // and wait part-written. Their pending replies were rejected by the slot's failure before anyone
    // awaited them: an unhandled rejection, which ends a Node process.
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 2, ringBytes: 2 ** 16 }));
    const p = await PartitionClient.spawn(sys, 'full-ring-dies');
    const restarted = new Promise<void>((resolve) => sys.onRestart(p.ref, resolve));
    const outcomes: Promise<string>[] = [];
    for (let i = 0; i < 300; i++) {
      const value = new Uint8Array(i % 3 === 0 ? 200_000 : 7_000).fill(i & 0xff);
      outcomes.push(p.append({ messages: [{ value }] }).then(() => 'ok', (e: unknown) => (e instanceof MillraceError ? e.code : String(e))));
      if (i === 150) sys.crashHost(sys.hostOf(p.ref), 'exit');
    }
    const codes = new Set(await Promise.all(outcomes));
    assert.ok([...codes].every((c) => c === 'ok' || c === 'WORKER_DIED'), [...codes].join());
    assert.ok(codes.has('WORKER_DIED'), 'the requests in flight when the host died failed');
    await restarted;
    const after = await p.append({ messages: [{ value: new Uint8Array(200_000).fill(9) }] });
    const [back] = await p.readRange(after.position, { maxEntries: 1 });
    assert.equal(decodeEntry(back!.entry).messages[0]!.value![199_999], 9);
    // Any unhandled rejection surfaces within a turn or two of the failure.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    removeDir(dir);
  }
});

test('actors - a newer long poll with the same reader key ends the parked one at once, empty; other keys wait on; endPoll ends one', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 1 }));
    const p = await PartitionClient.spawn(sys, 'polls');
    const a = await p.append(batch('a', 1));
    const end = { ledgerId: a.position.ledgerId, entryId: a.position.entryId + 1 };
    // Requests reach the actor in order: the second read of key 7 ends the first before the append.
    const first = p.readRange(end, { waitMs: 60_000, pollKey: 7 });
    const other = p.readRange(end, { waitMs: 60_000, pollKey: 8 });
    const second = p.readRange(end, { waitMs: 60_000, pollKey: 7 });
    const b = await p.append(batch('b', 1));
    assert.deepEqual(await first, [], 'the superseded poll ended empty instead of reading the append');
    for (const r of [await second, await other]) assert.deepEqual(r.map((e) => e.position), [b.position]);
    // A reader that closes ends its parked poll the same way (maxEntries 0 with its key).
    const after = { ledgerId: b.position.ledgerId, entryId: b.position.entryId + 1 };
    const parked = p.readRange(after, { waitMs: 60_000, pollKey: 9 });
    await p.endPoll(9);
    await p.endPoll(12345); // no poll under that key: nothing to end
    const c = await p.append(batch('c', 1));
    assert.deepEqual(await parked, [], 'the ended poll did not read the append');
    assert.deepEqual((await p.readRange(after, { maxEntries: 10 })).map((e) => e.position), [c.position]);
    await sys.close();
  } finally {
    removeDir(dir);
  }
});

test('actors - bad input gets a typed error and the host keeps serving', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 1 }));
    const p = await PartitionClient.spawn(sys, 'bad');
    await assert.rejects(p.append({ messages: [] }), (e: unknown) => e instanceof MillraceError && e.code === 'BATCH_EMPTY');
    await assert.rejects(sys.spawn('nope', 'x'), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
    await assert.rejects(p.readRange({ ledgerId: -1, entryId: 0 }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
    assert.equal((await p.append(batch('ok'))).count, 10);
    await sys.close();
    await assert.rejects(ActorSystem.open({ dataDir: dir, workers: 0 }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
  } finally {
    removeDir(dir);
  }
});

test('actors - a reply read in place by a decoder: the same bytes as the copied body; a decoder that throws rejects its request only', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 1 }));
    const p = await PartitionClient.spawn(sys, 'decoded');
    await p.append(batch('x', 3));
    const none = (): void => undefined;
    const copied = await sys.request(p.ref, OP_LAST_POSITION, 0, none);
    const inPlace = await sys.request(p.ref, OP_LAST_POSITION, 0, none, (v, at, length) => new Uint8Array(v.buffer, v.byteOffset + at, length).slice());
    assert.ok(copied.length > 0);
    assert.deepEqual(inPlace, copied);
    const bad = new MillraceError('INVALID_ARGUMENT', 'a decoder refused the reply');
    await assert.rejects(sys.request(p.ref, OP_LAST_POSITION, 0, none, () => {
      throw bad;
    }), (e: unknown) => e === bad);
    // The thread's reply pump went on: later requests, and the append path that decodes in place, still answer.
    assert.equal((await p.append(batch('y', 4))).count, 4);
    assert.deepEqual(await sys.request(p.ref, OP_LAST_POSITION, 0, none, (_v, _at, length) => length), copied.length);
  } finally {
    removeDir(dir);
  }
});

// Keeps what it stores: a restart's recovery seals the ledger, which default retention would trim.
const KEEP_ALL_CONFIG = { policies: { retention: { timeMs: -1, sizeBytes: -1 } } };

test('actors - a quiet reply (OP_QUIET_REPLY) reaches its request without waking the client thread; a loud one wakes it', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 1 }));
    const p = await PartitionClient.spawn(sys, 'rt-quiet');
    const last = await sys.request(p.ref, OP_LAST_POSITION, 0, () => undefined);
    // The client thread's doorbell: word 0 counts the wake-ups hosts gave it (actors/host/doorbell.ts).
    const bell = new Int32Array((sys as unknown as { endpoint: { bell: { buffer: SharedArrayBuffer } } }).endpoint.bell.buffer);
    const wakes = (): number => Atomics.load(bell, 0);
    const before = wakes();
    // Each request waits for its reply: the client parks meanwhile, and a reply that rang would wake it.
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(await sys.request(p.ref, OP_LAST_POSITION | OP_QUIET_REPLY, 0, () => undefined), last, 'a quiet reply is the same reply');
    }
    assert.equal(wakes(), before, 'no quiet reply woke the client');
    let loud = 0;
    for (let i = 0; i < 20; i++) {
      const w = wakes();
      await sys.request(p.ref, OP_LAST_POSITION, 0, () => undefined);
      if (wakes() > w) loud++;
    }
    // A loud reply wakes the client when it finds it parked (not when it is still polling).
    assert.ok(loud > 0, 'loud replies woke the parked client');
  } finally {
    removeDir(dir);
  }
});

test('actors - moving an actor to another host keeps its ledger and its IDs', async () => {
  const dir = tempDir();
  try {
    const sys = track(await ActorSystem.open({ dataDir: dir, workers: 2 }));
    const p = await PartitionClient.spawn(sys, 'mover', KEEP_ALL_CONFIG);
    const a = await p.append(batch('before'));
    const from = sys.hostOf(p.ref);
    await sys.move(p.ref, 1 - from);
    assert.equal(sys.hostOf(p.ref), 1 - from);
    const b = await p.append(batch('after'));
    assert.ok(comparePositions(b.position, a.position) > 0);
    assert.equal((await p.readRange({ ledgerId: 0, entryId: 0 })).length, 2);
    await sys.close();
  } finally {
    removeDir(dir);
  }
});

for (const how of ['exit', 'throw'] as const) {
  test(`supervision - a worker killed (${how}) mid-stream loses no acknowledged append; the stream resumes with higher IDs`, async () => {
    const dir = tempDir();
    try {
      const sys = track(await ActorSystem.open({ dataDir: dir, workers: 2 }));
      const p = await PartitionClient.spawn(sys, 'victim', KEEP_ALL_CONFIG);
      const acked: { position: Position; tag: string }[] = [];
      let died = 0;
      let i = 0;
      const stopAt = Date.now() + 1500;
      setTimeout(() => sys.crashHost(sys.hostOf(p.ref), how), 300);
      await Promise.all(Array.from({ length: 16 }, async () => {
        while (Date.now() < stopAt) {
          const tag = `s${i++}`;
          try {
            const r = await p.append(batch(tag, 5));
            acked.push({ position: r.position, tag });
          } catch (err) {
            assert.ok(err instanceof MillraceError && err.retriable, `a failure must be retriable, got ${String(err)}`);
            assert.equal(err.code, 'WORKER_DIED');
            died++;
            await new Promise((r) => setTimeout(r, 5));
          }
        }
      }));
      assert.ok(died > 0, 'the crash should have failed some in-flight appends');
      const after = acked.filter((a) => a.position.ledgerId > 1);
      assert.ok(after.length > 0, 'appends resumed after the worker died');
      // Every acknowledged append is in the log, with the content it was acknowledged for.
      const read = new Map<string, string>();
      for (let from: Position = { ledgerId: 0, entryId: 0 }; ;) {
        const rs = await p.readRange(from, { maxEntries: 500 });
        if (rs.length === 0) break;
        for (const r of rs) read.set(`${r.position.ledgerId}:${r.position.entryId}`, new TextDecoder().decode(decodeEntry(r.entry).messages[0]!.value!));
        const last = rs.at(-1)!.position;
        from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
      }
      for (const a of acked) assert.equal(read.get(`${a.position.ledgerId}:${a.position.entryId}`), `${a.tag}-0`);
      const positions = [...acked].map((a) => a.position).sort(comparePositions);
      positions.slice(1).forEach((pos, k) => assert.ok(comparePositions(pos, positions[k]!) > 0, 'IDs unique'));
      await sys.close();
    } finally {
      removeDir(dir);
    }
  });
}

test('shutdown - a script that opens, uses and closes the runtime exits by itself', () => {
  const dir = tempDir();
  try {
    const script = fileURLToPath(new URL('./fixtures/actors-open-close.js', import.meta.url));
    const r = spawnSync(process.execPath, [script, dir], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(r.signal, null, `the script did not exit by itself within 20 s: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^appended 1:0$/m);
  } finally {
    removeDir(dir);
  }
});

test('shutdown - an open that fails (a bad ring size, workers that die starting) is a typed error and leaves nothing running', () => {
  const dir = tempDir();
  try {
    // The bad ring size left the pool and its control ports open; the dying workers crashed the
    // process with the pool's unhandled 'error' event.
    const script = fileURLToPath(new URL('./fixtures/actors-open-close.js', import.meta.url));
    const r = spawnSync(process.execPath, [script, dir, 'failed-open'], { timeout: 30_000, encoding: 'utf8' });
    assert.equal(r.signal, null, `the script did not exit by itself within 30 s: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^failed INVALID_ARGUMENT WORKER_DIED$/m);
  } finally {
    removeDir(dir);
  }
});
