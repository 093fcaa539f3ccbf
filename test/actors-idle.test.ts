import { test } from 'node:test';
import { availableParallelism } from 'node:os';
import assert from 'node:assert/strict';
import { Broker, MillraceError } from '../index.js';
import { IdleGate, SpinToken, usableCores, type CpuCounters } from '../actors/host/idle-strategy.js';
import { tempDir, removeDir } from './util/tmp.js';

/** A hand-moved clock, and CPU counters read against it: each read reports the next step's busy times. */
function scripted(steps: { processMs: number; idleMs: number }[]) {
  const clock = { now: 0 };
  let i = 0;
  let processMs = 0;
  let idleMs = 0;
  const read = (): CpuCounters => {
    const s = steps[Math.min(i++, steps.length - 1)]!;
    processMs += s.processMs;
    idleMs += s.idleMs;
    return { wallMs: clock.now, processMs, idleMs };
  };
  return { clock, read, now: () => clock.now };
}

const never = (): boolean => false;

test('idle strategy - park never spins, and no strategy spins without recent work', () => {
  assert.equal(new IdleGate('park', undefined).spin(performance.now(), never), undefined);
  for (const strategy of ['spin', 'adaptive'] as const) {
    const s = scripted([{ processMs: 0, idleMs: 200 }]);
    const gate = new IdleGate(strategy, undefined, s.read, 2, s.now);
    s.clock.now = 1000;
    assert.equal(gate.spin(1000 - 50, never), undefined, `${strategy}: work 50 ms ago`);
  }
});

test('idle strategy - spin polls until work comes, or a slice ends', () => {
  const gate = new IdleGate('spin', undefined);
  let polls = 0;
  assert.equal(gate.spin(performance.now(), () => ++polls === 5), true);
  assert.equal(polls, 5);
  const t = performance.now();
  assert.equal(gate.spin(performance.now(), never), false, 'a slice without work ends, so the event loop gets a turn');
  assert.ok(performance.now() - t < 20, 'a slice is short');
});

test('idle strategy - a slice lasts about its length once the checks are fitted', () => {
  // A host whose writes commit on its own thread yields to its event loop ten times less often.
  const sliceMs = 2;
  const gate = new IdleGate('spin', undefined, undefined, undefined, undefined, sliceMs);
  const took: number[] = [];
  for (let i = 0; i < 150; i++) {
    const t = performance.now();
    assert.equal(gate.spin(performance.now(), never), false);
    took.push(performance.now() - t);
  }
  // Being descheduled only lengthens a slice: the longest of the last ten is a fitted one or longer.
  const longest = Math.max(...took.slice(-10));
  assert.ok(longest >= sliceMs * 0.6, `slices fitted to ${sliceMs} ms took at most ${longest.toFixed(3)} ms`);
  assert.ok(longest < 1000, `a slice ends (${longest.toFixed(0)} ms)`);
});

test('idle strategy - adaptive spins only while a core is spare', () => {
  // Two cores, measured every 100 ms: first no decision yet; then the process uses 0.3 cores and
  // the machine has 1.7 idle: spin; then other work takes 1.5 cores: park; then another process
  // takes the machine (1.8 busy, though this one uses 0.2): park.
  const s = scripted([{ processMs: 0, idleMs: 200 }, { processMs: 30, idleMs: 170 }, { processMs: 150, idleMs: 50 }, { processMs: 20, idleMs: 20 }]);
  const gate = new IdleGate('adaptive', undefined, s.read, 2, s.now);
  assert.equal(gate.spin(s.clock.now, never), undefined, 'nothing measured yet: park');
  s.clock.now += 100;
  assert.equal(gate.spin(s.clock.now, never), false, '1.7 cores idle: spin (a slice, no work)');
  s.clock.now += 50;
  assert.equal(gate.spin(s.clock.now, never), false, 'the decision holds until the next measurement');
  s.clock.now += 50;
  assert.equal(gate.spin(s.clock.now, never), undefined, '0.5 cores idle: park');
  s.clock.now += 100;
  assert.equal(gate.spin(s.clock.now, never), undefined, 'the machine is busy with another process: park');
});

test('idle strategy - adaptive never spins with one usable core, however idle', () => {
  const s = scripted([{ processMs: 0, idleMs: 100 }, { processMs: 1, idleMs: 99 }]);
  const gate = new IdleGate('adaptive', undefined, s.read, 1, s.now);
  assert.equal(gate.spin(s.clock.now, never), undefined);
  s.clock.now += 100;
  assert.equal(gate.spin(s.clock.now, never), undefined, 'the thread it waits for would need the only core');
});

test('idle strategy - adaptive counts its own spinning as idle, not as load', () => {
  // After a measurement that says spin, this thread spins for 100 ms; the next measurement shows
  // the process 1.5 cores busy and the machine 0.5 idle. Less its own spinning that is 0.5 busy and
  // 1.5 idle: it keeps spinning (counted as load, it would always talk itself out of spinning).
  const s = scripted([{ processMs: 0, idleMs: 200 }, { processMs: 30, idleMs: 170 }, { processMs: 150, idleMs: 50 }]);
  const gate = new IdleGate('adaptive', undefined, s.read, 2, s.now);
  assert.equal(gate.spin(s.clock.now, never), undefined);
  s.clock.now += 100;
  const t = performance.now();
  while (performance.now() - t < 100) assert.equal(gate.spin(s.clock.now, never), false);
  s.clock.now += 100;
  assert.equal(gate.spin(s.clock.now, never), false);
});

test('idle strategy - adaptive: one thread spins at a time, parking gives the token back; spin: every thread', () => {
  const token = SpinToken.create();
  // Two adaptive gates on an idle machine (after a first measurement, both would spin).
  const gates = [1, 2].map((holder) => {
    const s = scripted([{ processMs: 0, idleMs: 200 }, { processMs: 10, idleMs: 190 }]);
    const gate = new IdleGate('adaptive', { token, holder }, s.read, 2, s.now);
    assert.equal(gate.spin(s.clock.now, never), undefined, 'nothing measured yet');
    s.clock.now += 100;
    return { gate, s };
  });
  const [a, b] = gates as [typeof gates[0], typeof gates[0]];
  assert.equal(a.gate.spin(a.s.clock.now, never), false, 'a takes the token and spins a slice');
  assert.equal(b.gate.spin(b.s.clock.now, never), undefined, 'b parks while a holds it');
  assert.equal(a.gate.spin(a.s.clock.now - 50, never), undefined, 'a, without recent work, parks and gives it back');
  assert.equal(b.gate.spin(b.s.clock.now, never), false, 'now b spins');
  // Under 'spin' the deployer gave the broker its cores: no token limit.
  // Its own scripted clock: with the real one, a thread descheduled between reading the time and
  // the gate's check (a loaded machine) saw its work as not recent, and the gate parked.
  const cs = scripted([{ processMs: 0, idleMs: 200 }]);
  const c = new IdleGate('spin', { token, holder: 3 }, cs.read, 2, cs.now);
  assert.equal(c.spin(cs.clock.now, never), false, 'a spin gate spins while b holds the token');
  // Releasing for a holder that has not got it (a dead host's ID, released by the system) frees nothing.
  token.release(1);
  assert.equal(a.gate.spin(a.s.clock.now, never), undefined, 'b still holds it');
  token.release(2);
  assert.equal(a.gate.spin(a.s.clock.now, never), false, 'released by its holder, a takes it');
});

test('idle strategy - the usable cores are positive (a cgroup quota may be a fraction) and at most the scheduler count', () => {
  const n = usableCores();
  assert.ok(n > 0 && n <= availableParallelism(), `usable cores ${n} of ${availableParallelism()}`);
});

test('idle strategy - Broker.open rejects an unknown strategy, and each strategy serves end to end', async () => {
  const dir = tempDir();
  try {
    await assert.rejects(Broker.open({ dataDir: dir, idleStrategy: 'fast' as never }), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT' && /idleStrategy/.test(e.message));
    for (const idleStrategy of ['adaptive', 'spin', 'park'] as const) {
      const broker = await Broker.open({ dataDir: dir, idleStrategy, workers: 1 });
      try {
        const topic = `idle-${idleStrategy}`;
        const consumer = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
        const producer = await broker.createProducer({ topic, batching: { enabled: false } });
        for (let i = 0; i < 50; i++) await producer.send({ value: `m${i}` });
        const got: string[] = [];
        for (let i = 0; i < 50; i++) {
          const m = await consumer.receive({ timeoutMs: 5000 });
          assert.ok(m, `${idleStrategy}: message ${i} arrived`);
          got.push(new TextDecoder().decode(m.value));
          await consumer.ack(m);
        }
        assert.deepEqual(got, Array.from({ length: 50 }, (_, i) => `m${i}`));
      } finally {
        await broker.close();
      }
    }
  } finally {
    removeDir(dir);
  }
});

test('idle strategy - spin stops spinning once traffic stops', async () => {
  const dir = tempDir();
  const broker = await Broker.open({ dataDir: dir, idleStrategy: 'spin', workers: 1 });
  try {
    const producer = await broker.createProducer({ topic: 'idle-stop', batching: { enabled: false } });
    for (let i = 0; i < 200; i++) await producer.send({ value: 'x' });
    await new Promise((r) => setTimeout(r, 50));
    const before = process.cpuUsage();
    const t = performance.now();
    await new Promise((r) => setTimeout(r, 500));
    const used = process.cpuUsage(before);
    const cores = (used.user + used.system) / 1000 / (performance.now() - t);
    // A host spinning through the wait would use a whole core; parked, the process is near idle.
    assert.ok(cores < 0.5, `the idle process used ${cores.toFixed(2)} cores`);
  } finally {
    await broker.close();
    removeDir(dir);
  }
});
