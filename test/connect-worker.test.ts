import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Broker, MessageId, MillraceError } from '../index.js';
import { tempDir, removeDir } from './util/tmp.js';
import { isCode, topicName } from './util/messaging.js';

const dec = new TextDecoder();
const enc = new TextEncoder();

function startWorker(fixture: string, data: unknown): Worker {
  return new Worker(new URL(`./fixtures/${fixture}.js`, import.meta.url), { workerData: data });
}

function exited(w: Worker): Promise<number> {
  return new Promise((resolve, reject) => {
    w.once('error', reject);
    w.once('exit', resolve);
  });
}

test('connect - the handle is plain data and SharedArrayBuffers (postable without a transfer list)', async () => {
  const dir = tempDir('millrace-connect');
  try {
    const broker = await Broker.open({ dataDir: dir, workers: 2 });
    const h = broker.handle();
    assert.deepEqual(structuredClone(h).system.channel, h.system.channel);
    const json = JSON.stringify(h, (_k, v: unknown) => (v instanceof SharedArrayBuffer ? 'SAB' : v));
    assert.match(json, /"kind":"millrace.broker"/);
    await assert.rejects(Broker.connect({} as never), (e: unknown) => e instanceof MillraceError && e.code === 'INVALID_ARGUMENT');
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('connect - a worker thread produces through Broker.connect; the main thread consumes each message exactly once', async () => {
  const dir = tempDir('millrace-connect');
  const N = 5000;
  try {
    const broker = await Broker.open({ dataDir: dir, workers: 2 });
    const topic = topicName('connect-produce');
    await broker.admin.createTopic(topic, { partitions: 3 });
    const consumer = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const w = startWorker('connect-producer', { handle: broker.handle(), topic, count: N, name: 'worker-producer' });
    const done = new Promise<{ sent: number }>((resolve) => w.once('message', resolve));
    const exit = exited(w);
    const seen = new Map<number, number>();
    let got = 0;
    while (got < N) {
      const m = await consumer.receive({ timeoutMs: 15_000 });
      assert.ok(m, `timed out after ${got} of ${N} messages`);
      const i = Number(dec.decode(m.data));
      seen.set(i, (seen.get(i) ?? 0) + 1);
      got++;
      await consumer.ack(m);
    }
    assert.equal((await done).sent, N);
    assert.equal(await exit, 0);
    // Nothing more arrives: no duplicates.
    assert.equal(await consumer.receive({ timeoutMs: 300 }), null);
    assert.equal(seen.size, N);
    for (let i = 0; i < N; i++) assert.equal(seen.get(i), 1, `message ${i}`);
    assert.equal(m0(await broker.admin.stats(topic)), N);
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

function m0(s: { msgInCounter: number }): number {
  return s.msgInCounter;
}

test('connect - worker consumers on a shared subscription get what the main thread produces, each message exactly once', async () => {
  const dir = tempDir('millrace-connect');
  const N = 6000;
  try {
    const broker = await Broker.open({ dataDir: dir, workers: 2 });
    const topic = topicName('connect-consume');
    await broker.admin.createTopic(topic, { partitions: 2 });
    const handle = broker.handle();
    const seen = new Map<number, number>();
    const perWorker = [0, 0];
    const workers = [0, 1].map((k) => {
      const w = startWorker('connect-consumer', { handle, topic, subscription: 'work', type: 'shared' });
      w.on('message', (m: { t: string; values?: string[] }) => {
        if (m.t !== 'got') return;
        for (const v of m.values!) {
          const i = Number(v);
          seen.set(i, (seen.get(i) ?? 0) + 1);
          perWorker[k]!++;
        }
      });
      return { w, ready: new Promise((r) => w.once('message', r)), exit: exited(w) };
    });
    await Promise.all(workers.map((x) => x.ready));
    const producer = await broker.createProducer({ topic, routing: 'round-robin' });
    await Promise.all(Array.from({ length: N }, (_, i) => producer.send({ value: enc.encode(String(i)) })));
    const deadline = Date.now() + 20_000;
    while ([...seen.values()].reduce((a, b) => a + b, 0) < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // Give duplicates, if any, time to show.
    await new Promise((r) => setTimeout(r, 300));
    for (const x of workers) x.w.postMessage({ t: 'stop' });
    assert.deepEqual(await Promise.all(workers.map((x) => x.exit)), [0, 0]);
    assert.equal(seen.size, N, `lost ${N - seen.size}`);
    for (const [i, n] of seen) assert.equal(n, 1, `message ${i} received ${n} times`);
    assert.ok(perWorker[0]! > 0 && perWorker[1]! > 0, `both consumers got messages: ${perWorker.join(', ')}`);
    // The subscription's backlog is empty: every message was acked from the worker threads.
    const stats = await broker.admin.stats(topic);
    assert.equal(stats.subscriptions.work!.msgBacklog, 0);
    assert.equal(stats.subscriptions.work!.consumers.length, 0, 'closed worker consumers left the subscription');
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('connect - a script whose worker thread connects, produces and closes exits by itself after the broker closes', () => {
  const dir = tempDir('millrace-connect');
  try {
    const script = fileURLToPath(new URL('./fixtures/connect-exit.js', import.meta.url));
    const r = spawnSync(process.execPath, [script, dir], { timeout: 30_000, encoding: 'utf8' });
    assert.equal(r.signal, null, `the script did not exit by itself within 30 s: ${r.stderr}`);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^received 100$/m);
  } finally {
    removeDir(dir);
  }
});

test('connect - when the opening thread closes the broker, a connected thread\'s for await loop ends and its sends fail CLOSED; the thread exits by itself', async () => {
  // Its requests failed, but the consumer was not told: a receive without a timeout (a for await
  // loop) waited forever and kept the thread alive.
  const dir = tempDir('millrace-connect');
  try {
    const broker = await Broker.open({ dataDir: dir, workers: 2 });
    const topic = topicName('connect-iterating');
    const w = startWorker('connect-iterating', { handle: broker.handle(), topic });
    const exit = exited(w);
    const messages: { t: string; received?: number; outcomes?: string[] }[] = [];
    const ended = new Promise<void>((resolve) => w.on('message', (m: { t: string }) => {
      messages.push(m);
      if (m.t === 'iterating') void broker.close();
      if (m.t === 'ended') resolve();
    }));
    const timedOut = await Promise.race([ended.then(() => false), new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20_000))]);
    assert.equal(timedOut, false, 'the worker\'s for await loop did not end within 20 s of the close');
    const end = messages.find((m) => m.t === 'ended')!;
    assert.ok(end.outcomes!.every((o) => o === 'ok' || o === 'CLOSED'), end.outcomes!.join());
    assert.equal(await exit, 0);
  } finally {
    removeDir(dir);
  }
});

test('connect - a forced topic delete ends the topic\'s clients on every thread: for await throws TOPIC_NOT_FOUND, and sends and reads fail with it at once', async () => {
  const dir = tempDir('millrace-connect');
  try {
    const broker = await Broker.open({ dataDir: dir, workers: 2 });
    const topic = topicName('connect-deleted');
    await broker.admin.createTopic(topic, { partitions: 2 });
    const producer = await broker.createProducer({ topic });
    const consumer = await broker.subscribe({ topic, subscription: 'main', type: 'exclusive', initialPosition: 'earliest' });
    const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    const code = (e: unknown): string => (e instanceof MillraceError ? e.code : String(e));
    const loop = (async () => {
      try {
        for await (const m of consumer) await consumer.ack(m);
        return 'ended';
      } catch (e) {
        return code(e);
      }
    })();
    const w = startWorker('connect-topic-deleted', { handle: broker.handle(), topic });
    const exit = exited(w);
    const ready = new Promise<void>((resolve) => w.once('message', () => resolve()));
    const ended = new Promise<{ looped: string; send: { outcome: string; ms: number }; read: { outcome: string; ms: number } }>((resolve) => {
      w.on('message', (m: { t: string }) => {
        if (m.t === 'ended') resolve(m as never);
      });
    });
    await ready;
    await broker.admin.deleteTopic(topic, { force: true });
    w.postMessage('deleted');
    const within = <T>(p: Promise<T>, what: string): Promise<T> => Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what} still waiting 10 s after the delete`)), 10_000))]);
    // Without the fix the loops wait forever, and the connected thread's send retries until it times out.
    assert.equal(await within(loop, 'the main thread\'s for await'), 'TOPIC_NOT_FOUND');
    await assert.rejects(producer.send({ value: enc.encode('after') }), isCode('TOPIC_NOT_FOUND'));
    // A reader hands out what it fetched before the delete, then fails.
    await assert.rejects((async () => {
      while (await reader.readNext({ timeoutMs: 1000 })) { /* fetched before the delete */ }
    })(), isCode('TOPIC_NOT_FOUND'));
    await assert.rejects(consumer.receive({ timeoutMs: 1000 }), isCode('TOPIC_NOT_FOUND'));
    const r = await within(ended, 'the connected thread');
    assert.equal(r.looped, 'TOPIC_NOT_FOUND');
    assert.equal(r.send.outcome, 'TOPIC_NOT_FOUND');
    assert.ok(r.send.ms < 5000, `the connected thread's send failed after ${r.send.ms.toFixed(0)} ms, not at once`);
    assert.equal(r.read.outcome, 'TOPIC_NOT_FOUND');
    assert.equal(await exit, 0);
    await Promise.all([producer.close(), consumer.close(), reader.close()]);
    // The name can be used again, and the old clients stay ended.
    await broker.admin.createTopic(topic, { partitions: 2 });
    const again = await broker.createProducer({ topic });
    await again.send({ value: enc.encode('new') });
    await broker.close();
  } finally {
    removeDir(dir);
  }
});

test('connect - a connected thread that is terminated without closing: its consumer leaves and what it held is redelivered', async () => {
  const dir = tempDir('millrace-connect');
  try {
    const broker = await Broker.open({ dataDir: dir, workers: 2 });
    const topic = topicName('connect-terminate');
    const producer = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    for (let i = 0; i < 20; i++) await producer.send({ value: enc.encode(`v${i}`) });
    const w = startWorker('connect-holder', { handle: broker.handle(), topic, subscription: 'work', hold: 5 });
    const held = await new Promise<{ values: string[] }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    assert.equal(held.values.length, 5);
    // The main thread joins the subscription and drains everything the worker left.
    const consumer = await broker.subscribe({ topic, subscription: 'work', type: 'shared' });
    const got = new Set<string>();
    for (let m = await consumer.receive({ timeoutMs: 2000 }); m; m = await consumer.receive({ timeoutMs: 300 })) {
      got.add(dec.decode(m.data));
      await consumer.ack(m);
    }
    // The worker holds its 5 and what its buffer took as it granted permits again.
    assert.ok(got.size < 20 && held.values.every((v) => !got.has(v)), `the main thread got only what the worker did not take (${got.size})`);
    await w.terminate();
    // The worker's messages come back once its end is noticed (no ack timeout is set).
    for (let m = await consumer.receive({ timeoutMs: 10_000 }); m; m = await consumer.receive({ timeoutMs: 500 })) {
      got.add(dec.decode(m.data));
      await consumer.ack(m);
    }
    for (const v of held.values) assert.ok(got.has(v), `${v}, held by the terminated thread, was redelivered`);
    assert.equal(got.size, 20);
    const stats = await broker.admin.stats(topic);
    assert.equal(stats.subscriptions['work']?.consumers.length, 1, 'only the main thread\'s consumer is left');
    await broker.close();
  } finally {
    removeDir(dir);
  }
});
