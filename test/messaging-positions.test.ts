import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageId } from '../index.js';
import { bytes, drain, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

test('delayed - deliverAfterMs on shared is delivered no earlier than asked', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('delay');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic });
    const t0 = Date.now();
    await Promise.all([
      p.send({ value: bytes('late'), deliverAfterMs: 300 }),
      p.send({ value: bytes('now') }),
    ]);
    const first = await c.receive({ timeoutMs: 1000 });
    assert.equal(first && text(first), 'now', 'a delayed message does not hold back the ones after it');
    await c.ack(first!);
    const late = await c.receive({ timeoutMs: 2000 });
    assert.ok(late);
    assert.equal(text(late), 'late');
    assert.ok(Date.now() - t0 >= 300, `delivered after ${Date.now() - t0} ms`);
  });
});

test('initial position - latest skips what was published before the subscription; earliest gets it', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('initpos');
    const p = await broker.createProducer({ topic });
    await sendAll(p, ['before']);
    const latest = await broker.subscribe({ topic, subscription: 'l', type: 'exclusive' });
    const earliest = await broker.subscribe({ topic, subscription: 'e', type: 'exclusive', initialPosition: 'earliest' });
    await sendAll(p, ['after']);
    assert.deepEqual((await drain(latest, 2, { idleMs: 400 })).map(text), ['after']);
    assert.deepEqual((await drain(earliest, 2, { idleMs: 400 })).map(text), ['before', 'after']);
  });
});

test('reader - starts at earliest / latest / after a message id / at a publish time', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reader');
    const p = await broker.createProducer({ topic, batching: { maxMessages: 3 } });
    const ids = [];
    for (const v of range(6)) ids.push(await p.send({ value: bytes(v) }));
    await sleep(20);
    const tMid = Date.now();
    await sleep(5);
    for (const v of range(4, 'n')) ids.push(await p.send({ value: bytes(v) }));
    const all = [...range(6), ...range(4, 'n')];
    const readAll = async (r: { readNext(o: { timeoutMs: number }): Promise<{ data: Uint8Array } | null> }) => {
      const out: string[] = [];
      for (;;) {
        const m = await r.readNext({ timeoutMs: 300 });
        if (!m) return out;
        out.push(new TextDecoder().decode(m.data));
      }
    };
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: MessageId.earliest })), all);
    const latest = await broker.createReader({ topic, startMessageId: MessageId.latest });
    assert.equal(await latest.readNext({ timeoutMs: 200 }), null);
    await p.send({ value: bytes('z') });
    assert.equal(text((await latest.readNext({ timeoutMs: 1000 }) as never)), 'z');
    // After a message ID: exclusive of it, also for one inside a batch.
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: ids[3]! })), [...all.slice(4), 'z']);
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: ids[7]! })), [...all.slice(8), 'z']);
    assert.deepEqual(await readAll(await broker.createReader({ topic, startTimeMs: tMid })), [...range(4, 'n'), 'z']);
  });
});

test('seek - seek(publishTime) lands on the first message with publishTime >= time (G6)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('seekt');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    const times: number[] = [];
    for (const v of range(10)) {
      await p.send({ value: bytes(v) });
      await sleep(3);
    }
    const got = await drain(c, 10, { ack: true });
    for (const m of got) times.push(m.publishTime);
    assert.equal(got.length, 10);
    // A time between two publish times, and exactly one publish time.
    const between = times[4]! + 1 <= times[5]! ? times[4]! + 1 : times[5]!;
    await c.seek(between);
    const after = await drain(c, 10, { idleMs: 400 });
    assert.equal(text(after[0]!), 'm5');
    assert.ok(after.every((m) => m.publishTime >= between));
    await c.seek(times[2]!);
    const exact = await drain(c, 10, { idleMs: 400 });
    assert.equal(text(exact[0]!), `m${times.indexOf(times[2]!)}`);
    assert.equal(exact.length, 10 - times.indexOf(times[2]!));
    await c.seek(Date.now() + 60_000);
    assert.equal(await c.receive({ timeoutMs: 200 }), null, 'a time after the last message lands at the end');
  });
});

test('seek - seek(messageId)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('seekid');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    const ids = [];
    for (const v of range(8)) ids.push(await p.send({ value: bytes(v) }));
    const got = await drain(c, 8);
    await c.ackCumulative(got[7]!);
    await c.seek(ids[3]!);
    assert.deepEqual((await drain(c, 8, { idleMs: 400 })).map(text), range(8).slice(3));
    await c.seek(MessageId.earliest);
    assert.deepEqual((await drain(c, 8, { idleMs: 400 })).map(text), range(8));
    await c.seek(MessageId.latest);
    assert.equal(await c.receive({ timeoutMs: 200 }), null);
    await p.send({ value: bytes('new') });
    assert.equal(text((await c.receive({ timeoutMs: 1000 }))!), 'new');
  });
});
