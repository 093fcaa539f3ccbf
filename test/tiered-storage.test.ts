import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessageId, type Broker, type BrokerOptions, type Message } from '../index.js';
import { bytes, drain, isCode, range, text, topicName, withBroker } from './util/messaging.js';
import { removeDir, tempDir } from './util/tmp.js';
import { BUCKET, CREDENTIALS, TestS3 } from './offload-fixtures.js';

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

/** A broker with small ledgers and a filesystem object store in its own temp dir. */
async function withTiered(fn: (ctx: { broker: Broker; offloadDir: string; reopen(): Promise<Broker> }) => Promise<void>, extra: Partial<BrokerOptions> = {}): Promise<void> {
  const offloadDir = tempDir('millrace-offload');
  try {
    await withBroker(async (ctx) => fn({ get broker() { return ctx.broker; }, offloadDir, reopen: () => ctx.reopen() }), {
      ledger: { maxEntries: 10 }, maintenanceIntervalMs: 60_000, tieredStorage: { driver: 'filesystem', path: offloadDir }, ...extra,
    });
  } finally {
    removeDir(offloadDir);
  }
}

async function publish(broker: Broker, topic: string, values: string[]): Promise<void> {
  const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
  await Promise.all(values.map((v) => p.send({ value: bytes(v), key: `k${v.length}`, properties: { v } })));
  await p.close();
}

/** Reads the whole topic from the earliest message: [id, value, publish time, properties] per message. */
async function replay(broker: Broker, topic: string, n: number): Promise<{ id: string; value: string; publishTime: number; props: string }[]> {
  const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
  const out = [];
  while (out.length < n) {
    const m: Message<Uint8Array> | null = await r.readNext({ timeoutMs: 3000 });
    if (!m) break;
    out.push({ id: m.id.toString(), value: text(m), publishTime: m.publishTime, props: JSON.stringify(m.properties) });
  }
  await r.close();
  return out;
}

async function ledgers(broker: Broker, topic: string) {
  return Object.values(await broker.admin.internalStats(topic))[0]!.ledgers;
}

const INFINITE = { retention: { timeMs: -1, sizeBytes: -1 } };

test('tiered storage - sealed ledgers past the threshold are offloaded and their local copies deleted; reads are transparent and byte-identical, also after a restart', async () => {
  await withTiered(async (ctx) => {
    const topic = topicName('tiered');
    await ctx.broker.admin.createTopic(topic);
    await ctx.broker.admin.setPolicies(topic, { ...INFINITE, offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
    await publish(ctx.broker, topic, range(100));
    const before = await replay(ctx.broker, topic, 100);
    assert.equal(before.length, 100);
    await ctx.broker.admin.runMaintenance(topic);
    const ls = await ledgers(ctx.broker, topic);
    assert.equal(ls.filter((l) => l.state === 'offloaded').length, 9, JSON.stringify(ls.map((l) => l.state)));
    for (const l of ls.filter((x) => x.state === 'offloaded')) assert.ok(l.offload?.complete && l.offload.size! > 0);
    const st = await ctx.broker.admin.stats(topic);
    assert.ok(st.offloadedStorageSize > 0 && st.localStorageSize < st.storageSize / 5, JSON.stringify(st));
    assert.ok(filesUnder(ctx.offloadDir).length >= 9);
    assert.deepEqual(await replay(ctx.broker, topic, 100), before);
    // A seek by time lands in offloaded data (G6 across tiers).
    const c = await ctx.broker.subscribe({ topic, subscription: 'seeker', type: 'exclusive', initialPosition: 'latest' });
    await c.seek(before[25]!.publishTime);
    const first = (await drain(c, 1))[0]!;
    assert.ok(first.publishTime >= before[25]!.publishTime);
    assert.ok(before.findIndex((b) => b.id === first.id.toString()) <= 25);
    await c.close();
    const broker = await ctx.reopen();
    assert.deepEqual(await replay(broker, topic, 100), before);
  });
});

test('tiered storage - admin.offload offloads every sealed ledger now; the local copy stays until the deletion lag passes', async () => {
  await withTiered(async ({ broker }) => {
    const topic = topicName('manual');
    await broker.admin.createTopic(topic);
    await broker.admin.setPolicies(topic, INFINITE);
    assert.equal((await broker.admin.offloadStatus(topic)).status, 'NOT_RUN');
    await publish(broker, topic, range(35));
    const st = await broker.admin.offload(topic);
    assert.equal(st.status, 'SUCCESS');
    assert.equal(st.offloadedLedgers, 3);
    assert.equal((await broker.admin.offloadStatus(topic)).status, 'SUCCESS');
    const ls = await ledgers(broker, topic);
    assert.deepEqual(ls.map((l) => l.state), ['sealed', 'sealed', 'sealed', 'open']);
    assert.ok(ls.slice(0, 3).every((l) => l.offload?.complete));
    const stats = await broker.admin.stats(topic);
    assert.equal(stats.localStorageSize, stats.storageSize, 'nothing local deleted before the lag (default 4 hours)');
    // Offloading again is a no-op for what is offloaded already.
    assert.equal((await broker.admin.offload(topic)).offloadedLedgers, 3);
    await assert.rejects(broker.admin.offload(topicName('nope')), isCode('TOPIC_NOT_FOUND'));
  });
});

test('tiered storage - a corrupted offloaded object is reported by its checksum (OBJECT_CORRUPT) to readers and consumers, never served', async () => {
  await withTiered(async (ctx) => {
    const topic = topicName('corrupt');
    await ctx.broker.admin.createTopic(topic);
    await ctx.broker.admin.setPolicies(topic, { ...INFINITE, offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
    await publish(ctx.broker, topic, range(25));
    await ctx.broker.admin.runMaintenance(topic);
    // Flip a byte in the middle of the first ledger's object (inside an entry), then restart (no cache).
    const first = (await ledgers(ctx.broker, topic))[0]!;
    const file = filesUnder(ctx.offloadDir).find((f) => f.includes(`${first.ledgerId}-${first.offload!.uid}`))!;
    const buf = readFileSync(file);
    buf[Math.floor(buf.length / 3)]! ^= 0xff;
    writeFileSync(file, buf);
    const broker = await ctx.reopen();
    const r = await broker.createReader({ topic, startMessageId: MessageId.earliest });
    await assert.rejects(async () => {
      for (let i = 0; i < 25; i++) {
        const m = await r.readNext({ timeoutMs: 2000 });
        assert.ok(m, 'a message or an error, never a silent end');
        assert.match(text(m), /^m\d+$/);
      }
    }, isCode('OBJECT_CORRUPT'));
    await r.close();
    // A subscription that must dispatch the damaged ledger tells its consumer, instead of stalling.
    const c = await broker.subscribe({ topic, subscription: 'late', type: 'shared', initialPosition: 'earliest' });
    await assert.rejects(async () => {
      for (let i = 0; i < 25; i++) {
        const m = await c.receive({ timeoutMs: 3000 });
        assert.ok(m, 'a message or an error, never a silent stall');
        assert.match(text(m), /^m\d+$/);
      }
    }, isCode('OBJECT_CORRUPT'));
    await c.close();
    // The same through for await: the failure is thrown out of the loop, not taken for its end.
    const iterating = await broker.subscribe({ topic, subscription: 'iterating', type: 'shared', initialPosition: 'earliest' });
    await assert.rejects(async () => {
      for await (const m of iterating) assert.match(text(m), /^m\d+$/);
      assert.fail('the loop ended without the error');
    }, isCode('OBJECT_CORRUPT'));
    await iterating.close();
  });
});

test('tiered storage - trimming deletes offloaded ledgers in the object store too', async () => {
  await withTiered(async ({ broker, offloadDir }) => {
    const topic = topicName('trimoff');
    await broker.admin.createTopic(topic);
    const c = await broker.subscribe({ topic, subscription: 's', type: 'exclusive', initialPosition: 'earliest' });
    await broker.admin.setPolicies(topic, { retention: { timeMs: 0, sizeBytes: 0 }, offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
    await publish(broker, topic, range(30));
    await broker.admin.runMaintenance(topic);
    assert.ok(filesUnder(offloadDir).length >= 2);
    const got = await drain(c, 30);
    assert.deepEqual(got.map(text), range(30));
    await c.ackCumulative(got[29]!);
    await broker.admin.runMaintenance(topic);
    assert.ok((await ledgers(broker, topic)).every((l) => l.state === 'open'));
    assert.deepEqual(filesUnder(offloadDir), []);
  });
});

test('tiered storage - infinite retention with a small threshold: local bytes stay near the threshold while every message replays', async () => {
  await withTiered(async ({ broker, offloadDir }) => {
    const topic = topicName('forever');
    await broker.admin.createTopic(topic);
    const threshold = 32 * 1024;
    await broker.admin.setPolicies(topic, { ...INFINITE, offloadThresholdBytes: threshold, offloadDeletionLagMs: 0 });
    const value = 'x'.repeat(1000);
    const p = await broker.createProducer({ topic, batching: { maxMessages: 8 } });
    let maxLocal = 0;
    let ledgerBytes = 0;
    for (let round = 0; round < 10; round++) {
      await Promise.all(Array.from({ length: 200 }, (_, i) => p.send({ value: bytes(`${round}:${i}:${value}`) })));
      await broker.admin.runMaintenance(topic);
      const st = await broker.admin.stats(topic);
      maxLocal = Math.max(maxLocal, st.localStorageSize);
      ledgerBytes = Math.max(ledgerBytes, ...(await ledgers(broker, topic)).map((l) => l.bytes));
    }
    await p.close();
    const st = await broker.admin.stats(topic);
    const disk = filesUnder(offloadDir).reduce((n, f) => n + statSync(f).size, 0);
    assert.ok(st.storageSize > 40 * threshold, `took ${st.storageSize} bytes, far more than the threshold`);
    // Checked after each pass: at most the threshold, one sealed ledger over it, and the open ledger.
    assert.ok(maxLocal <= threshold + 2 * ledgerBytes, `local ${maxLocal} <= ${threshold} + 2 x ${ledgerBytes}`);
    assert.ok(disk >= st.offloadedStorageSize);
    const all = await replay(broker, topic, 2000);
    assert.equal(all.length, 2000);
    assert.deepEqual(all.map((m) => m.value.slice(0, m.value.indexOf(':', m.value.indexOf(':') + 1))),
      Array.from({ length: 2000 }, (_, i) => `${Math.floor(i / 200)}:${i % 200}`));
  });
});

test('tiered storage - an offload policy without tieredStorage reports ERROR and deletes nothing', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('noconf');
    await broker.admin.createTopic(topic);
    await broker.admin.setPolicies(topic, INFINITE);
    await publish(broker, topic, range(25));
    const st = await broker.admin.offload(topic);
    assert.equal(st.status, 'ERROR');
    assert.match(st.lastError ?? '', /tieredStorage/);
    assert.equal((await replay(broker, topic, 25)).length, 25);
  }, { ledger: { maxEntries: 10 }, maintenanceIntervalMs: 60_000 });
  await assert.rejects(withBroker(async () => undefined, { tieredStorage: { driver: 'ftp' } as never }), isCode('INVALID_ARGUMENT'));
});

test('tiered storage - S3: offloads go to a real S3 server and read back; while it is away offload reports ERROR, publishing goes on and nothing local is deleted; when it is back the offload completes', async () => {
  const s3 = await TestS3.start();
  try {
    await withBroker(async ({ broker }) => {
      const topic = topicName('s3');
      await broker.admin.createTopic(topic);
      await broker.admin.setPolicies(topic, { ...INFINITE, offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
      await publish(broker, topic, range(30));
      await broker.admin.runMaintenance(topic);
      assert.equal((await ledgers(broker, topic)).filter((l) => l.state === 'offloaded').length, 2);
      const before = await replay(broker, topic, 30);
      assert.deepEqual(before.map((m) => m.value), range(30));
      await s3.stop();
      // The store is away: publishing goes on, the offload fails and is retried, nothing local goes.
      await publish(broker, topic, range(30, 'later'));
      const failed = await broker.admin.offload(topic);
      assert.equal(failed.status, 'ERROR');
      assert.ok(failed.lastError, 'the error is reported');
      const during = await ledgers(broker, topic);
      assert.equal(during.filter((l) => l.state === 'sealed' && !l.offload?.complete).length, 3, JSON.stringify(during.map((l) => [l.state, l.offload?.complete])));
      assert.equal((await broker.admin.offloadStatus(topic)).status, 'ERROR');
      await s3.restart();
      await broker.admin.runMaintenance(topic);
      assert.equal((await broker.admin.offloadStatus(topic)).status, 'SUCCESS');
      assert.equal((await ledgers(broker, topic)).filter((l) => l.state === 'offloaded').length, 5);
      const all = await replay(broker, topic, 60);
      assert.deepEqual(all.map((m) => m.value), [...range(30), ...range(30, 'later')]);
    }, {
      ledger: { maxEntries: 10 }, maintenanceIntervalMs: 60_000,
      tieredStorage: { driver: 's3', bucket: BUCKET, prefix: 'brokers/a', endpoint: s3.endpoint, credentials: CREDENTIALS },
    });
  } finally {
    await s3.close();
  }
});
