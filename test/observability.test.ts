import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MeterProvider, MetricReader, type CollectionResult } from '@opentelemetry/sdk-metrics';
import { Broker, type MeterLike } from '../index.js';
import { bytes, drain, isCode, KEEP_ALL, range, sendAll, topicName, withBroker } from './util/messaging.js';
import { removeDir, tempDir } from './util/tmp.js';

/** A pino-like logger that keeps what it is given. */
function recordingLogger() {
  const records: { level: string; obj: Record<string, unknown>; msg: string | undefined }[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg?: string) => { records.push({ level, obj, msg }); };
  return { records, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

test('logger - broker, admin and partition actors (in worker threads) write to the given pino-compatible logger; a broken logger breaks nothing', async () => {
  const offloadDir = tempDir('millrace-offload');
  const { records, logger } = recordingLogger();
  try {
    await withBroker(async ({ broker }) => {
      const topic = topicName('log');
      await broker.admin.createTopic(topic);
      await broker.admin.setPolicies(topic, { offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
      const p = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
      await sendAll(p, range(12));
      await broker.admin.runMaintenance(topic);
      const msgs = records.map((r) => r.msg);
      assert.ok(msgs.includes('broker open'), msgs.join('|'));
      assert.ok(records.some((r) => r.msg === 'topic created' && r.obj.topic === topic));
      // Written in a worker thread, delivered to this thread's logger.
      const offloaded = records.find((r) => r.msg === 'ledger offloaded');
      assert.ok(offloaded, msgs.join('|'));
      assert.equal(typeof offloaded.obj.ledgerId, 'number');
      assert.match(String(offloaded.obj.actor), /log-/);
    }, { ledger: { maxEntries: 5 }, maintenanceIntervalMs: 60_000, logger, tieredStorage: { driver: 'filesystem', path: offloadDir } });
    assert.ok(records.some((r) => r.msg === 'broker closed'));
    const throwing = { debug() { throw new Error('x'); }, info() { throw new Error('x'); }, warn() { throw new Error('x'); }, error() { throw new Error('x'); } };
    await withBroker(async ({ broker }) => {
      await broker.admin.createTopic(topicName('log2'));
    }, { logger: throwing });
    await assert.rejects(withBroker(async () => undefined, { logger: { info() {} } as never }), isCode('INVALID_ARGUMENT'));
  } finally {
    removeDir(offloadDir);
  }
});

test('metrics - a Prometheus scrape over HTTP reports counters, storage, backlog and the append latency histogram', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('prom');
    const c = await broker.subscribe({ topic, subscription: 'sub-a', type: 'shared', initialPosition: 'earliest' });
    const p = await broker.createProducer({ topic, batching: { maxMessages: 10 } });
    await sendAll(p, range(50));
    const got = await drain(c, 20);
    for (const m of got) await c.ack(m);
    const server = createServer((req, res) => {
      void broker.metrics.prometheus().then((body) => {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        res.end(body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const text = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
      const value = (line: string): number => {
        const row = text.split('\n').find((l) => l.startsWith(`${line} `));
        assert.ok(row, `no ${line} in\n${text}`);
        return Number(row.slice(line.length + 1));
      };
      assert.equal(value(`millrace_messages_in_total{topic="${topic}"}`), 50);
      assert.ok(value(`millrace_bytes_in_total{topic="${topic}"}`) > 50 * 3);
      assert.ok(value(`millrace_messages_out_total{topic="${topic}"}`) >= 20);
      assert.equal(value(`millrace_subscription_backlog_messages{topic="${topic}",subscription="sub-a"}`), 30);
      assert.equal(value(`millrace_subscription_consumers{topic="${topic}",subscription="sub-a"}`), 1);
      assert.ok(value(`millrace_storage_bytes{topic="${topic}",tier="local"}`) > 0);
      assert.equal(value(`millrace_storage_bytes{topic="${topic}",tier="offloaded"}`), 0);
      assert.ok(value('millrace_append_latency_seconds_count') >= 5);
      assert.equal(value('millrace_append_latency_seconds_bucket{le="+Inf"}'), value('millrace_append_latency_seconds_count'));
      // Every sample line is NAME{labels} VALUE or NAME VALUE, every family has HELP and TYPE.
      for (const line of text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? -?[\d.e+-]+(Inf)?)$/, line);
    } finally {
      server.close();
    }
  });
});

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

test('metrics - an OpenTelemetry Meter (the real SDK) observes the broker\'s figures', async () => {
  const reader = new TestReader();
  const provider = new MeterProvider({ readers: [reader] });
  const dir = tempDir('millrace-otel');
  const broker = await Broker.open({ dataDir: dir, workers: 1, policies: KEEP_ALL, meter: provider.getMeter('millrace') as unknown as MeterLike });
  try {
    const topic = topicName('otel');
    const p = await broker.createProducer({ topic });
    await p.send({ value: bytes('one') });
    await p.send({ value: bytes('two') });
    const result: CollectionResult = await reader.collect();
    const metrics = result.resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const messagesIn = metrics.find((m) => m.descriptor.name === 'millrace_messages_in');
    assert.ok(messagesIn, metrics.map((m) => m.descriptor.name).join());
    const point = messagesIn.dataPoints.find((d) => d.attributes.topic === topic);
    assert.equal(point?.value, 2);
    assert.ok(metrics.some((m) => m.descriptor.name === 'millrace_storage_bytes'));
    const latency = metrics.find((m) => m.descriptor.name === 'millrace_append_latency');
    assert.ok(latency, 'the append latency histogram');
    const h = latency.dataPoints[0]!.value as { count: number; sum: number; buckets: { boundaries: number[] } };
    assert.ok(h.count >= 2 && h.sum > 0, JSON.stringify(h));
    assert.equal(h.buckets.boundaries[0], 0.0001);
  } finally {
    await broker.close();
    await provider.shutdown();
    removeDir(dir);
  }
});
