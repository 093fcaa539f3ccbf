/**
 * Messages larger than a ring record keep their place: one producer's sends are stored in the order
 * sent and a consumer receives them in that order, whether the client is the opening thread or a
 * worker thread connected with Broker.connect. They used to go by postMessage beside the rings, and
 * overtook (or were overtaken by) the small requests and deliveries around them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { MessageId } from '../index.js';
import { withBroker, topicName } from './util/messaging.js';
import { mixedValues, receiveNumbered } from './fixtures/large-values.js';

// 64 KiB rings take records up to 8 KiB: each 20 KB value is sent and delivered in fragments.
const RING_BYTES = 2 ** 16;
const BIG = 20_000;
const COUNT = 400;

function assertInOrder(ids: MessageId[]): void {
  assert.ok(ids.every((id) => id.ledgerId >= 0), 'no send was taken for a duplicate');
  let inversions = 0;
  for (let i = 1; i < ids.length; i++) if (ids[i]!.compare(ids[i - 1]!) <= 0) inversions++;
  assert.equal(inversions, 0, `${inversions} sends were stored before one sent earlier`);
}

function assertReceived(received: [number, number][]): void {
  assert.equal(received.length, COUNT);
  received.forEach(([index, length], i) => {
    assert.equal(index, i, `delivery ${i} was message ${index}`);
    assert.equal(length, i % 10 === 0 ? BIG : 16);
  });
}

test('large records - sends larger than a ring record are stored in the order sent, with the small ones around them', async () => {
  await withBroker(async ({ broker }) => {
    const producer = await broker.createProducer({ topic: topicName('large-sends'), name: 'large', batching: { maxMessages: 1 } });
    assertInOrder(await Promise.all(mixedValues(COUNT, BIG).map((value) => producer.send({ value }))));
  }, { workers: 1, ringBytes: RING_BYTES });
});

test('large records - deliveries larger than a ring record reach the consumer in order with the small ones around them', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('large-deliveries');
    const producer = await broker.createProducer({ topic, batching: { maxMessages: 1 } });
    // One at a time: stored in order whatever the send path does, so this checks delivery alone.
    for (const value of mixedValues(COUNT, BIG)) await producer.send({ value });
    const consumer = await broker.subscribe({ topic, subscription: 'main', type: 'exclusive', initialPosition: 'earliest' });
    assertReceived(await receiveNumbered(consumer, COUNT));
  }, { workers: 1, ringBytes: RING_BYTES });
});

test('large records - the same through a worker thread connected with Broker.connect', async () => {
  await withBroker(async ({ broker }) => {
    const topic = topicName('large-connect');
    const w = new Worker(new URL('./fixtures/connect-large.js', import.meta.url), { workerData: { handle: broker.handle(), topic, count: COUNT, bigBytes: BIG } });
    const result = await new Promise<{ ids: string[]; received: [number, number][] }>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
      w.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
    });
    assertInOrder(result.ids.map((s) => MessageId.fromString(s)));
    assertReceived(result.received);
  }, { workers: 1, ringBytes: RING_BYTES });
});
