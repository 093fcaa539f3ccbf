/**
 * G1 and G2 for the log core: a child process appends with many appends in flight and is SIGKILLed
 * at a random moment, repeatedly, on one data directory. After every kill, every acknowledged entry
 * must be present, byte-identical and in order, and the next run's IDs must be above every ID
 * stored before (never reused). Tens of rounds by default, a thousand under `npm run test:soak`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ManagedLedger, Store, comparePositions, formatPosition, type Position } from '../../core/index.js';
import { decodeEntry } from '../../wasm/index.js';
import { crashBatch } from '../fixtures/log-crash-batch.js';
import { prng, runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

const WRITER = fileURLToPath(new URL('../fixtures/log-crash-writer.js', import.meta.url));

interface Ack { position: Position; round: number; seq: number }

function runWriter(dir: string, round: number, maxEntries: number, killAfterMs: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, dir, String(round), String(maxEntries)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      // Kill at a random moment after the writer is ready (opening, recovery included when 0).
      if (timer === undefined && (killAfterMs === 0 || out.includes('ready\n'))) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited on its own (code ${code}): ${err}`));
      const acks: Ack[] = [];
      for (const line of out.split('\n')) {
        const m = /^ack (\d+) (\d+) (\d+) (\d+)$/.exec(line);
        if (m) acks.push({ position: { ledgerId: +m[1]!, entryId: +m[2]! }, round: +m[3]!, seq: +m[4]! });
      }
      resolve(acks);
    });
  });
}

test('crash - every acknowledged append survives SIGKILL, byte-identical, in order, IDs never reused', async (t) => {
  const seed = testSeed(20261125);
  const rounds = runs(24, 1000);
  const rnd = prng(seed);
  const dir = tempDir('millrace-crash');
  let stored: Position | undefined;
  let totalAcks = 0;
  const earlier: Ack[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      const killAfter = rnd() < 0.1 ? 0 : Math.floor(rnd() * 250);
      const acks = await runWriter(dir, round, 5 + Math.floor(rnd() * 40), killAfter);
      totalAcks += acks.length;
      const store = Store.open(dir);
      try {
        const ml = await ManagedLedger.open(store, 'crash');
        // Order and uniqueness of what this round added (reading only the new part keeps a
        // thousand-round soak linear, not quadratic).
        const byPos = new Map<string, Uint8Array>();
        let prev: Position | undefined = stored;
        for (let from: Position = stored ? { ledgerId: stored.ledgerId, entryId: stored.entryId + 1 } : { ledgerId: 0, entryId: 0 }; ;) {
          const batch = await ml.readRange(from, { maxEntries: 500 });
          if (batch.length === 0) break;
          for (const r of batch) {
            if (prev) assert.ok(comparePositions(r.position, prev) > 0, `positions out of order at ${formatPosition(r.position)} (seed ${seed})`);
            prev = r.position;
            byPos.set(formatPosition(r.position), r.entry);
          }
          const last = batch[batch.length - 1]!.position;
          from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
        }
        // Entries acknowledged in earlier rounds are still there, byte-identical: spot-check a sample.
        for (const a of earlier) {
          const { entry } = await ml.read(a.position);
          assert.deepEqual(new Uint8Array(decodeEntry(entry).messages[0]!.value!), crashBatch(a.round, a.seq).messages[0]!.value,
            `an entry acknowledged in round ${a.round} changed (seed ${seed})`);
        }
        let lastAck: Ack | undefined;
        for (const a of acks.sort((x, y) => x.seq - y.seq)) {
          const entry = byPos.get(formatPosition(a.position));
          assert.ok(entry, `round ${round}: acknowledged entry ${formatPosition(a.position)} (seq ${a.seq}) is missing (seed ${seed})`);
          const want = crashBatch(a.round, a.seq);
          const got = decodeEntry(entry);
          assert.equal(got.count, want.messages.length, `round ${round}: entry ${formatPosition(a.position)} has the wrong count (seed ${seed})`);
          got.messages.forEach((m, i) => {
            assert.deepEqual(new Uint8Array(m.value!), want.messages[i]!.value, `round ${round}: value differs at ${formatPosition(a.position)}#${i} (seed ${seed})`);
            assert.equal(m.sequenceId, want.messages[i]!.sequenceId);
          });
          if (lastAck) assert.ok(comparePositions(a.position, lastAck.position) > 0, `round ${round}: acks out of call order (seed ${seed})`);
          if (stored) assert.ok(comparePositions(a.position, stored) > 0, `round ${round}: ID ${formatPosition(a.position)} reused (at or below ${formatPosition(stored)}) (seed ${seed})`);
          lastAck = a;
        }
        if (acks.length > 0) earlier.push(acks[Math.floor(rnd() * acks.length)]!, acks[acks.length - 1]!);
        if (earlier.length > 64) earlier.splice(0, earlier.length - 64);
        stored = ml.lastConfirmed ?? stored;
        await ml.close();
      } finally {
        await store.close();
      }
    }
    t.diagnostic(`${rounds} SIGKILL rounds, ${totalAcks} acknowledged appends checked, seed ${seed}`);
    assert.ok(totalAcks > 0, 'the writers acknowledged nothing: the test checked nothing');
  } finally {
    removeDir(dir);
  }
});
