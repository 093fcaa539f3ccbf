/**
 * A feature worker: a worker thread that joins the broker of its parent through `Broker.connect`,
 * drains the events topic's Shared subscription, computes each event's features and publishes them
 * to the features topic, acking the source event only once its feature is durable.
 *
 * Exactly once: the worker's producer has a name of its own and publishes each feature with the
 * source event's sequence ID, keyed by the same user, to a features topic with the same partition
 * count, so the feature of an event from partition p lands on features partition p, with sequence
 * IDs that increase there (a consumer receives each partition's messages in order). A republished
 * feature (a retry after a lost reply, or a source event delivered to this worker again because its
 * ack did not land) carries a sequence ID the partition already holds: deduplication drops it. To
 * show that working, every `retryEvery`-th event is published twice on purpose; the duplicate must
 * come back dropped (MessageId -1:-1), and the parent counts how many did.
 *
 * The limit of this scheme: deduplication is per producer name, so a source event that a dying
 * worker published but never acked, redelivered to the *other* worker, is published again under
 * that worker's name and stored twice (and one the other worker already passed in sequence IDs
 * would be dropped). Closing that gap needs the publish and the ack in one transaction, as Pulsar
 * does; in a run without worker deaths no event is redelivered, and the run checks the counts.
 *
 * Messages to the parent: `ready`, then `progress` every 100 ms and `done` after `stop`, each with
 * this worker's counts; `error` with a one-line message if anything fails.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { Broker, MillraceError, type Message, type MessageId } from '../index.js';
import type { BrokerHandle } from '../actors/client/broker.js';
import { decodeEvent, encodeFeatures } from './codec.js';
import { featuresOf } from './features.js';

/** What the parent passes in `workerData`. */
export interface FeatureWorkerData {
  handle: BrokerHandle;
  eventsTopic: string;
  featuresTopic: string;
  subscription: string;
  /** Consumer name; the producer is named `<featuresProducerPrefix><name>`. */
  name: string;
  featuresProducerPrefix: string;
  /** Publish every n-th event (by sequence ID) twice, to show deduplication drop the second. */
  retryEvery: number;
}

/** A worker's counts, as reported to the parent. */
export interface FeatureWorkerCounts {
  received: number;
  /** Features stored (not dropped as duplicates). */
  published: number;
  /** Source events acked after their feature was durable. */
  acked: number;
  /** Deliberate republishes that deduplication dropped. */
  retriesDropped: number;
  /** Deliberate republishes that were stored: each is a duplicate feature (must stay 0). */
  retriesStored: number;
  /** First publishes that came back as duplicates (a redelivered source event already published). */
  redeliveriesDropped: number;
  /** Features that landed on another partition number than their source event (must stay 0). */
  misrouted: number;
}

export type FeatureWorkerMessage =
  | { t: 'ready' }
  | { t: 'progress' | 'done'; counts: FeatureWorkerCounts }
  | { t: 'error'; message: string };

// Sends in flight at most: enough to keep batches full, bounded so memory is too.
const WINDOW = 4096;

const data = workerData as FeatureWorkerData;
const port = parentPort!;
const post = (m: FeatureWorkerMessage): void => port.postMessage(m);
const counts: FeatureWorkerCounts = { received: 0, published: 0, acked: 0, retriesDropped: 0, retriesStored: 0, redeliveriesDropped: 0, misrouted: 0 };
let stopping = false;
const onMessage = (m: { t: string }): void => {
  if (m.t === 'stop') stopping = true;
};
port.on('message', onMessage);

const isDuplicate = (id: MessageId): boolean => id.ledgerId < 0;

async function run(): Promise<void> {
  const broker = await Broker.connect(data.handle);
  try {
    const consumer = await broker.subscribe({
      topic: data.eventsTopic, subscription: data.subscription, type: 'shared', consumerName: data.name,
      initialPosition: 'earliest', receiverQueueSize: 2000,
    });
    const producer = await broker.createProducer({
      topic: data.featuresTopic, name: `${data.featuresProducerPrefix}${data.name}`,
      batching: { maxMessages: 1000, maxDelayMs: 2 }, maxPendingMessages: WINDOW * 2,
    });
    post({ t: 'ready' });
    const timer = setInterval(() => post({ t: 'progress', counts: { ...counts } }), 100);
    let failure: unknown;
    const window: (Promise<void> | undefined)[] = new Array(WINDOW);
    let slot = 0;
    const handle = (m: Message<Uint8Array>): Promise<void> => {
      const seq = m.sequenceId;
      let value: Uint8Array;
      try {
        if (seq === undefined) throw new MillraceError('INVALID_ARGUMENT', `event ${m.id.toString()} has no sequence ID to derive its feature's from`);
        value = encodeFeatures(featuresOf(decodeEvent(m.data)));
      } catch (err) {
        return Promise.reject(err);
      }
      const first = producer.send({ value, key: m.key, sequenceId: seq });
      const retry = seq % data.retryEvery === 0 ? producer.send({ value, key: m.key, sequenceId: seq }) : undefined;
      return first.then(async (id) => {
        if (isDuplicate(id)) counts.redeliveriesDropped++;
        else {
          counts.published++;
          if (id.partition !== m.id.partition) counts.misrouted++;
        }
        if (retry) {
          if (isDuplicate(await retry)) counts.retriesDropped++;
          else counts.retriesStored++;
        }
        // Ack after publish: a crash between the two redelivers the event, and the republish is dropped.
        await consumer.ack(m);
        counts.acked++;
      });
    };
    while (failure === undefined) {
      const m = await consumer.receive({ timeoutMs: 50 });
      if (!m) {
        if (stopping) break;
        continue;
      }
      counts.received++;
      const prev = window[slot];
      if (prev) await prev;
      window[slot] = handle(m).catch((err: unknown) => {
        failure ??= err;
      });
      slot = (slot + 1) % WINDOW;
    }
    await Promise.all(window);
    clearInterval(timer);
    if (failure !== undefined) throw failure;
    await producer.close();
    await consumer.close();
  } finally {
    await broker.close();
  }
}

run().then(
  () => post({ t: 'done', counts: { ...counts } }),
  (err: unknown) => post({ t: 'error', message: err instanceof MillraceError ? `${err.code}: ${err.message}` : String(err) }),
).finally(() => port.off('message', onMessage));
