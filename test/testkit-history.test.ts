/**
 * The history checker (millrace/testkit) finds each anomaly it names, and nothing in a clean
 * history; the recorder records a real broker's producers and consumers into a history it accepts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, HistoryRecorder, fileSink, readHistoryFile, type HistoryEvent } from '../testkit/index.js';
import { bytes, topicName, withBroker } from './util/messaging.js';
import { tempDir, removeDir } from './util/tmp.js';
import { join } from 'node:path';

const sub = (subscription: string, kind: 'shared' | 'key_shared' | 'exclusive' = 'shared'): HistoryEvent =>
  ({ type: 'subscribe', subscription, kind, initialPosition: 'earliest' });
const sendOk = (value: string, id: string, extra: { key?: string; seq?: number } = {}): HistoryEvent =>
  ({ type: 'send', value, outcome: 'ok', id, producer: 'p', seq: extra.seq ?? Number(id.split(':')[1]), key: extra.key });
const recv = (subscription: string, value: string, id: string, key?: string): HistoryEvent =>
  ({ type: 'receive', subscription, value, id, key });
const ack = (subscription: string, value: string, id: string, cumulative = false): HistoryEvent =>
  ({ type: 'ack', subscription, value, id, outcome: 'ok', cumulative });

const kinds = (h: HistoryEvent[]): string[] => checkHistory(h).anomalies.map((a) => a.kind).sort();

test('testkit - a clean history (redeliveries of unacked messages included) has no anomalies', () => {
  const r = checkHistory([
    sub('s'), sendOk('a', '1:0:-1:0'), sendOk('b', '1:1:-1:0'),
    { type: 'send', value: 'c', outcome: 'unknown', producer: 'p', seq: 9 },
    recv('s', 'a', '1:0:-1:0'), recv('s', 'a', '1:0:-1:0'), ack('s', 'a', '1:0:-1:0'), recv('s', 'b', '1:1:-1:0'),
  ]);
  assert.equal(r.valid, true, r.format());
  assert.match(r.format(), /no anomalies/);
});

test('testkit - lost: an acknowledged send never received is named in the report', () => {
  const r = checkHistory([sub('s'), sendOk('a', '1:0:-1:0'), sendOk('b', '1:1:-1:0'), recv('s', 'a', '1:0:-1:0')]);
  assert.deepEqual(r.anomalies.map((a) => a.kind), ['lost']);
  assert.deepEqual(r.anomalies[0]!.values, ['b']);
  assert.match(r.format(), /s never received 1 acknowledged message\(s\): "b" \(1:1:-1:0\)/);
});

test("testkit - lost: a 'latest' subscription owes only sends called after it; unknown sends are owed nowhere", () => {
  const h: HistoryEvent[] = [sendOk('a', '1:0:-1:0'), { type: 'subscribe', subscription: 's', kind: 'shared', initialPosition: 'latest' },
    { type: 'send', value: 'u', outcome: 'unknown' }, sendOk('b', '1:1:-1:0')];
  assert.deepEqual(checkHistory(h).anomalies.map((a) => a.values), [['b']]);
});

test('testkit - duplicate after ack, individual and cumulative; a seek forgives it', () => {
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0'), recv('s', 'a', '1:0:-1:0'), ack('s', 'a', '1:0:-1:0'), recv('s', 'a', '1:0:-1:0')]), ['duplicate-after-ack']);
  assert.deepEqual(kinds([sub('s', 'exclusive'), sendOk('a', '1:0:-1:0'), sendOk('b', '1:1:-1:0'), recv('s', 'a', '1:0:-1:0'), recv('s', 'b', '1:1:-1:0'),
    ack('s', 'b', '1:1:-1:0', true), recv('s', 'a', '1:0:-1:0')]), ['duplicate-after-ack']);
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0'), recv('s', 'a', '1:0:-1:0'), ack('s', 'a', '1:0:-1:0'),
    { type: 'seek', subscription: 's', target: '0' }, recv('s', 'a', '1:0:-1:0')]), []);
  // An ack that failed does not count.
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0'), recv('s', 'a', '1:0:-1:0'),
    { type: 'ack', subscription: 's', value: 'a', id: '1:0:-1:0', outcome: 'failed' }, recv('s', 'a', '1:0:-1:0')]), []);
});

test('testkit - read of a failed send, unexpected messages and a changed key', () => {
  assert.deepEqual(kinds([sub('s'), { type: 'send', value: 'a', outcome: 'failed', error: 'STORAGE_WRITE_FAILED' }, recv('s', 'a', '1:0:-1:0')]), ['read-of-failed-send']);
  assert.deepEqual(kinds([sub('s'), recv('s', 'ghost', '1:0:-1:0')]), ['unexpected']);
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0', { key: 'k1' }), recv('s', 'a', '1:0:-1:0', 'k2')]), ['unexpected']);
});

test('testkit - ID reuse and a message stored twice (deduplication failed)', () => {
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0'), sendOk('b', '1:0:-1:0', { seq: 1 }), recv('s', 'a', '1:0:-1:0'), recv('s', 'b', '1:0:-1:0')]), ['id-reuse', 'id-reuse', 'send-order']);
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0'), { type: 'send', value: 'a', outcome: 'ok', id: '-1:-1:-1:-1' }, recv('s', 'a', '1:0:-1:0')]), []);
  assert.deepEqual(kinds([sub('s'), sendOk('a', '1:0:-1:0'), recv('s', 'a', '1:0:-1:0'), recv('s', 'a', '2:0:-1:0')]), ['stored-twice']);
});

test("testkit - order: a producer's IDs out of call order, first receipts out of partition and key order", () => {
  assert.deepEqual(kinds([sendOk('a', '1:5:0:0', { seq: 0 }), sendOk('b', '1:4:0:0', { seq: 1 })]), ['send-order']);
  const h: HistoryEvent[] = [sub('s', 'exclusive'), sendOk('a', '1:0:0:0', { key: 'k' }), sendOk('b', '1:1:0:0', { key: 'k' }),
    recv('s', 'b', '1:1:0:0', 'k'), recv('s', 'a', '1:0:0:0', 'k')];
  assert.deepEqual(kinds(h), ['key-order', 'partition-order']);
  // key_shared: per key only; other keys may interleave, and a shared subscription has no order.
  const ks: HistoryEvent[] = [sub('k', 'key_shared'), sendOk('a', '1:0:0:0', { key: 'x' }), sendOk('b', '1:1:0:0', { key: 'y' }),
    recv('k', 'b', '1:1:0:0', 'y'), recv('k', 'a', '1:0:0:0', 'x')];
  assert.deepEqual(kinds(ks), []);
  assert.deepEqual(kinds([sub('q'), sendOk('a', '1:0:0:0', { key: 'x' }), sendOk('b', '1:1:0:0', { key: 'x' }), recv('q', 'b', '1:1:0:0', 'x'), recv('q', 'a', '1:0:0:0', 'x')]), []);
});

test('testkit - the recorder records a real shared queue; the history checks clean and survives a file round trip', async () => {
  const dir = tempDir('millrace-testkit');
  try {
    const file = join(dir, 'history.jsonl');
    const sink = fileSink(file);
    const rec = new HistoryRecorder({ sink });
    await withBroker(async ({ broker }) => {
      const topic = topicName('testkit');
      await broker.admin.createTopic(topic, { partitions: 2 });
      const c1 = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'shared', initialPosition: 'earliest' }), { kind: 'shared', initialPosition: 'earliest' });
      const c2 = rec.consumer(await broker.subscribe({ topic, subscription: 'q', type: 'shared' }), { kind: 'shared', initialPosition: 'earliest' });
      const p = rec.producer(await broker.createProducer({ topic, name: 'tk' }));
      await Promise.all(Array.from({ length: 200 }, (_, i) => p.send({ value: bytes(`m${i}`), key: `k${i % 7}` })));
      let got = 0;
      for (const c of [c1, c2, c1, c2]) {
        for (let m = await c.receive({ timeoutMs: 200 }); m; m = await c.receive({ timeoutMs: 200 })) {
          got++;
          await c.ack(m);
        }
      }
      assert.ok(got >= 200);
      // A message that was acked and delivered again would be reported: forge one to see it named.
      const last = [...rec.history].reverse().find((e) => e.type === 'receive')!;
      const forged = checkHistory([...rec.history, last]);
      assert.deepEqual(forged.anomalies.map((a) => a.kind), ['duplicate-after-ack'], forged.format());
    });
    sink.close();
    const report = checkHistory(rec.history);
    assert.equal(report.valid, true, report.format());
    assert.equal(report.stats.sendsOk, 200);
    assert.deepEqual(checkHistory(readHistoryFile(file)).stats, report.stats);
  } finally {
    removeDir(dir);
  }
});
