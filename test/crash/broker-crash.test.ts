/**
 * G1, G2, G4 (and at-least-once, no redelivery after ack, per-key order) for the whole broker: a
 * child process runs a producer with deduplication, Shared and Key_Shared consumers that ack, and a
 * reader, over ledgers that roll over every few entries, and is SIGKILLed at a random moment
 * (while opening and recovering, too), again and again on one data directory. Each round resends
 * the sends whose outcome it never learned. After every kill the history recorded so far must hold
 * no anomaly; after the last, the parent drains both subscriptions and reads everything, and then
 * nothing acknowledged may be missing, in both durability modes. Epochs of rounds on fresh directories keep a thousand-round
 * soak (`npm run test:soak`) linear.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageId, type Durability } from '../../index.js';
import { checkHistory, fileSink, HistoryRecorder, readHistoryFile } from '../../testkit/index.js';
import { CRASH_TOPIC, crashConsumers, openCrashBroker } from '../fixtures/broker-crash-workload.js';
import { prng, runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

const CHILD = fileURLToPath(new URL('../fixtures/broker-crash-child.js', import.meta.url));

function runChild(dir: string, history: string, round: number, maxEntries: number, killAfterMs: number, durability: Durability): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, history, String(round), String(maxEntries), durability], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      timer ??= setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    };
    // A kill delay of 0 lands while the broker opens and recovers; others once it is running.
    if (killAfterMs === 0) arm();
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) arm();
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`crash child exited on its own (code ${code}): ${err}`));
      resolve();
    });
  });
}

/** Drains both subscriptions and reads the whole topic, recording into the same history. */
async function finalDrain(dir: string, history: string, maxEntries: number, durability: Durability): Promise<void> {
  const sink = fileSink(history);
  const rec = new HistoryRecorder({ sink, keep: false });
  const broker = await openCrashBroker({ dataDir: dir, maxEntries, durability });
  try {
    const consumers = [...await crashConsumers(broker, rec, 'q', 500), ...await crashConsumers(broker, rec, 'ks', 500)];
    for (let idle = 0; idle < 3;) {
      let got = 0;
      for (const c of consumers) {
        for (let m = await c.receive({ timeoutMs: 300 }); m; m = await c.receive({ timeoutMs: 100 })) {
          got++;
          await c.ack(m);
        }
      }
      idle = got === 0 ? idle + 1 : 0;
    }
    const reader = rec.reader(await broker.createReader({ topic: CRASH_TOPIC, startMessageId: MessageId.earliest }), { name: 'final-reader', initialPosition: 'earliest' });
    while (await reader.readNext({ timeoutMs: 500 }));
  } finally {
    await broker.close();
    sink.close();
  }
}

/**
 * One soak over `epochs` fresh directories. In `async` durability nothing on the commit path is
 * flushed, so this shows what that mode promises: a process crash loses nothing acknowledged,
 * because the OS still holds every page written.
 */
async function crashSoak(t: { diagnostic(msg: string): void }, durability: Durability, seed: number, epochs: number, roundsPerEpoch: number): Promise<void> {
  const rnd = prng(seed);
  let totals = { sendsOk: 0, sendsUnknown: 0, unknownRecovered: 0, receives: 0, acks: 0 };
  for (let epoch = 0; epoch < epochs; epoch++) {
    const dir = tempDir('millrace-broker-crash');
    const history = join(dir, 'history.jsonl');
    const maxEntries = 2 + Math.floor(rnd() * 6);
    try {
      for (let round = 0; round < roundsPerEpoch; round++) {
        const killAfter = rnd() < 0.15 ? 0 : Math.floor(rnd() * 600);
        await runChild(join(dir, 'data'), history, round, maxEntries, killAfter, durability);
        // Not drained yet: everything but the lost check must already hold.
        const r = checkHistory(readHistoryFile(history), { checkLost: false });
        assert.ok(r.valid, `${durability} epoch ${epoch} round ${round} (kill after ${killAfter} ms, maxEntries ${maxEntries}, seed ${seed}):\n${r.format()}`);
      }
      await finalDrain(join(dir, 'data'), history, maxEntries, durability);
      const readers = new Set<string>();
      for (let round = 0; round < roundsPerEpoch; round++) readers.add(`reader-${round}`);
      const r = checkHistory(readHistoryFile(history), { partialSubscriptions: readers });
      assert.ok(r.valid, `${durability} epoch ${epoch} after the final drain (maxEntries ${maxEntries}, seed ${seed}):\n${r.format()}`);
      assert.ok(r.stats.sendsOk > 0, 'no send was acknowledged: the test checked nothing');
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += r.stats[k];
    } finally {
      removeDir(dir);
    }
  }
  t.diagnostic(`${durability}: ${epochs * roundsPerEpoch} SIGKILL rounds, seed ${seed}: ${JSON.stringify(totals)}`);
}

test('crash - SIGKILL of the broker under load, at random moments and mid-rollover: the history holds no lost, duplicated, reordered or phantom message', async (t) => {
  await crashSoak(t, 'durable', testSeed(20261201), runs(1, 40), runs(8, 25));
});

test('crash - in async durability (no flush on the commit path), SIGKILL still loses nothing acknowledged', async (t) => {
  await crashSoak(t, 'async', testSeed(20261125), runs(1, 20), runs(6, 25));
});
