/**
 * G4 across retention: a producer's resend after a crash is dropped as a duplicate even when the
 * ledgers that held the originals were consumed and deleted. Deduplication rebuilds its state from
 * its last snapshot plus the entries after it; the child is killed before any snapshot of its own
 * (one is taken every 5,000 entries, and on a clean close), so without a snapshot before each trim
 * the deleted entries' sequence IDs were gone and their resends stored again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Broker, type Durability } from '../../index.js';
import { CHILD_OPTIONS, DEDUP_TRIM_IDS } from '../fixtures/dedup-trim-options.js';
import { tempDir, removeDir } from '../util/tmp.js';

const CHILD = fileURLToPath(new URL('../fixtures/dedup-trim-child.js', import.meta.url));

function runUntilReadyThenKill(dir: string, topic: string, durability: Durability): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, topic, durability], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready\n')) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (!out.includes('ready\n')) return reject(new Error(`child never got ready (exit ${code ?? signal}): ${err}`));
      resolve();
    });
  });
}

for (const durability of ['durable', 'async'] as const) {
  test(`dedup - after a crash (${durability}), a resend of IDs whose ledgers were consumed and trimmed is dropped as a duplicate`, async () => {
    const dir = tempDir();
    const topic = 'persistent://public/default/dedup-trim';
    try {
      await runUntilReadyThenKill(dir, topic, durability);
      const broker = await Broker.open({ dataDir: dir, ...CHILD_OPTIONS, durability });
      try {
        const producer = await broker.createProducer({ topic, name: 'resender', batching: { maxMessages: 1 } });
        assert.equal(producer.lastSequenceId, DEDUP_TRIM_IDS - 1);
        const enc = new TextEncoder();
        const ids = [];
        for (let id = 0; id < DEDUP_TRIM_IDS; id++) ids.push(await producer.send({ value: enc.encode(String(id)), sequenceId: id }));
        const stored = ids.filter((id) => id.ledgerId >= 0).length;
        assert.equal(stored, 0, `${stored} of ${DEDUP_TRIM_IDS} resends stored again`);
        const consumer = await broker.subscribe({ topic, subscription: 'work', type: 'shared' });
        assert.equal(await consumer.receive({ timeoutMs: 500 }), null, 'nothing new reaches the subscription');
      } finally {
        await broker.close();
      }
    } finally {
      removeDir(dir);
    }
  });
}
