/**
 * G7 under crashes: a broker offloads sealed ledgers to a filesystem object store and deletes their
 * local copies as fast as its housekeeping runs, while a producer appends; the process is SIGKILLed
 * at random moments (mid-upload, between the upload and its record, mid-deletion). After every kill
 * the data dir is reopened (the restart resumes or restarts offloads) and read from the earliest:
 * every acknowledged message is there exactly once, in order, and every ledger recorded as offloaded
 * has its object. A few rounds by default, hundreds under `npm run test:soak`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, MessageId } from '../../index.js';
import { prng, runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

const CHILD = fileURLToPath(new URL('../fixtures/offload-crash-child.js', import.meta.url));
const TOPIC = 'persistent://public/default/offload-crash';

function runChild(dir: string, offloadDir: string, round: number, killAfterMs: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, offloadDir, String(round)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (timer === undefined && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') return reject(new Error(`child exited on its own (code ${code}): ${err}`));
      resolve([...out.matchAll(/^ack (\d+)$/gm)].map((m) => Number(m[1])));
    });
  });
}

test('crash - SIGKILL during offloads loses no acknowledged message; offloaded ledgers keep their objects (G7)', async (t) => {
  const seed = testSeed(20261126);
  const rounds = runs(5, 200);
  const rnd = prng(seed);
  const dir = tempDir('millrace-offload-crash');
  const offloadDir = tempDir('millrace-offload-crash-store');
  const acked = new Set<number>();
  let offloadedSeen = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      for (const s of await runChild(dir, offloadDir, round, 100 + Math.floor(rnd() * 500))) acked.add(s);
      const broker = await Broker.open({
        dataDir: dir, workers: 1, ledger: { maxEntries: 4 }, maintenanceIntervalMs: 3_600_000,
        tieredStorage: { driver: 'filesystem', path: offloadDir }, policies: { retention: { timeMs: -1, sizeBytes: -1 } },
      });
      try {
        const ledgers = Object.values(await broker.admin.internalStats(TOPIC))[0]!.ledgers;
        for (const l of ledgers) {
          if (l.state !== 'offloaded') continue;
          offloadedSeen++;
          assert.ok(l.offload?.complete, `ledger ${l.ledgerId} offloaded without a complete record (seed ${seed})`);
          assert.ok(existsSync(join(offloadDir, ...l.offload.key.split('/'))), `ledger ${l.ledgerId}'s object ${l.offload.key} is missing (seed ${seed})`);
        }
        const reader = await broker.createReader({ topic: TOPIC, startMessageId: MessageId.earliest, receiverQueueSize: 5000 });
        const seen = new Set<number>();
        let prev = -1;
        for (let m = await reader.readNext({ timeoutMs: 1500 }); m; m = await reader.readNext({ timeoutMs: 1500 })) {
          const s = Number(/-s(\d+)$/.exec(new TextDecoder().decode(m.data))![1]);
          assert.ok(s > prev, `sequence ${s} after ${prev}: out of order or stored twice (round ${round}, seed ${seed})`);
          prev = s;
          seen.add(s);
        }
        await reader.close();
        const lost = [...acked].filter((s) => !seen.has(s));
        assert.deepEqual(lost.slice(0, 10), [], `${lost.length} acknowledged messages lost after round ${round} (seed ${seed})`);
      } finally {
        await broker.close();
      }
    }
    assert.ok(acked.size > 0, 'the child acknowledged sends');
    assert.ok(offloadedSeen > 0, 'the rounds exercised offloads');
    t.diagnostic(`${rounds} SIGKILL rounds, seed ${seed}: ${acked.size} acknowledged messages checked, ${offloadedSeen} offloaded ledgers seen across checks`);
  } finally {
    removeDir(dir);
    removeDir(offloadDir);
  }
});
