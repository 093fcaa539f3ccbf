import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageId } from '../index.js';
import { getEventListeners } from 'node:events';
import { bytes, drain, isCode, range, sendAll, sleep, text, topicName, withBroker } from './util/messaging.js';

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
    const ids: MessageId[] = [];
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

test('reader - a seek or a close leaves no long poll waiting at the partition (waitingReadsCount)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reader-polls');
    const p = await broker.createProducer({ topic });
    await p.send({ value: bytes('a') });
    const waiting = async (): Promise<number> => (await broker.admin.internalStats(topic))[topic]!.waitingReadsCount;
    const waitFor = async (n: number): Promise<void> => {
      const deadline = Date.now() + 5000;
      while ((await waiting()) !== n && Date.now() < deadline) await sleep(5);
      assert.equal(await waiting(), n);
    };
    const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    assert.equal(text((await r.readNext({ timeoutMs: 2000 }))!), 'a');
    await waitFor(1); // at the end: one poll parked for the next append
    for (let i = 0; i < 3; i++) {
      await r.seek(MessageId.earliest);
      assert.equal(text((await r.readNext({ timeoutMs: 2000 }))!), 'a');
    }
    await waitFor(1); // each seek's poll ended the one before it
    const pending = r.readNext();
    await r.close();
    assert.equal(await waiting(), 0, 'close ended the parked poll at once');
    assert.equal(await pending, null, 'a read waiting when the reader closes ends with null');
    await assert.rejects(r.readNext({ timeoutMs: 10 }), isCode('CLOSED'), 'a read on a closed reader is CLOSED, as a receive on a closed consumer');
    await p.close();
  });
});

test('reader - startMessageIdInclusive starts at the message itself (inside a batch, a whole entry), and at the last message with latest', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reader-incl');
    const p = await broker.createProducer({ topic, batching: { maxMessages: 3, maxDelayMs: 20 } });
    const empty = await broker.createReader({ topic, startMessageId: MessageId.latest, startMessageIdInclusive: true });
    assert.equal(await empty.readNext({ timeoutMs: 100 }), null, 'latest inclusive on an empty topic: nothing yet');
    // Sent together: batches of 3, so 0-2, 3-5 and 6 share entries.
    const ids = await Promise.all(range(7).map((v) => p.send({ value: bytes(v) })));
    assert.equal(ids[4]!.batchIndex, 1, 'a message inside a batch');
    const readAll = async (r: { readNext(o: { timeoutMs: number }): Promise<{ data: Uint8Array } | null> }) => {
      const out: string[] = [];
      for (let m = await r.readNext({ timeoutMs: 300 }); m; m = await r.readNext({ timeoutMs: 300 })) out.push(text(m as never));
      return out;
    };
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: ids[4]!, startMessageIdInclusive: true })), range(7).slice(4));
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: ids[4]! })), range(7).slice(5), 'exclusive by default');
    const wholeEntry = new MessageId(ids[3]!.ledgerId, ids[3]!.entryId, ids[3]!.partition, -1);
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: wholeEntry, startMessageIdInclusive: true })), range(7).slice(3));
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: MessageId.latest, startMessageIdInclusive: true })), ['m6']);
    assert.deepEqual(await readAll(await broker.createReader({ topic, startMessageId: MessageId.earliest, startMessageIdInclusive: true })), range(7));
    assert.equal(text((await empty.readNext({ timeoutMs: 1000 })) as never), 'm0', 'the reader made on the empty topic reads from the first message');
    await assert.rejects(broker.createReader({ topic, startMessageIdInclusive: 'yes' as never }), isCode('INVALID_ARGUMENT'));
    // Two starts: which one won was not said anywhere (the time did, silently).
    await assert.rejects(broker.createReader({ topic, startMessageId: ids[4]!, startTimeMs: 0 }), isCode('INVALID_ARGUMENT'));
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
    const ids: MessageId[] = [];
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

test('seek - to a message inside a batch: the next message is that one, on every type, and a restart keeps it', async () => {
  for (const type of ['exclusive', 'failover', 'shared', 'key_shared'] as const) {
    await withBroker(async (ctx) => {
      const topic = topicName(`seekbatch-${type}`);
      const opts = { topic, subscription: 's', type, initialPosition: 'earliest' as const };
      const c = await ctx.broker.subscribe(opts);
      const p = await ctx.broker.createProducer({ topic, batching: { maxMessages: 3, maxDelayMs: 20 } });
      // Sent together: batches of 3, so 0-2, 3-5 and 6 share entries.
      const ids = await Promise.all(range(7).map((v) => p.send({ value: bytes(v) })));
      assert.equal(ids[4]!.batchIndex, 1, 'a message inside a batch');
      for (const m of await drain(c, 7)) await c.ack(m);
      await c.seek(ids[4]!);
      // Before: m3 came first, the whole entry again.
      assert.deepEqual((await drain(c, 7, { idleMs: 300 })).map(text), range(7).slice(4), type);
      await c.close();
      const broker = await ctx.reopen();
      const again = await broker.subscribe(opts);
      assert.deepEqual((await drain(again, 7, { idleMs: 300 })).map(text), range(7).slice(4), `${type}, after a restart`);
    });
  }
});

test('reader - seek: to a message (inclusive, also inside a batch), to earliest for another epoch, to latest, to a time; it never waits out a long poll at the old end', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reader-seek');
    await broker.admin.createTopic(topic, { partitions: 2 });
    const p = await broker.createProducer({ topic, routing: 'single', batching: { maxMessages: 3 } });
    const ids: MessageId[] = [];
    for (const v of range(9)) ids.push(await p.send({ value: bytes(v) }));
    const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    const readAll = async (): Promise<string[]> => {
      const out: string[] = [];
      for (let m = await r.readNext({ timeoutMs: 300 }); m; m = await r.readNext({ timeoutMs: 300 })) out.push(text(m));
      return out;
    };
    assert.deepEqual(await readAll(), range(9));
    // At the end, the reader's fetches are parked in long polls (1 s): a seek must not wait for them.
    const t0 = Date.now();
    await r.seek(MessageId.earliest);
    const first = await r.readNext({ timeoutMs: 5000 });
    assert.equal(first && text(first), 'm0');
    assert.ok(Date.now() - t0 < 900, `first message of the new epoch after ${Date.now() - t0} ms`);
    assert.deepEqual(await readAll(), range(9).slice(1), 'a second epoch reads everything again, once');
    // Inclusive, from inside a batch of three (ids[4] is the second message of its entry).
    await r.seek(ids[4]!);
    assert.deepEqual(await readAll(), range(9).slice(4));
    // Buffered messages from before a seek are dropped: seek back while most of the topic is buffered.
    await r.seek(MessageId.earliest);
    const one = await r.readNext({ timeoutMs: 1000 });
    assert.equal(one && text(one), 'm0');
    await r.seek(ids[7]!);
    assert.deepEqual(await readAll(), ['m7', 'm8']);
    await r.seek(MessageId.latest);
    assert.equal(await r.readNext({ timeoutMs: 200 }), null);
    await p.send({ value: bytes('after') });
    assert.equal(text((await r.readNext({ timeoutMs: 2000 }))!), 'after');
    await r.seek(Date.now() + 60_000);
    assert.equal(await r.readNext({ timeoutMs: 200 }), null);
    await r.seek(0);
    assert.deepEqual(await readAll(), [...range(9), 'after']);
    // A message that lands in the old long poll after a seek is read once, in its place.
    await r.seek(MessageId.earliest);
    await p.send({ value: bytes('late') });
    assert.deepEqual(await readAll(), [...range(9), 'after', 'late']);
    // Bad input: typed errors; a closed reader refuses.
    await assert.rejects(r.seek(Number.NaN), isCode('INVALID_ARGUMENT'));
    await assert.rejects(r.seek('m1' as never), isCode('INVALID_ARGUMENT'));
    await assert.rejects(r.seek(new MessageId(ids[0]!.ledgerId, ids[0]!.entryId, 7, 0)), isCode('INVALID_ARGUMENT'));
    await r.close();
    await assert.rejects(r.seek(MessageId.earliest), isCode('CLOSED'));
  });
});

test('reader - readNext with one AbortSignal for a whole loop leaves no listener behind; an abort ends a wait with null', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reader-signal');
    const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    const ac = new AbortController();
    for (let i = 0; i < 30; i++) assert.equal(await r.readNext({ timeoutMs: 5, signal: ac.signal }), null);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    const waiting = r.readNext({ signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    assert.equal(await waiting, null);
    await r.close();
  });
});

test('reader - reads ahead about receiverQueueSize messages, not 64 entries of whole batches', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('reader-ahead');
    const p = await broker.createProducer({ topic, batching: { maxMessages: 100, maxDelayMs: 50 } });
    await Promise.all(range(3000).map((v) => p.send({ value: bytes(v) })));
    const r = await broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: 150 });
    const first = await r.readNext({ timeoutMs: 2000 });
    assert.equal(first && text(first), 'm0');
    await sleep(200);
    // One entry (100 messages) first, then entries for the room left: under two reads' worth.
    assert.ok(r.bufferedCount <= 150 + 100, `buffered ${r.bufferedCount}`);
    const rest: string[] = [];
    for (let m = await r.readNext({ timeoutMs: 500 }); m; m = await r.readNext({ timeoutMs: 500 })) rest.push(text(m));
    assert.deepEqual(rest, range(3000).slice(1));
    await r.close();
  });
});

test('getLastMessageIds - the last stored message of each partition, with its batch index; earliest for an empty partition', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('last-ids');
    await broker.admin.createTopic(topic, { partitions: 3 });
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest' });
    assert.deepEqual((await c.getLastMessageIds()).map((id) => id.isEarliest), [true, true, true]);
    // Two partitions get batches of up to 4; the third stays empty.
    const p = await broker.createProducer({ topic, routing: 'key-hash', batching: { maxMessages: 4, maxDelayMs: 20 } });
    const ids = await Promise.all(range(7).map((v) => p.send({ value: bytes(v), key: 'a' })));
    const more = await Promise.all(range(2, 'b').map((v) => p.send({ value: bytes(v), key: 'zz' })));
    const last = await c.getLastMessageIds();
    // The newest ID sent to each partition, and earliest for a partition nothing was sent to.
    const want = [0, 1, 2].map((i) => [...ids, ...more].filter((id) => id.partition === i)
      .reduce<MessageId>((a, b) => (a.isEarliest || b.compare(a) > 0 ? b : a), MessageId.earliest));
    assert.deepEqual(last.map(String), want.map(String));
    assert.ok(want.some((id) => id.isEarliest) && want.some((id) => id.batchIndex > 0), 'an empty partition and a batch were covered');
    await c.close();
    await assert.rejects(c.getLastMessageIds(), isCode('CLOSED'));
  });
});

test('getLastMessageIds - a last entry that retention deleted gives its whole-entry ID (batch index -1)', async () => {
  // Ledgers of 5 entries and no retention: a reopen seals the consumed ledgers and trims them all.
  await withBroker(async (ctx) => {
    const topic = topicName('last-trimmed');
    let c = await ctx.broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    const p = await ctx.broker.createProducer({ topic, batching: { maxMessages: 1 } });
    const ids: MessageId[] = [];
    for (const v of range(7)) ids.push(await p.send({ value: bytes(v) }));
    for (let i = 0; i < 7; i++) await c.ack((await c.receive({ timeoutMs: 2000 }))!);
    assert.equal(String((await c.getLastMessageIds())[0]), String(ids[6]));
    await ctx.reopen();
    c = await ctx.broker.subscribe({ topic, subscription: 's', type: 'exclusive' });
    const deadline = Date.now() + 5000;
    while ((await ctx.broker.admin.internalStats(topic))[topic]!.ledgers.length > 0 && Date.now() < deadline) await sleep(20);
    assert.deepEqual((await ctx.broker.admin.internalStats(topic))[topic]!.ledgers, [], 'every ledger was trimmed');
    const [last] = await c.getLastMessageIds();
    assert.equal(String(last), String(new MessageId(ids[6]!.ledgerId, ids[6]!.entryId, ids[6]!.partition, -1)));
  }, { ledger: { maxEntries: 5 }, maintenanceIntervalMs: 60_000, policies: {} });
});

test('seek - seeks right after a send, while the subscription is still dispatching it, deliver the message once on every type', async () => {
  await withBroker(async ({ broker }) => {
    // The dispatch of the send races the first seek: a seek used to land between a dispatch's read
    // and its offer, which then went out after the reset ("offered twice" or a lost message).
    for (const type of ['exclusive', 'failover', 'shared', 'key_shared'] as const) {
      for (let i = 0; i < 8; i++) {
        const topic = topicName(`seek-race-${type}-${i}`);
        const opts = { topic, subscription: 's', type, initialPosition: 'earliest' as const };
        const c0 = await broker.subscribe(opts);
        const p = await broker.createProducer({ topic });
        await p.send({ value: bytes('v0'), key: 'k0' });
        await c0.seek(MessageId.earliest);
        await c0.seek(MessageId.earliest);
        await c0.close();
        const d = await broker.subscribe(opts);
        const first = await d.receive({ timeoutMs: 2000 });
        assert.equal(first && text(first), 'v0', `${type} run ${i}`);
        await d.ack(first!);
        assert.equal(await d.receive({ timeoutMs: 50 }), null, `${type} run ${i}: delivered twice`);
        await d.close();
        await p.close();
      }
    }
  });
});
