/**
 * lmdb-js's bookkeeping of an async write dies young once the write is settled. Without the
 * unlinking in core/storage/unlink-resolved-writes.ts each write, one commit each, left 800-990
 * bytes in the old generation here (all of it copied by a young-generation collection first), which
 * made a durable host worker's scavenges three times longer; with it, 13-120.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tempDir, removeDir } from './util/tmp.js';

const CHILD = fileURLToPath(new URL('./fixtures/write-bookkeeping.js', import.meta.url));
/** Well above what other promotions leave per write, well below the leak. */
const MAX_PROMOTED_PER_WRITE = 300;
// A full collection would free what was promoted and void the figure: none is asked for (no memory
// reducer, room in the old generation), and a run that had one anyway is made again.
const FLAGS = ['--expose-gc', '--trace-gc', '--no-memory-reducer', '--initial-old-space-size=64'];
const ATTEMPTS = 3;

interface Measure { promotedPerWrite: number; last: number; fullCollections: number }

function measure(durability: 'durable' | 'async', writes: number): Measure {
  const dir = tempDir();
  try {
    const r = spawnSync(process.execPath, [...FLAGS, CHILD, dir, durability, String(writes)], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const from = lines.indexOf('measuring');
    const to = lines.indexOf('measured');
    assert.ok(from >= 0 && to > from, r.stdout);
    const fullCollections = lines.slice(from, to).filter((l) => /Mark-(Compact|Sweep|sweep)/.test(l)).length;
    const result = JSON.parse(lines.find((l) => l.startsWith('{'))!) as Omit<Measure, 'fullCollections'>;
    return { ...result, fullCollections };
  } finally {
    removeDir(dir);
  }
}

for (const [durability, writes] of [['durable', 800], ['async', 2000]] as const) {
  test(`storage - settled async writes leave no bookkeeping in the old generation (${durability})`, () => {
    let m = measure(durability, writes);
    for (let attempt = 1; attempt < ATTEMPTS && m.fullCollections > 0; attempt++) m = measure(durability, writes);
    assert.equal(m.fullCollections, 0, `a full collection ran in each of ${ATTEMPTS} runs`);
    assert.equal(m.last, writes - 1, 'the last write is read back');
    assert.ok(m.promotedPerWrite < MAX_PROMOTED_PER_WRITE, `${m.promotedPerWrite.toFixed(0)} bytes of old generation per write`);
  });
}
