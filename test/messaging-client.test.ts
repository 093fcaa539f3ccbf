import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { Broker, MillraceError, Schemas } from '../index.js';
import { defaultWorkers } from '../core/defaults.js';
import { tempDir, removeDir } from './util/tmp.js';
import { bytes, drain, isCode, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

test('flow control - a consumer that does not receive holds at most receiverQueueSize messages (G9)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('flow');
    await broker.admin.createTopic(topic, { partitions: 2 });
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', consumerName: 'slow', initialPosition: 'earliest', receiverQueueSize: 20 });
    const p = await broker.createProducer({ topic, routing: 'round-robin', batching: { maxMessages: 7 } });
    await sendAll(p, range(300));
    await sleep(300);
    const s = await broker.admin.stats(topic);
    const held = s.subscriptions['s']!.consumers.find((x) => x.consumerName === 'slow')!.unackedMessages;
    assert.ok(held > 0 && held <= 20, `the consumer holds ${held} messages`);
    assert.equal(s.subscriptions['s']!.msgBacklog, 300);
    // Taking messages frees permits; everything arrives in the end.
    assert.equal((await drain(c, 300, { ack: true, idleMs: 1000 })).length, 300);
  });
});

test('receive - resolves null after timeoutMs', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('recv');
    const c = await broker.subscribe({ topic, subscription: 's' });
    const t0 = Date.now();
    assert.equal(await c.receive({ timeoutMs: 100 }), null);
    const took = Date.now() - t0;
    assert.ok(took >= 95 && took < 1000, `took ${took} ms`);
    const ac = new AbortController();
    const pending = c.receive({ signal: ac.signal });
    ac.abort();
    assert.equal(await pending, null, 'an abort resolves null too');
    assert.equal(await c.receive({ signal: AbortSignal.abort() }), null, 'a signal aborted already resolves null at once');
    // A timed-out or aborted receive leaves no waiter behind that would swallow the next message.
    const p = await broker.createProducer({ topic });
    await p.send({ value: bytes('x') });
    assert.equal(text((await c.receive({ timeoutMs: 1000 }))!), 'x');
    // A receive that got its message lets go of its signal and timer: aborting later changes nothing.
    const later = new AbortController();
    const got = c.receive({ signal: later.signal, timeoutMs: 10_000 });
    await p.send({ value: bytes('y') });
    assert.equal(text((await got)!), 'y');
    later.abort();
    await new Promise((resolve) => setTimeout(resolve, 100));
    await p.send({ value: bytes('z') });
    assert.equal(text((await c.receive({ timeoutMs: 1000 }))!), 'z');
  });
});

test('receive - waiting receives with different timeouts each end at their own, and one that gets a message leaves the others theirs', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('recv-timeouts');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared' });
    const p = await broker.createProducer({ topic });
    const t0 = performance.now();
    const ended: Record<string, number> = {};
    const wait = (name: string, timeoutMs?: number): Promise<unknown> => c.receive(timeoutMs === undefined ? {} : { timeoutMs }).then((m) => {
      ended[name] = performance.now() - t0;
      return m;
    });
    // Longest first: the consumer's one timer must move earlier for each shorter deadline.
    const first = wait('first (no timeout)');
    const long = wait('400 ms', 400);
    const short = wait('60 ms', 60);
    const mid = wait('200 ms', 200);
    await p.send({ value: bytes('x') }); // the oldest waiting receive takes it
    assert.equal(text((await first) as never), 'x');
    assert.equal(await short, null);
    assert.equal(await mid, null);
    assert.equal(await long, null);
    for (const [name, lo] of [['60 ms', 55], ['200 ms', 195], ['400 ms', 395]] as const) {
      assert.ok(ended[name]! >= lo, `${name} ended after ${Math.round(ended[name]!)} ms`);
    }
    // Each at its own time, not all at the latest deadline (gaps of 340 and 200 ms, with slack for a slow machine).
    const gaps = `ended at ${JSON.stringify(ended)}`;
    assert.ok(ended['400 ms']! - ended['60 ms']! > 200, gaps);
    assert.ok(ended['400 ms']! - ended['200 ms']! > 100, gaps);
  });
});

test('bad input - a timeoutMs that is not a number of ms from 0 to 2^31-1 is INVALID_ARGUMENT for receive, receiveBatch and readNext', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('bad-timeouts');
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const r = await broker.createReader({ topic, startTimeMs: 0 });
    // A string was a wait of about 1 ms for receive and of forever for readNext; NaN the same.
    for (const timeoutMs of ['100', Number.NaN, -1, 2 ** 31, null] as unknown as number[]) {
      await assert.rejects(c.receive({ timeoutMs }), isCode('INVALID_ARGUMENT'), String(timeoutMs));
      await assert.rejects(c.receiveBatch({ timeoutMs }), isCode('INVALID_ARGUMENT'), String(timeoutMs));
      await assert.rejects(r.readNext({ timeoutMs }), isCode('INVALID_ARGUMENT'), String(timeoutMs));
    }
    assert.equal(await c.receive({ timeoutMs: 0 }), null, '0 is allowed: nothing buffered, null at once');
    assert.equal(await r.readNext({ timeoutMs: 0 }), null);
  });
});

test('bad input - a signal that is not an AbortSignal is INVALID_ARGUMENT for receive, receiveBatch and readNext, and leaves no timer behind', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('bad-signals');
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const r = await broker.createReader({ topic, startTimeMs: 0 });
    // A plain object failed with a TypeError, and the receive's timer then threw out of its
    // callback when it fired: an uncaught exception, which ends the process.
    for (const signal of [{}, { aborted: false }, 'abort', null, 5] as unknown as AbortSignal[]) {
      await assert.rejects(c.receive({ signal, timeoutMs: 20 }), isCode('INVALID_ARGUMENT'), String(signal));
      await assert.rejects(c.receiveBatch({ signal, timeoutMs: 20 }), isCode('INVALID_ARGUMENT'), String(signal));
      await assert.rejects(r.readNext({ signal, timeoutMs: 20 }), isCode('INVALID_ARGUMENT'), String(signal));
    }
    await sleep(100);
    const ac = new AbortController();
    const waiting = c.receive({ signal: ac.signal });
    ac.abort();
    assert.equal(await waiting, null, 'a real signal still ends the wait');
  });
});

test('close - calls racing broker.close() settle with CLOSED or succeed, never with a storage error, and nothing throws afterwards', async () => {
  // A subscribe racing close read topic metadata from the closed store: it failed inside lmdb-js
  // ('No transaction to renew'), and lmdb-js's read-transaction timer then threw out of its
  // callback, ending the process; an admin call's write did the same ('environment is already closed').
  for (let round = 0; round < 4; round++) {
    const dir = tempDir('millrace-close-race');
    try {
      const broker = await Broker.open({ dataDir: dir, workers: 1 });
      const pre = topicName('pre');
      await broker.admin.createTopic(pre, { partitions: 2 });
      const outcome = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (e instanceof MillraceError ? e.code : `not a MillraceError: ${String(e)}`));
      const calls = [
        ...[0, 1, 2].map((i) => outcome(broker.subscribe({ topic: topicName(`race-${i}`), subscription: 's' }))),
        outcome(broker.createProducer({ topic: pre })),
        outcome(broker.createReader({ topic: pre, startTimeMs: 0 })),
        outcome(broker.admin.createTopic(topicName('new'), { partitions: 2 })),
        outcome(broker.admin.stats(pre)),
        outcome(broker.admin.subscriptions(pre)),
      ];
      await broker.close();
      for (const o of await Promise.all(calls)) assert.ok(o === 'ok' || o === 'CLOSED', o);
      assert.throws(() => broker.admin.listTopics(), isCode('CLOSED'));
      await assert.rejects(broker.admin.stats(pre), isCode('CLOSED'));
      await sleep(150);
    } finally {
      removeDir(dir);
    }
  }
});

test('bad input - refused where they are given: a reader buffering nothing, a dead-letter topic that cannot be a topic, ledger limits of zero', async () => {
  await withBroker(async ({ broker, dir }) => {
    const topic = topicName('bad-open-options');
    const p = await broker.createProducer({ topic });
    await p.send({ value: bytes('x') });
    // A reader of receiverQueueSize 0 returned null from every readNext, as if the topic were empty.
    for (const receiverQueueSize of [0, -1, 1.5]) {
      await assert.rejects(broker.createReader({ topic, startTimeMs: 0, receiverQueueSize }), isCode('INVALID_ARGUMENT'), String(receiverQueueSize));
    }
    // The dead-letter topic was only made at the first dead letter: that send failed, and the message
    // was nacked and redelivered forever.
    await assert.rejects(broker.subscribe({ topic, subscription: 's', type: 'shared', deadLetter: { maxRedeliverCount: 1, topic: '../x' } }), isCode('TOPIC_NAME_INVALID'));
    await assert.rejects(broker.subscribe({ topic, subscription: 'a b', type: 'shared', deadLetter: { maxRedeliverCount: 1 } }), isCode('TOPIC_NAME_INVALID'));
    const ok = await broker.subscribe({ topic, subscription: 'a b', type: 'shared', deadLetter: { maxRedeliverCount: 1, topic: 'a-b-dlq' } });
    await ok.close();
    // Ledger limits were checked at each partition's first use, so every topic failed after a good open.
    for (const ledger of [{ maxEntries: 0 }, { maxBytes: -1 }, null]) {
      await assert.rejects(Broker.open({ dataDir: `${dir}-other`, ledger: ledger as never }), isCode('INVALID_ARGUMENT'), JSON.stringify(ledger));
    }
  });
});

test('bad input - negative or non-number ack timeout, nack delay and nack backoff are INVALID_ARGUMENT at subscribe', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('bad-consumer-options');
    // Each was accepted: a negative ack timeout read as none, a negative nack delay as "at once".
    const bad = [{ ackTimeoutMs: -1 }, { ackTimeoutMs: '100' }, { nackRedeliveryDelayMs: -5 }, { nackBackoff: { maxDelayMs: -1 } }, { nackBackoff: 5 }, { nackBackoff: {} }];
    for (const options of bad as object[]) {
      await assert.rejects(broker.subscribe({ topic, subscription: 's', ...options }), isCode('INVALID_ARGUMENT'), JSON.stringify(options));
    }
    const ok = await broker.subscribe({ topic, subscription: 's', ackTimeoutMs: 0, nackRedeliveryDelayMs: 0, nackBackoff: { maxDelayMs: 0 } });
    await ok.close();
  });
});

test("bad input - invalid topic names ('..', '/', NUL, > 255 bytes) get TOPIC_NAME_INVALID and the broker keeps serving", async () => {
  await withBroker(async ({ broker }) => {
    const bad = [
      'persistent://public/default/..', 'persistent://public/default/a/b', 'persistent://public/default/a\0b',
      `persistent://public/default/${'x'.repeat(300)}`, 'persistent://public//x', '',
    ];
    for (const t of bad) {
      await assert.rejects(broker.createProducer({ topic: t }), isCode('TOPIC_NAME_INVALID'), JSON.stringify(t.slice(0, 40)));
      await assert.rejects(broker.subscribe({ topic: t, subscription: 's' }), isCode('TOPIC_NAME_INVALID'));
      await assert.rejects(broker.admin.createTopic(t), isCode('TOPIC_NAME_INVALID'));
    }
    await assert.rejects(broker.createProducer({ topic: 42 as unknown as string }), isCode('TOPIC_NAME_INVALID'));
    const topic = topicName('ok');
    const c = await broker.subscribe({ topic, subscription: 's' });
    const p = await broker.createProducer({ topic });
    await p.send({ value: bytes('still') });
    assert.equal(text((await c.receive({ timeoutMs: 1000 }))!), 'still');
  });
});

test('bad input - a closed producer refuses send with CLOSED', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('closedp');
    const p = await broker.createProducer({ topic, name: 'p1' });
    const inflight = p.send({ value: bytes('before') });
    await p.close();
    assert.ok((await inflight).entryId >= 0, 'close flushes what was sent before it');
    await assert.rejects(p.send({ value: bytes('after') }), isCode('CLOSED'));
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    await c.close();
    await assert.rejects(c.receive(), isCode('CLOSED'));
    await assert.rejects(c.ack(new (await import('../index.js')).MessageId(0, 0, -1, 0)), isCode('CLOSED'));
    // The name is free again.
    await (await broker.createProducer({ topic, name: 'p1' })).close();
    await broker.close();
    await assert.rejects(broker.createProducer({ topic }), isCode('CLOSED'));
  });
});

test('schema - a json producer and a string consumer on one topic get SCHEMA_MISMATCH', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('schema');
    const p = await broker.createProducer({ topic, schema: Schemas.json<{ n: number }>() });
    await assert.rejects(broker.subscribe({ topic, subscription: 's', schema: Schemas.string }), isCode('SCHEMA_MISMATCH'));
    await assert.rejects(broker.createProducer({ topic, schema: Schemas.string }), isCode('SCHEMA_MISMATCH'));
    const c = await broker.subscribe({ topic, subscription: 's', schema: Schemas.json<{ n: number }>(), initialPosition: 'earliest' });
    await p.send({ value: { n: 7 } });
    assert.deepEqual((await c.receive({ timeoutMs: 1000 }))?.value, { n: 7 });
  });
});

test('stats - admin.stats reports msgInCounter, storageSize, subscriptions[name].msgBacklog and consumers', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('stats');
    await broker.admin.createTopic(topic, { partitions: 2 });
    const c = await broker.subscribe({ topic, subscription: 'sub', type: 'shared', consumerName: 'cn', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, name: 'pn', routing: 'round-robin' });
    await sendAll(p, range(50));
    const got = await drain(c, 50);
    for (const m of got.slice(0, 20)) await c.ack(m);
    const s = await broker.admin.stats(topic);
    assert.equal(s.msgInCounter, 50);
    assert.ok(s.storageSize > 50 * 2, `storageSize ${s.storageSize}`);
    assert.equal(s.subscriptions['sub']!.msgBacklog, 30);
    assert.equal(s.subscriptions['sub']!.type, 'shared');
    assert.deepEqual(s.subscriptions['sub']!.consumers.map((x) => x.consumerName), ['cn']);
    assert.equal(s.subscriptions['sub']!.unackedMessages, 30);
    assert.deepEqual(s.publishers.map((x) => x.producerName), ['pn']);
    assert.ok(s.msgOutCounter >= 50);
    await c.close();
    const after = await broker.admin.stats(topic);
    assert.deepEqual(after.subscriptions['sub']!.consumers, []);
    assert.equal(after.subscriptions['sub']!.msgBacklog, 30, 'the backlog stays with the subscription');
    await assert.rejects(broker.admin.stats(topicName('nope')), isCode('TOPIC_NOT_FOUND'));
  });
});

test('lifecycle - close is idempotent, and a break out of for-await leaves the consumer open', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('life');
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic });
    await sendAll(p, range(5));
    let n = 0;
    for await (const m of c) {
      await c.ack(m);
      if (++n === 2) break;
    }
    const next = await c.receive({ timeoutMs: 1000 });
    assert.equal(next && text(next), 'm2', 'the consumer is still open after break');
    await c.ack(next!);
    await Promise.all([c.close(), c.close()]);
    await c.close();
    await p.close();
    await p.close();
    // The subscription is free for a new exclusive consumer, which gets the rest.
    const c2 = await broker.subscribe({ topic, subscription: 's' });
    assert.deepEqual((await drain(c2, 5, { idleMs: 400 })).map(text), ['m3', 'm4']);
    // A for-await over a consumer that closes ends.
    const done = (async () => { for await (const _ of c2) { /* nothing more arrives */ } return true; })();
    await sleep(50);
    await c2.close();
    assert.equal(await done, true);
  });
});

test('unsubscribe - deletes the subscription: a new one starts from its initial position', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('unsub');
    const p = await broker.createProducer({ topic });
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    await sendAll(p, ['a', 'b']);
    await c.ack((await c.receive({ timeoutMs: 1000 }))!);
    await c.unsubscribe();
    assert.equal((await broker.admin.stats(topic)).subscriptions['s'], undefined);
    const again = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    assert.deepEqual((await drain(again, 5, { idleMs: 400 })).map(text), ['a', 'b']);
  });
});

test('message - topic names the partition a message came from on a partitioned topic (Pulsar\'s getTopicName), the topic itself otherwise', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('msgtopic');
    const plain = topicName('msgplain');
    await broker.admin.createTopic(topic, { partitions: 3 });
    const c = await broker.subscribe({ topic, subscription: 's', initialPosition: 'earliest' });
    const cp = await broker.subscribe({ topic: plain, subscription: 's', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, routing: 'round-robin', batching: { maxMessages: 1 } });
    for (let i = 0; i < 6; i++) await p.send({ value: bytes(`v${i}`) });
    await (await broker.createProducer({ topic: plain })).send({ value: bytes('x') });
    for (const m of await drain(c, 6)) assert.equal(m.topic, `${topic}-partition-${m.id.partition}`);
    assert.equal((await drain(cp, 1))[0]!.topic, plain);
  });
});

test('workers - by default one host worker per core but one (a core left to the application thread), never none', async () => {
  assert.deepEqual([1, 2, 3, 8].map(defaultWorkers), [1, 1, 2, 7]);
  const dir = tempDir('millrace-workers');
  try {
    const broker = await Broker.open({ dataDir: dir });
    try {
      assert.equal(broker.testHooks.workers, defaultWorkers(availableParallelism()));
    } finally {
      await broker.close();
    }
  } finally {
    removeDir(dir);
  }
});
