import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageId, validatePolicies, type Broker } from '../index.js';
import { bytes, drain, isCode, range, sleep, text, topicName, withBroker } from './util/messaging.js';

// Small ledgers (10 entries) and one message per entry, so trimming is visible ledger by ledger.
const SMALL = { ledger: { maxEntries: 10 }, maintenanceIntervalMs: 60_000, policies: {} };

async function publish(broker: Broker, topic: string, values: string[]): Promise<void> {
  const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
  for (const v of values) await p.send({ value: bytes(v) });
  await p.close();
}

async function ledgersOf(broker: Broker, topic: string): Promise<{ ledgerId: number; state: string; entries: number }[]> {
  const st = await broker.admin.internalStats(topic);
  return Object.values(st)[0]!.ledgers;
}

test('policies - Pulsar\'s retention combinations: the valid ones pass, the invalid ones are POLICY_INVALID', () => {
  for (const [timeMs, sizeBytes] of [[0, 0], [-1, -1], [-1, 1024], [60_000, -1], [60_000, 1024]] as const) {
    assert.deepEqual(validatePolicies({ retention: { timeMs, sizeBytes } }).retention, { timeMs, sizeBytes });
  }
  for (const [timeMs, sizeBytes] of [[0, 1024], [60_000, 0], [0, -1], [-1, 0], [-2, 5], [1.5, 3]] as const) {
    assert.throws(() => validatePolicies({ retention: { timeMs, sizeBytes } }), isCode('POLICY_INVALID'), `${timeMs}/${sizeBytes}`);
  }
  assert.throws(() => validatePolicies({ retention: { timeMs: '1h', sizeBytes: -1 } }), isCode('POLICY_INVALID'));
  assert.throws(() => validatePolicies({ retentionMinutes: 5 }), isCode('POLICY_INVALID'));
  assert.throws(() => validatePolicies({ ttlMs: -1 }), isCode('POLICY_INVALID'));
  assert.throws(() => validatePolicies({ backlogQuota: { limitBytes: 10, policy: 'drop_everything' } }), isCode('POLICY_INVALID'));
  assert.throws(() => validatePolicies({ backlogQuota: { policy: 'producer_exception' } }), isCode('POLICY_INVALID'));
  // A quota retention would cut first is refused (Pulsar fails fast on it too).
  assert.throws(() => validatePolicies({ retention: { timeMs: -1, sizeBytes: 1000 }, backlogQuota: { limitBytes: 5000, policy: 'producer_exception' } }), isCode('POLICY_INVALID'));
  assert.throws(() => validatePolicies(null), isCode('POLICY_INVALID'));
});

test('policies - set on a namespace, overridden per topic field by field; effective policies layer them', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('pol');
    await broker.admin.createTopic(topic);
    await broker.admin.setPolicies('public/default', { retention: { timeMs: -1, sizeBytes: -1 }, ttlMs: 5000 });
    await broker.admin.setPolicies(topic, { ttlMs: 100 });
    await broker.admin.setPolicies(topic, { offloadThresholdBytes: 1024 });
    assert.deepEqual(broker.admin.getPolicies(topic), { ttlMs: 100, offloadThresholdBytes: 1024 });
    const eff = broker.admin.getPolicies(topic, { effective: true });
    assert.deepEqual(eff.retention, { timeMs: -1, sizeBytes: -1 });
    assert.equal(eff.ttlMs, 100);
    assert.equal(eff.offloadThresholdBytes, 1024);
    assert.equal(eff.offloadDeletionLagMs, 4 * 3600_000); // Pulsar's default
    // The merged result is checked too: a topic quota over its namespace's retention size.
    await broker.admin.setPolicies('public/default', { retention: { timeMs: -1, sizeBytes: 10_000 } });
    await assert.rejects(broker.admin.setPolicies(topic, { backlogQuota: { limitBytes: 50_000, policy: 'producer_exception' } }), isCode('POLICY_INVALID'));
    await assert.rejects(broker.admin.setPolicies('public/default/../etc', {}), isCode('TOPIC_NAME_INVALID'));
    await assert.rejects(broker.admin.setPolicies(`${topic}-partition-0`, {}), isCode('TOPIC_NAME_INVALID'));
  });
});

test('retention - with Pulsar\'s default, ledgers every subscription has passed are deleted, oldest first, the slowest one decides', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('trim');
    const a = await broker.subscribe({ topic, subscription: 'fast', type: 'exclusive', initialPosition: 'earliest' });
    const b = await broker.subscribe({ topic, subscription: 'slow', type: 'shared', initialPosition: 'earliest' });
    await publish(broker, topic, range(100));
    assert.equal((await ledgersOf(broker, topic)).length, 10);
    const ga = await drain(a, 100);
    await a.ackCumulative(ga[99]!);
    const gb = await drain(b, 35);
    for (const m of gb) await b.ack(m);
    await broker.admin.runMaintenance(topic);
    // 'slow' acked 0..34: ledgers holding 0-9, 10-19, 20-29 are passed by both; 30-39 is not.
    let ledgers = await ledgersOf(broker, topic);
    assert.equal(ledgers.length, 7);
    const st = await broker.admin.stats(topic);
    assert.equal(st.subscriptions['slow']!.msgBacklog, 65);
    // A reader from the earliest gets the earliest message still stored, never garbage.
    const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    assert.equal(text((await r.readNext({ timeoutMs: 2000 }))!), 'm30');
    await r.close();
    // 'slow' still gets everything it has not acked.
    const rest = await drain(b, 65, { idleMs: 1000 });
    assert.deepEqual(rest.map(text), range(100).slice(35));
    for (const m of rest) await b.ack(m);
    await broker.admin.runMaintenance(topic);
    ledgers = await ledgersOf(broker, topic);
    // Only the last ledger (full, but sealed only when the next append comes) may remain.
    assert.ok(ledgers.length <= 1, JSON.stringify(ledgers));
  }, SMALL);
});

test('retention - consumed ledgers are trimmed as the subscriptions pass them, not only at the housekeeping tick (Pulsar trims on mark-delete)', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('prompt');
    const c = await broker.subscribe({ topic, subscription: 'work', type: 'shared', initialPosition: 'earliest' });
    await publish(broker, topic, range(100));
    assert.equal((await ledgersOf(broker, topic)).length, 10);
    const got = await drain(c, 100);
    for (const m of got.slice(0, 55)) await c.ack(m);
    // Housekeeping runs every 60 s here: only the ack-driven trim can delete ledgers in time.
    const deadline = Date.now() + 5000;
    let ledgers = await ledgersOf(broker, topic);
    while (ledgers.length > 5 && Date.now() < deadline) {
      await sleep(20);
      ledgers = await ledgersOf(broker, topic);
    }
    // Acked 0..54: the ledgers of 0-9 .. 40-49 are passed, 50-59 is not.
    assert.deepEqual(ledgers.map((l) => l.entries), [10, 10, 10, 10, 10]);
    const st = await broker.admin.stats(topic);
    assert.equal(st.subscriptions['work']!.msgBacklog, 45);
    // What is not acked is still there: a consumer coming after this one gets it.
    await c.close();
    const c2 = await broker.subscribe({ topic, subscription: 'work', type: 'shared' });
    const again = await drain(c2, 45, { idleMs: 3000 });
    assert.deepEqual(again.map(text).sort(), range(100).slice(55).sort());
  }, { ...SMALL, policies: { retention: { timeMs: 0, sizeBytes: 0 } } });
});

test('retention - on a topic without subscriptions each sealed ledger is trimmed at rollover; a retention policy keeps them', async () => {
  await withBroker(async ({ broker }) => {
    const none = topicName('nosub');
    const kept = topicName('nosub-kept');
    await broker.admin.setPolicies(kept, { retention: { timeMs: -1, sizeBytes: -1 } });
    await publish(broker, none, range(45));
    await publish(broker, kept, range(45));
    const deadline = Date.now() + 5000;
    let ledgers = await ledgersOf(broker, none);
    while (ledgers.length > 1 && Date.now() < deadline) {
      await sleep(20);
      ledgers = await ledgersOf(broker, none);
    }
    assert.deepEqual(ledgers.map((l) => l.state), ['open'], JSON.stringify(ledgers));
    assert.equal(ledgers[0]!.entries, 5);
    await sleep(300); // several trim checks' worth
    assert.equal((await ledgersOf(broker, kept)).length, 5);
  }, SMALL);
});

test('retention - by time keeps acked ledgers until they are older than the limit; by size keeps the newest within it; -1 keeps all', async () => {
  await withBroker(async ({ broker }) => {
    const infinite = topicName('keep');
    const timed = topicName('timed');
    const sized = topicName('sized');
    // Each kept while it is written (each rollover would trim it at once), then limited below.
    for (const t of [infinite, timed, sized]) await broker.admin.setPolicies(t, { retention: { timeMs: -1, sizeBytes: -1 } });
    for (const t of [infinite, timed, sized]) await publish(broker, t, range(50)); // no subscription: all consumed
    const entryBytes = (await broker.admin.stats(sized)).storageSize / 50;
    // A limit far above the run's length: how long the writes took (slow disks, loaded CI) cannot matter.
    await broker.admin.setPolicies(timed, { retention: { timeMs: 600_000, sizeBytes: -1 } });
    await broker.admin.setPolicies(sized, { retention: { timeMs: -1, sizeBytes: Math.ceil(entryBytes * 25) } });
    for (const t of [infinite, timed, sized]) await broker.admin.runMaintenance(t);
    assert.equal((await ledgersOf(broker, infinite)).length, 5);
    assert.equal((await ledgersOf(broker, timed)).length, 5, 'younger than the time limit');
    // 50 entries of which at most 25 entries' bytes are kept: whole ledgers go until the rest fits.
    const kept = await ledgersOf(broker, sized);
    assert.ok(kept.reduce((n, l) => n + l.entries, 0) <= 25 + 10 && kept.length < 5, JSON.stringify(kept));
    // Now every sealed ledger is older than the limit.
    await sleep(50);
    await broker.admin.setPolicies(timed, { retention: { timeMs: 20, sizeBytes: -1 } });
    await broker.admin.runMaintenance(timed);
    assert.ok((await ledgersOf(broker, timed)).length <= 1);
    assert.equal((await ledgersOf(broker, infinite)).length, 5);
    const r = await broker.createReader({ topic: infinite, startMessageId: MessageId.earliest });
    const all: string[] = [];
    for (let m = await r.readNext({ timeoutMs: 1000 }); m; m = all.length < 50 ? await r.readNext({ timeoutMs: 1000 }) : null) all.push(text(m));
    assert.deepEqual(all, range(50));
  }, SMALL);
});

test('ttl - unacked messages older than the TTL are acked automatically; newer ones still arrive', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('ttl');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'shared', initialPosition: 'earliest', receiverQueueSize: 5 });
    // 1.5 s: the five 'new' sends and the pass must fit in it even on a slow, loaded machine.
    await broker.admin.setPolicies(topic, { ttlMs: 1500, retention: { timeMs: -1, sizeBytes: -1 } });
    await publish(broker, topic, range(30, 'old'));
    await sleep(1600);
    await publish(broker, topic, range(5, 'new'));
    await broker.admin.runMaintenance(topic);
    assert.equal((await broker.admin.stats(topic)).subscriptions['s']!.msgBacklog, 5);
    // Up to receiverQueueSize old messages may have been handed out before the pass; the rest never come.
    const got = (await drain(c, 40, { idleMs: 700 })).map(text);
    assert.ok(got.filter((v) => v.startsWith('old')).length <= 5, got.join());
    assert.deepEqual(got.filter((v) => v.startsWith('new')), range(5, 'new'));
  }, SMALL);
});

test('backlog quota - producer_exception refuses sends with BACKLOG_QUOTA_EXCEEDED until the backlog is acked', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('quota-ex');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    await publish(broker, topic, range(20));
    const perEntry = (await broker.admin.stats(topic)).storageSize / 20;
    await broker.admin.setPolicies(topic, { backlogQuota: { limitBytes: Math.floor(perEntry * 10), policy: 'producer_exception' } });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    const err = await p.send({ value: bytes('refused') }).then(() => undefined, (e: unknown) => e);
    assert.ok(isCode('BACKLOG_QUOTA_EXCEEDED')(err), String(err));
    assert.equal((err as { retriable: boolean }).retriable, true);
    const got = await drain(c, 20);
    await c.ackCumulative(got[19]!);
    await broker.admin.runMaintenance(topic);
    await p.send({ value: bytes('accepted') });
    assert.deepEqual((await drain(c, 5, { idleMs: 500 })).map(text), ['accepted']);
  }, SMALL);
});

test('backlog quota - producer_request_hold holds sends (in order) until the backlog is acked', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('quota-hold');
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    await publish(broker, topic, range(20));
    const perEntry = (await broker.admin.stats(topic)).storageSize / 20;
    await broker.admin.setPolicies(topic, { backlogQuota: { limitBytes: Math.floor(perEntry * 10), policy: 'producer_request_hold' } });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    let settled = 0;
    const sends = range(3, 'held').map((v) => p.send({ value: bytes(v) }).then(() => settled++));
    await sleep(300);
    assert.equal(settled, 0, 'held while over quota');
    const got = await drain(c, 20);
    await c.ackCumulative(got[19]!);
    await broker.admin.runMaintenance(topic);
    await Promise.all(sends);
    assert.deepEqual((await drain(c, 5, { idleMs: 500 })).map(text), range(3, 'held'));
  }, SMALL);
});

test('backlog quota - consumer_backlog_eviction moves the slow subscription past its oldest messages; publishing goes on', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('quota-evict');
    const slow = await broker.subscribe({ topic, subscription: 'slow', type: 'exclusive', initialPosition: 'earliest', receiverQueueSize: 1 });
    await publish(broker, topic, range(40));
    const perEntry = (await broker.admin.stats(topic)).storageSize / 40;
    await broker.admin.setPolicies(topic, { backlogQuota: { limitBytes: Math.floor(perEntry * 10), policy: 'consumer_backlog_eviction' } });
    await publish(broker, topic, range(5, 'more'));
    await broker.admin.runMaintenance(topic);
    const backlog = (await broker.admin.stats(topic)).subscriptions['slow']!.msgBacklog;
    assert.ok(backlog <= 11, `backlog ${backlog} within the quota (plus the one message the consumer holds)`);
    const got = (await drain(slow, 50, { idleMs: 700 })).map(text);
    assert.deepEqual(got.slice(-5), range(5, 'more'));
    assert.ok(got.length <= 12, got.join());
  }, SMALL);
});
