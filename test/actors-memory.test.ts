import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { ActorSystem, Broker, MillraceError, type BrokerOptions } from '../index.js';
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

test('memory - Broker.open passes ringBytes and workerResourceLimits through; bad ones are typed errors that leave the dir unlocked', async () => {
  const dir = tempDir();
  try {
    for (const bad of [{ ringBytes: 1000 }, { ringBytes: -1 }, { workerResourceLimits: { maxYoungGenerationSizeMb: -1 } }] as Partial<BrokerOptions>[]) {
      await assert.rejects(Broker.open({ dataDir: dir, workers: 1, ...bad }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT', JSON.stringify(bad));
    }
    // Small rings: a 200 KiB batch is over 1/8 of 1 MiB and takes the cold path, and still arrives.
    const broker = await Broker.open({ dataDir: dir, workers: 1, ringBytes: 2 ** 20, workerResourceLimits: { maxYoungGenerationSizeMb: 8 } });
    try {
      const consumer = await broker.subscribe({ topic: 'rings', subscription: 's', initialPosition: 'earliest' });
      const producer = await broker.createProducer({ topic: 'rings' });
      await producer.send({ value: new Uint8Array(200 * 1024).fill(7) });
      await producer.send({ value: 'small' });
      const big = await consumer.receive({ timeoutMs: 5000 });
      const small = await consumer.receive({ timeoutMs: 5000 });
      assert.equal(big?.data.length, 200 * 1024);
      assert.equal(big?.data[1234], 7);
      assert.equal(new TextDecoder().decode(small?.data), 'small');
    } finally {
      await broker.close();
    }
  } finally {
    removeDir(dir);
  }
});
