/**
 * Training: each epoch replays the features topic from the earliest message with a Reader and trains
 * the logistic regression online; then the model scores every event (a second replay), measures
 * loss and accuracy on the held-out events, and publishes the training events it gets wrong to the
 * feedback topic. The next epoch first consumes that feedback (a durable subscription) and weights
 * those hard examples up: the feedback loop.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { MessageId, MillraceError, type Broker, type Consumer, type Message, type Producer, type Reader } from '../index.js';
import { decodeFeatures, decodeFeedback, encodeFeedback } from './codec.js';
import { LogisticRegression, logLoss } from './model.js';
import { isHoldout } from './synthetic.js';
import { ledgerStates } from './storage.js';
import type { EpochResult, LiveState } from './state.js';
import type { PipelineTopics } from './topics.js';

/** How much a hard example counts: 1 + HARD_WEIGHT x its error (in (0.5, 1]), so at most twice. */
const HARD_WEIGHT = 1;
// A replay that gets no message for this long has lost data or its broker: fail, never hang.
const STALL_MS = 30_000;
// Yield to the event loop this often, so the live view keeps drawing during a replay of buffered messages.
const YIELD_EVERY = 4096;
export const FEEDBACK_SUBSCRIPTION = 'trainer';

export interface TrainerOptions {
  /** Messages on the features topic (every event's feature, once). */
  features: number;
  events: number;
  learningRate: number;
}

export class Trainer {
  readonly model: LogisticRegression;
  private pendingFeedback = 0;
  private replay: Reader<Uint8Array> | undefined;

  private constructor(
    private readonly broker: Broker,
    private readonly topics: PipelineTopics,
    private readonly options: TrainerOptions,
    private readonly state: LiveState,
    private readonly feedbackProducer: Producer<Uint8Array>,
    private readonly feedbackConsumer: Consumer<Uint8Array>,
  ) {
    this.model = new LogisticRegression({ learningRate: options.learningRate });
  }

  static async create(broker: Broker, topics: PipelineTopics, options: TrainerOptions, state: LiveState): Promise<Trainer> {
    const consumer = await broker.subscribe({ topic: topics.feedback, subscription: FEEDBACK_SUBSCRIPTION, type: 'exclusive', initialPosition: 'earliest', receiverQueueSize: 5000 });
    const producer = await broker.createProducer({ topic: topics.feedback, name: 'trainer-feedback', batching: { maxMessages: 1000, maxDelayMs: 2 } });
    return new Trainer(broker, topics, options, state, producer, consumer);
  }

  async close(): Promise<void> {
    await this.replay?.close();
    await this.feedbackProducer.close();
    await this.feedbackConsumer.close();
  }

  /** The previous epoch's hard examples, from the feedback subscription: event ID -> weight. */
  private async consumeFeedback(): Promise<Map<number, number>> {
    const weights = new Map<number, number>();
    let last: Message<Uint8Array> | undefined;
    for (let i = 0; i < this.pendingFeedback; i++) {
      const m = await this.feedbackConsumer.receive({ timeoutMs: STALL_MS });
      if (!m) throw new MillraceError('TIMEOUT', `the feedback subscription delivered ${i} of ${this.pendingFeedback} messages and none more for ${STALL_MS} ms`);
      const f = decodeFeedback(m.data);
      weights.set(f.eventId, 1 + HARD_WEIGHT * f.error);
      last = m;
    }
    if (last) await this.feedbackConsumer.ackCumulative(last);
    this.pendingFeedback = 0;
    return weights;
  }

  /**
   * The features replay from the earliest message: one reader for the whole run, sought back to the
   * start for each pass (Reader.seek), as an epoch loop would rather than opening one per pass.
   */
  private async replayFromEarliest(): Promise<Reader<Uint8Array>> {
    if (this.replay === undefined) {
      this.replay = await this.broker.createReader({ topic: this.topics.features, startMessageId: MessageId.earliest, receiverQueueSize: 20_000 });
    } else {
      await this.replay.seek(MessageId.earliest);
    }
    return this.replay;
  }

  private async next(reader: Reader<Uint8Array>, got: number) {
    const m = await reader.readNext({ timeoutMs: STALL_MS });
    if (!m) throw new MillraceError('TIMEOUT', `the features replay read ${got} of ${this.options.features} messages and none more for ${STALL_MS} ms`);
    return m;
  }

  /** One epoch: consume feedback, train on a replay, score on another, publish the new feedback. */
  async epoch(epoch: number): Promise<EpochResult> {
    const { features, events } = this.options;
    const weights = await this.consumeFeedback();
    // Offload what the threshold says now, so the replay's start is decided by policy, not by timing.
    await this.broker.admin.runMaintenance(this.topics.features);
    const states = await ledgerStates(this.broker.admin, this.topics.features);

    const progress = { epoch, step: 'train' as 'train' | 'score', done: 0, total: features, startedAt: Date.now() };
    this.state.current = progress;
    const seen = new Uint8Array(events);
    let distinct = 0;
    const firstLedger = new Map<number, number>();
    let lossSum = 0;
    let trained = 0;
    const reader = await this.replayFromEarliest();
    for (let i = 0; i < features; i++) {
      const m = await this.next(reader, i);
      if (!firstLedger.has(m.id.partition)) firstLedger.set(m.id.partition, m.id.ledgerId);
      const x = decodeFeatures(m.data);
      if (x.eventId < events && seen[x.eventId] === 0) {
        seen[x.eventId] = 1;
        distinct++;
      }
      if (!isHoldout(x.eventId)) {
        const w = weights.get(x.eventId) ?? 1;
        lossSum += this.model.train(x, w);
        trained++;
      }
      progress.done = i + 1;
      if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToLoop();
    }
    const trainMs = Date.now() - progress.startedAt;
    let startedOffloaded = 0;
    for (const [p, ledgerId] of firstLedger) if (states.get(p)?.get(ledgerId) === 'offloaded') startedOffloaded++;

    const scoring = { epoch, step: 'score' as 'train' | 'score', done: 0, total: features, startedAt: Date.now() };
    this.state.current = scoring;
    let holdout = 0;
    let correct = 0;
    let holdoutLoss = 0;
    let published = 0;
    const sends: Promise<unknown>[] = [];
    await this.replayFromEarliest();
    for (let i = 0; i < features; i++) {
      const x = decodeFeatures((await this.next(reader, i)).data);
      const p = this.model.predict(x);
      if (isHoldout(x.eventId)) {
        holdout++;
        holdoutLoss += logLoss(x.label, p);
        if ((p > 0.5 ? 1 : 0) === x.label) correct++;
      } else {
        const error = Math.abs(x.label - p);
        if (error > 0.5) {
          sends.push(this.feedbackProducer.send({ value: encodeFeedback({ eventId: x.eventId, error, epoch }) }));
          published++;
        }
      }
      scoring.done = i + 1;
      if (i % YIELD_EVERY === YIELD_EVERY - 1) {
        // Bounded: the sends of the last stretch are durable before more are issued.
        await Promise.all(sends.splice(0));
        await yieldToLoop();
      }
    }
    await Promise.all(sends);
    this.pendingFeedback = published;
    this.state.current = undefined;
    return {
      epoch, trainLoss: trained ? lossSum / trained : 0, holdoutLoss: holdout ? holdoutLoss / holdout : 0, accuracy: holdout ? correct / holdout : 0,
      weightedExamples: weights.size, feedbackPublished: published, replayed: features, distinctEvents: distinct,
      replayStartOffloaded: startedOffloaded, partitions: firstLedger.size, trainMs, scoreMs: Date.now() - scoring.startedAt,
    };
  }
}
