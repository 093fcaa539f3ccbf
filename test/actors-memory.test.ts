import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ActorSystem, MillraceError } from '../index.js';
import { DEFAULTS } from '../core/defaults.js';
import { tempDir, removeDir } from './util/tmp.js';

const LIMITS_KIND = { limits: new URL('./fixtures/worker-limits-actor.js', import.meta.url).href };

const opened: ActorSystem[] = [];
afterEach(async () => {
  for (const sys of opened.splice(0)) await sys.close();
});

/** The limits of the worker hosting the probe actor; `busy`: after 200 ms of allocation there. */
async function workerLimits(sys: ActorSystem, busy = false): Promise<{ resourceLimits: Record<string, number>; newSpaceMb: number }> {
  const ref = await sys.spawn('limits', 'probe');
  return JSON.parse(new TextDecoder().decode(await sys.request(ref, busy ? 2 : 1, 0, () => undefined))) as { resourceLimits: Record<string, number>; newSpaceMb: number };
}

test('memory - host workers run with the default young-generation cap, so a busy worker keeps no 32 MB young generation', async () => {
  const dir = tempDir();
  try {
    const sys = await ActorSystem.open({ dataDir: dir, workers: 1, kinds: LIMITS_KIND });
    opened.push(sys);
    const r = await workerLimits(sys, true);
    assert.equal(r.resourceLimits.maxYoungGenerationSizeMb, DEFAULTS.workerMaxYoungGenerationSizeMb);
    // Uncapped, this load grows it to 32 MB.
    assert.ok(r.newSpaceMb <= DEFAULTS.workerMaxYoungGenerationSizeMb, `new space ${r.newSpaceMb} MB`);
  } finally {
    removeDir(dir);
  }
});

test('memory - workerResourceLimits override the default and add limits; a replacement worker gets them too', async () => {
  const dir = tempDir();
  try {
    const sys = await ActorSystem.open({ dataDir: dir, workers: 1, kinds: LIMITS_KIND, workerResourceLimits: { maxYoungGenerationSizeMb: 8, maxOldGenerationSizeMb: 512 } });
    opened.push(sys);
    const r = await workerLimits(sys);
    assert.equal(r.resourceLimits.maxYoungGenerationSizeMb, 8);
    assert.equal(r.resourceLimits.maxOldGenerationSizeMb, 512);
    // Supervision starts the replacement from the same pool options.
    const ref = await sys.spawn('limits', 'probe');
    const restarted = new Promise<void>((resolve) => sys.onRestart(ref, resolve));
    sys.crashHost(0, 'exit');
    await restarted;
    assert.equal((await workerLimits(sys)).resourceLimits.maxYoungGenerationSizeMb, 8);
  } finally {
    removeDir(dir);
  }
});

test('memory - bad workerResourceLimits are a typed error, not a pool that fails later', async () => {
  const dir = tempDir();
  try {
    for (const bad of [{ maxYoungGenerationSizeMb: -1 }, { maxYoungGenerationSizeMb: Number.NaN }, { heapMb: 10 }, 'big'] as unknown[]) {
      await assert.rejects(
        ActorSystem.open({ dataDir: dir, workers: 1, workerResourceLimits: bad as never }),
        (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT',
        JSON.stringify(bad),
      );
    }
  } finally {
    removeDir(dir);
  }
});
