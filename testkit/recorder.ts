/**
 * Records a history (./history.ts) from a real Producer, Consumer or Reader while the application's
 * code runs: wrap them, use the wrappers as the originals, then `checkHistory(recorder.history)`.
 * Each event is recorded when it happened: a send at its call and again when it settles, a receive
 * when the application gets the message, an ack only once it resolved (or failed).
 *
 * For crash tests, give the recorder a `sink` (for instance {@link fileSink}): every event is also
 * written there at once, one JSON line each, so a process killed with SIGKILL leaves behind
 * everything it recorded; {@link readHistoryFile} reads it back.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Consumer, Message, MessageId, Producer, ProducerMessage, Reader } from '../index.js';
import { createHash } from 'node:crypto';
import { MillraceError } from '../core/errors.js';
import type { HistoryEvent, SubscriptionKind } from './history.js';

const utf8 = new TextDecoder();

/** Options of {@link HistoryRecorder}. */
export interface RecorderOptions {
  /** Receives every event as it is recorded (e.g. a file for crash tests). */
  sink?: (event: HistoryEvent) => void;
  /** Keep events in memory (`recorder.history`). @default true */
  keep?: boolean;
  /**
   * A message's identity in the history, unique per logical message. @default the value as UTF-8
   * text for bytes, the string itself, or JSON for other values; a SHA-1 of it past 256 characters
   */
  identify?: (value: unknown) => string;
  /** First call number of this recorder's sends (a restarted process continues the order). @default 0 */
  seqStart?: number;
}

// Longer identities are hashed: a history keeps one per event, and whole 4 KiB values would make
// the recorder, not the code under test, the memory hog. The hash still tells a changed payload.
const MAX_IDENTITY = 256;

function defaultIdentify(value: unknown): string {
  const s = value instanceof Uint8Array ? utf8.decode(value) : typeof value === 'string' ? value : JSON.stringify(value);
  if (s.length <= MAX_IDENTITY) return s;
  return `sha1:${createHash('sha1').update(value instanceof Uint8Array ? value : s).digest('hex')}`;
}

const keyOf = (key: string | Uint8Array | undefined): string | undefined =>
  key === undefined ? undefined : typeof key === 'string' ? key : utf8.decode(key);

const codeOf = (err: unknown): string => (err instanceof MillraceError ? err.code : err instanceof Error ? err.name : String(err));

/** Records the events of wrapped producers, consumers and readers into one history. */
export class HistoryRecorder {
  /** The events so far, in the order they happened (empty when `keep: false`). */
  readonly history: HistoryEvent[] = [];
  private seq: number;
  private readers = 0;
  private readonly identifyValue: (value: unknown) => string;

  constructor(private readonly options: RecorderOptions = {}) {
    this.seq = options.seqStart ?? 0;
    this.identifyValue = options.identify ?? defaultIdentify;
  }

  /** Records one event (wrappers call this; a test may add its own, e.g. a dead-letter). */
  record(event: HistoryEvent): void {
    if (this.options.keep !== false) this.history.push(event);
    this.options.sink?.(event);
  }

  /** The identity of a value, as the recorder names it in the history. */
  identify(value: unknown): string {
    return this.identifyValue(value);
  }

  /** Wraps a producer: `send` records the call and its outcome. */
  producer<T>(producer: Producer<T>, label: string = producer.name): RecordedProducer<T> {
    return new RecordedProducer(producer, this, label, () => this.seq++);
  }

  /**
   * Wraps a consumer: receives, acks, nacks and seeks are recorded. `kind` and `initialPosition`
   * tell the checker which sends the subscription should see and what order it keeps; give them
   * as the consumer was subscribed.
   */
  consumer<T>(consumer: Consumer<T>, declare: { kind: SubscriptionKind; initialPosition?: 'earliest' | 'latest'; consumerName?: string }): RecordedConsumer<T> {
    this.record({ type: 'subscribe', subscription: consumer.subscription, kind: declare.kind, initialPosition: declare.initialPosition ?? 'latest', consumer: declare.consumerName ?? consumer.consumerName });
    return new RecordedConsumer(consumer, this, declare.consumerName ?? consumer.consumerName);
  }

  /** Wraps a reader under its own subscription name in the history (a reader keeps partition order). */
  reader<T>(reader: Reader<T>, declare: { name?: string; initialPosition: 'earliest' | 'latest' }): RecordedReader<T> {
    const name = declare.name ?? `reader-${++this.readers}`;
    this.record({ type: 'subscribe', subscription: name, kind: 'reader', initialPosition: declare.initialPosition });
    return new RecordedReader(reader, this, name);
  }

  /** @internal The receive event of a message. */
  receiveEvent<T>(subscription: string, consumer: string | undefined, m: Message<T>): HistoryEvent {
    return { type: 'receive', subscription, consumer, value: this.identify(m.value), key: m.key, id: m.id.toString(), redeliveryCount: m.redeliveryCount };
  }
}

/** A producer whose sends are recorded. */
export class RecordedProducer<T> {
  constructor(readonly inner: Producer<T>, private readonly rec: HistoryRecorder, readonly label: string, private readonly nextSeq: () => number) {}

  /**
   * Sends and records the call, then the outcome (`ok` with the ID, or `failed` with the error code).
   * The call order recorded is the message's explicit `sequenceId` when it has one.
   */
  async send(message: ProducerMessage<T>): Promise<MessageId> {
    const value = this.rec.identify(message.value);
    const base = { type: 'send' as const, value, key: keyOf(message.key), producer: this.label, seq: message.sequenceId ?? this.nextSeq() };
    this.rec.record({ ...base, outcome: 'unknown' });
    try {
      const id = await this.inner.send(message);
      this.rec.record({ ...base, outcome: 'ok', id: id.toString() });
      return id;
    } catch (err) {
      // CLOSED before the call reached the broker and every broker-side refusal mean "not stored";
      // a TIMEOUT may have been stored after all: its outcome stays unknown.
      const code = codeOf(err);
      this.rec.record({ ...base, outcome: code === 'TIMEOUT' ? 'unknown' : 'failed', error: code });
      throw err;
    }
  }

  flush(): Promise<void> {
    return this.inner.flush();
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A consumer whose receives, acks, nacks and seeks are recorded. */
export class RecordedConsumer<T> implements AsyncIterable<Message<T>> {
  constructor(readonly inner: Consumer<T>, private readonly rec: HistoryRecorder, readonly name: string) {}

  get subscription(): string {
    return this.inner.subscription;
  }

  async receive(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Message<T> | null> {
    const m = await this.inner.receive(options);
    if (m) this.rec.record(this.rec.receiveEvent(this.inner.subscription, this.name, m));
    return m;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    for await (const m of this.inner) {
      this.rec.record(this.rec.receiveEvent(this.inner.subscription, this.name, m));
      yield m;
    }
  }

  /** Acks; recorded with its outcome once it settled (only a resolved ack counts as acked). */
  async ack(m: Message<T>): Promise<void> {
    return this.settleAck(m, false, this.inner.ack(m));
  }

  async ackCumulative(m: Message<T>): Promise<void> {
    return this.settleAck(m, true, this.inner.ackCumulative(m));
  }

  private async settleAck(m: Message<T>, cumulative: boolean, p: Promise<void>): Promise<void> {
    const base = { type: 'ack' as const, subscription: this.inner.subscription, consumer: this.name, value: this.rec.identify(m.value), id: m.id.toString(), cumulative };
    try {
      await p;
      this.rec.record({ ...base, outcome: 'ok' });
    } catch (err) {
      this.rec.record({ ...base, outcome: 'failed' });
      throw err;
    }
  }

  nack(m: Message<T>): void {
    this.inner.nack(m);
  }

  async seek(target: MessageId | number): Promise<void> {
    // Recorded before the call: acked messages may come again from the moment the seek starts.
    this.rec.record({ type: 'seek', subscription: this.inner.subscription, consumer: this.name, target: String(target) });
    await this.inner.seek(target);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** A reader whose reads are recorded as receives of its own subscription name. */
export class RecordedReader<T> implements AsyncIterable<Message<T>> {
  constructor(readonly inner: Reader<T>, private readonly rec: HistoryRecorder, readonly name: string) {}

  async readNext(options: { timeoutMs?: number } = {}): Promise<Message<T> | null> {
    const m = await this.inner.readNext(options);
    if (m) this.rec.record(this.rec.receiveEvent(this.name, undefined, m));
    return m;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    for await (const m of this.inner) {
      this.rec.record(this.rec.receiveEvent(this.name, undefined, m));
      yield m;
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A sink writing one JSON line per event to `path` (appending), with a synchronous write so a
 * SIGKILL loses nothing already recorded; `fsync: true` also survives an OS crash (slower).
 */
export function fileSink(path: string, options: { fsync?: boolean } = {}): ((event: HistoryEvent) => void) & { close(): void } {
  const fd = openSync(path, 'a');
  const sink = (event: HistoryEvent): void => {
    writeSync(fd, `${JSON.stringify(event)}\n`);
    if (options.fsync) fsyncSync(fd);
  };
  return Object.assign(sink, { close: () => closeSync(fd) });
}

/**
 * Reads a history written by {@link fileSink} (none yet: empty); a torn last line (a kill
 * mid-write) is skipped.
 */
export function readHistoryFile(path: string): HistoryEvent[] {
  const out: HistoryEvent[] = [];
  if (!existsSync(path)) return out;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as HistoryEvent);
    } catch {
      // only the last line can be torn; anything else is a broken file and fails the check anyway
    }
  }
  return out;
}
