/**
 * A consumer: one subscription on every partition of a topic, merged into one queue. Messages arrive
 * as DELIVER events (flow-controlled: the partitions never send more than the permits this consumer
 * granted, so at most `receiverQueueSize` messages wait in memory, G9), and leave through `receive()`
 * or `for await`. Acks are batched per partition and resolve once durable. Nack, ack timeout and the
 * dead-letter topic live here, on the client, as in Pulsar; the redelivery count is the partition's,
 * durable across restarts.
 *
 * Liveness never depends on how long a handler runs (G10): there is no heartbeat; a message is only
 * redelivered by an explicit nack, an ack timeout the user chose, or the consumer closing.
 */
import { MillraceError } from '../../core/errors.js';
import { MessageId } from '../../core/topic/index.js';
import { Schemas, type Schema } from '../../core/schema/index.js';
import type { SubscriptionType } from '../../core/dispatch/index.js';
import type { Position } from '../../core/log/index.js';
import { EntryView } from './entry-view.js';
import { EntryMessage, MessageSource, OUT_QUEUED, OUT_TAKEN, OutEntry, type Message } from './message.js';
import { Fifo } from './fifo.js';
import { signalOption, timeoutOption } from './call-options.js';
import { AckItems, type AckItem, type ConsumerSink, type PartitionClient } from './partition-client.js';
import type { ProducerMessage } from './producer.js';

/** Options of `broker.subscribe`. */
export interface ConsumerOptions<T = Uint8Array> {
  topic: string;
  subscription: string;
  /** @default 'exclusive' (Pulsar's default) */
  type?: SubscriptionType;
  /** @default a random name */
  consumerName?: string;
  /** Failover and Shared: lower is preferred. @default 0 */
  priority?: number;
  /** Where a new subscription starts. @default 'latest' */
  initialPosition?: 'earliest' | 'latest';
  /**
   * Messages buffered in memory at most, across partitions. 0 buffers none (Pulsar's zero-queue
   * consumer): a message is asked for only while a receive waits, one at a time, so on a Shared
   * subscription a long task never holds messages that another consumer could take. 0 needs a
   * topic of one partition, as in Pulsar. @default 1000
   */
  receiverQueueSize?: number;
  /** Unacked messages are redelivered after this long; 0 turns it off. @default 0 */
  ackTimeoutMs?: number;
  /** Delay before a nacked message is redelivered. @default 60000 */
  nackRedeliveryDelayMs?: number;
  /** Exponential backoff for nacks: delay = min(maxDelayMs, nackRedeliveryDelayMs * 2^redeliveryCount). */
  nackBackoff?: { maxDelayMs: number };
  /** After this many redeliveries a message goes to the dead-letter topic instead of the consumer. */
  deadLetter?: { maxRedeliverCount: number; topic?: string };
  /** @default Schemas.bytes */
  schema?: Schema<T>;
}

/** What the broker hands a consumer. @internal */
export interface ConsumerPlumbing {
  parts: { client: PartitionClient; partition: number }[];
  consumerId: number;
  consumerName: string;
  deadLetterSend?: (m: ProducerMessage<Uint8Array>) => Promise<unknown>;
  onClose: () => void;
}

interface Part<T> {
  client: PartitionClient;
  partition: number;
  /** What the messages of this partition share. */
  src: MessageSource<T>;
  /** Permits granted per refill; 0 for a zero-queue consumer. */
  quota: number;
  consumedSinceFlow: number;
  /** Zero-queue: permits granted and not yet used by a delivery (0 or 1). */
  permitsOut: number;
  /** Acks waiting for the next ACK request, laid out as its items, and their one promise. */
  acks: AckItems;
  ackBatch: AckBatch | undefined;
  ackScheduled: boolean;
  /** The ACK request in flight (one at a time): its items (reused as the next `acks` once it settles) and promise. */
  sentAcks: AckItems | undefined;
  sentBatch: AckBatch | undefined;
  spareAcks: AckItems | undefined;
  /** Its settlement handlers, made once per partition rather than three closures per request. */
  onAcked: () => void;
  onAckFailed: (err: unknown) => void;
  /** Entries with messages out: ledgerId -> entryId -> record. */
  out: Map<number, Map<number, OutEntry>>;
}

/** The acks of one ACK request share one promise: an ack costs no promise (nor closure) of its own. */
interface AckBatch {
  promise: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

const ignore = (): void => undefined;

/** A receive() waiting for a message. */
interface Waiter<T> {
  resolve(m: Message<T> | null): void;
  reject(err: unknown): void;
}

/**
 * A waiting receive() as one object, where it was an object and four closures per receive (at
 * 2,000 receives a second, a part of the garbage). Its deadline is kept by the consumer's one
 * timer for every waiting receive (see Consumer.armReceiveTimer), not a timer of its own.
 */
class ReceiveWaiter<T> implements Waiter<T> {
  onAbort: (() => void) | undefined = undefined;

  constructor(private readonly waiters: Waiter<T>[], private readonly done: (m: Message<T> | null) => void,
    private readonly failed: (err: unknown) => void, private readonly signal: AbortSignal | undefined,
    /** performance.now() by which it resolves null; Infinity: none. */
    readonly deadline: number) {}

  resolve(m: Message<T> | null): void {
    this.settle();
    this.done(m);
  }

  reject(err: unknown): void {
    this.settle();
    this.failed(err);
  }

  /** Timed out or aborted: leaves the queue of waiters with nothing. */
  drop(): void {
    const i = this.waiters.indexOf(this);
    if (i >= 0) this.waiters.splice(i, 1);
    this.resolve(null);
  }

  private settle(): void {
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** The messages of one delivery waiting to be received: batch indexes `0..count` or `list[0..count)`. */
class QueuedRun<T> {
  /** The next of them to hand out. */
  next = 0;
  constructor(readonly src: MessageSource<T>, readonly view: EntryView, readonly rec: OutEntry,
    readonly list: Uint16Array | undefined, readonly count: number) {}
}

/** Array.isArray, as a guard TypeScript narrows a readonly array with. */
function isList<X>(m: X | readonly X[]): m is readonly X[] {
  return Array.isArray(m);
}

function ackBatch(): AckBatch {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Calling ack without awaiting it is allowed (the API's contract): a failed ack nobody awaited
  // must not become an unhandled rejection, which kills a Node process. One handler per batch marks
  // it handled; a caller who awaits still sees the failure. So a consumer need not attach a .catch
  // per ack either, each a reaction on this shared promise.
  promise.catch(ignore);
  return { promise, resolve, reject };
}

export class Consumer<T = Uint8Array> implements AsyncIterable<Message<T>>, AsyncDisposable {
  private readonly parts: Part<T>[];
  /**
   * Delivered messages not yet received, oldest first, one run per delivery: a message object is
   * made only when the application takes it. Made at delivery, each of receiverQueueSize messages
   * waited in the queue long enough to survive young collections, and the consumer thread's young
   * generation grew to its cap (16 MB against 8-14 MB at a queue of 2,000, in e2e.queue).
   */
  private readonly queue = new Fifo<QueuedRun<T>>();
  /** Messages in {@link queue} (runs hold several). */
  private queued = 0;
  private readonly waiters: Waiter<T>[] = [];
  /** A subscription's dispatch failure no receive has reported yet (see onError). */
  private failure: MillraceError | undefined;
  /** The topic was deleted under this consumer: what every receive rejects with from then on. */
  private gone: MillraceError | undefined;
  /** A close() under way (it first flushes the acks made before it). */
  private closing: Promise<void> | undefined;
  private readonly schema: Schema<T>;
  private readonly type: SubscriptionType;
  private ackTimer: NodeJS.Timeout | undefined;
  /** The waiting receives' timer (see armReceiveTimer) and the deadline it is set for. */
  private receiveTimer: NodeJS.Timeout | undefined;
  private receiveTimerDue = Infinity;
  private closed = false;
  /** receiverQueueSize 0: permits only while a receive waits (see askOne). */
  private readonly zeroQueue: boolean;

  /** @internal Created by `broker.subscribe`. */
  constructor(readonly topic: string, readonly subscription: string, private readonly options: ConsumerOptions<T>, private readonly plumbing: ConsumerPlumbing) {
    this.schema = options.schema ?? (Schemas.bytes as unknown as Schema<T>);
    this.type = options.type ?? 'exclusive';
    const total = options.receiverQueueSize ?? 1000;
    this.zeroQueue = total === 0;
    const quota = this.zeroQueue ? 0 : Math.max(1, Math.floor(total / plumbing.parts.length));
    this.parts = plumbing.parts.map((p) => {
      const part: Part<T> = {
        ...p, src: new MessageSource<T>(topic, p.partition, this.schema, this), quota, consumedSinceFlow: 0, permitsOut: 0, acks: new AckItems(), ackBatch: undefined,
        ackScheduled: false, sentAcks: undefined, sentBatch: undefined, spareAcks: undefined, onAcked: ignore, onAckFailed: ignore, out: new Map(),
      };
      part.onAcked = () => this.acksSettled(part, false, undefined);
      part.onAckFailed = (err: unknown) => this.acksSettled(part, true, err);
      return part;
    });
    const t = options.ackTimeoutMs ?? 0;
    if (t > 0) this.ackTimer = setInterval(() => this.expireUnacked(t), Math.max(10, Math.min(1000, t / 4)));
  }

  /** @internal The sink of partition `i`'s events. */
  sink(i: number): ConsumerSink {
    return {
      deliver: (ledgerId, entryId, entry, items, at, count, partial) => this.onDeliver(i, ledgerId, entryId, entry, items, at, count, partial),
      reset: () => this.onReset(i),
      regrant: () => this.regrant(this.parts[i]!),
      error: (err) => this.onError(err),
    };
  }

  /** @internal Grants the initial permits once every partition is subscribed. */
  async start(): Promise<void> {
    if (this.zeroQueue) return;
    await Promise.all(this.parts.map((p) => p.client.flow(this.plumbing.consumerId, p.quota)));
  }

  /** Permits again for a partition that lost them (its actor restarted): a refill, or one if a receive waits. */
  private regrant(part: Part<T>): Promise<void> {
    if (!this.zeroQueue) return part.client.flow(this.plumbing.consumerId, part.quota).then(ignore);
    part.permitsOut = 0;
    this.askOne();
    return Promise.resolve();
  }

  /**
   * Zero-queue: asks for one message when a receive waits, nothing is buffered and no permit is out
   * (Pulsar's ZeroQueueConsumer sends a permit per receive). A receive that times out leaves its
   * permit out: the message it brings waits for the next receive, the one message buffered.
   */
  private askOne(): void {
    if (!this.zeroQueue || this.closed || this.waiters.length === 0 || this.queued > 0) return;
    const part = this.parts[0]!;
    if (part.permitsOut > 0) return;
    part.permitsOut = 1;
    part.client.flow(this.plumbing.consumerId, 1).catch(() => {
      // The actor is gone (its worker died): the regrant after it restarts asks again.
      part.permitsOut = 0;
    });
  }

  /** @internal Messages delivered and not yet received (G9 tests read it). */
  get bufferedCount(): number {
    return this.queued;
  }

  get consumerName(): string {
    return this.plumbing.consumerName;
  }

  private onDeliver(i: number, ledgerId: number, entryId: number, entry: Uint8Array, items: DataView, at: number, count: number, partial: boolean): void {
    if (this.closed) return;
    const part = this.parts[i]!;
    const view = partial ? new EntryView(entry, { items, at, count }) : new EntryView(entry);
    const now = Date.now();
    const rec = this.record(part, i, ledgerId, entryId, view.count, now);
    if (this.zeroQueue) part.permitsOut = Math.max(0, part.permitsOut - count);
    const dl = this.options.deadLetter;
    // The batch indexes to queue: a range while they run 0, 1, 2, ... (a whole entry), else a list.
    let list: Uint16Array | undefined;
    let n = 0;
    for (let k = 0, o = at; k < count; k++, o += 8) {
      const batchIndex = items.getUint16(o, true);
      const redeliveryCount = items.getUint32(o + 4, true);
      if (batchIndex >= view.count) continue;
      if (rec.state[batchIndex] === 0) rec.out++;
      rec.state[batchIndex] = OUT_QUEUED;
      if (rec.times !== undefined) rec.times[batchIndex] = now;
      if (redeliveryCount !== 0 || rec.counts !== undefined) (rec.counts ??= new Uint32Array(rec.batchSize))[batchIndex] = redeliveryCount;
      // Pulsar's rule: a message is redelivered at most maxRedeliverCount times (delivered with counts
      // 0..max); given back once more, it goes to the dead-letter topic instead.
      if (dl && this.plumbing.deadLetterSend && redeliveryCount > dl.maxRedeliverCount) {
        rec.state[batchIndex] = OUT_TAKEN;
        this.deadLetter(new EntryMessage<T>(part.src, view, batchIndex, redeliveryCount, rec));
        continue;
      }
      if (list === undefined && batchIndex !== n) {
        list = new Uint16Array(count);
        for (let x = 0; x < n; x++) list[x] = x;
      }
      if (list !== undefined) list[n] = batchIndex;
      n++;
    }
    if (n > 0) {
      this.queue.push(new QueuedRun(part.src, view, rec, list, n));
      this.queued += n;
      // Waiters exist only while the queue is empty: they take from this run first, in order.
      while (this.waiters.length > 0 && this.queued > 0) {
        const m = this.take();
        if (m === undefined) break;
        this.waiters.shift()!.resolve(m);
      }
    }
    if (rec.out === 0) this.drop(part, rec);
    // A permit used by a message that went to the dead-letter topic, or a batch receive that wants more.
    this.askOne();
  }

  /**
   * The next queued message, now handed to the application (its permit counted). A message acked
   * or given back by ID while it waited is skipped: it is no longer this consumer's to hand out.
   */
  private take(): EntryMessage<T> | undefined {
    for (let run = this.queue.peek(); run !== undefined; run = this.queue.peek()) {
      const rec = run.rec;
      while (run.next < run.count) {
        const batchIndex = run.list === undefined ? run.next : run.list[run.next]!;
        run.next++;
        this.queued--;
        this.consumed(this.parts[rec.part]!);
        if (rec.state[batchIndex] !== OUT_QUEUED) continue;
        rec.state[batchIndex] = OUT_TAKEN;
        if (this.ackTimer !== undefined) rec.taken(batchIndex, Date.now());
        if (run.next === run.count) this.queue.shift();
        return new EntryMessage<T>(run.src, run.view, batchIndex, rec.redeliveryCountOf(batchIndex), rec);
      }
      this.queue.shift();
    }
    return undefined;
  }

  /**
   * A partition could not dispatch (an entry it must read is corrupt, or its object store is away):
   * the next receive that would wait (or the one waiting) rejects with the error, once, rather than
   * waiting in silence. The consumer stays usable; the partition tries again on the next change.
   */
  private onError(err: MillraceError): void {
    if (err.code === 'TOPIC_NOT_FOUND') {
      // The topic was deleted (forced, with this consumer connected): what is buffered went with it,
      // and nothing more will come. Every receive, waiting or later, rejects; close() still works.
      this.gone ??= err;
      this.queue.clear();
      this.queued = 0;
      for (const w of this.waiters.splice(0)) w.reject(err);
      return;
    }
    const w = this.waiters.shift();
    if (w) w.reject(err);
    else this.failure = err;
  }

  /** The record of an entry with messages out, made on its first delivery. */
  private record(part: Part<T>, i: number, ledgerId: number, entryId: number, batchSize: number, now: number): OutEntry {
    let byEntry = part.out.get(ledgerId);
    if (byEntry === undefined) {
      // A ledger new here: the maps of ledgers with nothing out go now (drop() leaves them).
      for (const [l, m] of part.out) if (m.size === 0) part.out.delete(l);
      part.out.set(ledgerId, (byEntry = new Map()));
    }
    let rec = byEntry.get(entryId);
    if (rec === undefined) {
      byEntry.set(entryId, (rec = new OutEntry(i, ledgerId, entryId, batchSize, now)));
    } else if (rec.times === undefined && rec.deliveredAt !== now) {
      // Indexes of one entry out since different times (a redelivery beside older ones): keep each's.
      rec.times = new Float64Array(rec.batchSize).fill(rec.deliveredAt);
    }
    return rec;
  }

  private drop(part: Part<T>, rec: OutEntry): void {
    rec.live = false;
    const byEntry = part.out.get(rec.ledgerId);
    if (byEntry === undefined || byEntry.get(rec.entryId) !== rec) return;
    // An emptied map stays for its ledger's next entries: at low rates each message is an entry of
    // its own, and a new Map for each was part of this thread's garbage per message.
    byEntry.delete(rec.entryId);
  }

  /** Ends message `i` of `rec` being out (acked or given back). */
  private settle(rec: OutEntry, i: number): void {
    rec.state[i] = 0;
    if (--rec.out === 0) this.drop(this.parts[rec.part]!, rec);
  }

  private deadLetter(msg: EntryMessage<T>): void {
    // Count it as consumed (its permit comes back), publish it to the DLQ, then ack the original.
    this.consumed(this.parts[msg.rec.part]!);
    const m: ProducerMessage<Uint8Array> = { value: msg.data, properties: { ...msg.properties, REAL_TOPIC: msg.topic, ORIGIN_MESSAGE_ID: msg.id.toString() } };
    if (msg.keyBytes) m.key = msg.keyBytes;
    if (msg.eventTime !== undefined) m.eventTime = msg.eventTime;
    void this.plumbing.deadLetterSend!(m).then(() => this.ack(msg)).catch(() => this.nack(msg));
  }

  private onReset(i: number): void {
    // A seek: drop what this partition sent that the application has not taken, grant permits again.
    const part = this.parts[i]!;
    this.queue.retain((run) => {
      if (run.rec.part !== i) return true;
      this.queued -= run.count - run.next;
      return false;
    });
    for (const byEntry of part.out.values()) for (const rec of byEntry.values()) rec.live = false;
    part.out.clear();
    part.consumedSinceFlow = 0;
    void this.regrant(part).catch(() => undefined);
  }

  private consumed(part: Part<T>): void {
    if (this.zeroQueue) return; // askOne asks
    // Pulsar's rule: ask for more once half the queue has been taken.
    if (++part.consumedSinceFlow >= Math.max(1, Math.floor(part.quota / 2))) {
      const n = part.consumedSinceFlow;
      part.consumedSinceFlow = 0;
      // Nobody waits for this reply: quiet, so it does not wake this thread when it is parked.
      void part.client.flow(this.plumbing.consumerId, n, true).catch(() => undefined);
    }
  }

  /**
   * The next message, or null when none arrives within `timeoutMs` (or the consumer closes, or the
   * signal aborts). Without a timeout it waits until a message arrives. Rejects (once per failure)
   * when a partition cannot dispatch, e.g. OBJECT_CORRUPT for a damaged offloaded ledger or
   * OBJECT_STORE_UNAVAILABLE: a stalled subscription is reported, not silent.
   */
  receive(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Message<T> | null> {
    if (this.closed) return Promise.reject(new MillraceError('CLOSED', `consumer on ${this.topic} (${this.subscription}) is closed`));
    if (this.gone) return Promise.reject(this.gone);
    const m = this.take();
    if (m !== undefined) return Promise.resolve(m);
    if (this.failure) {
      const err = this.failure;
      this.failure = undefined;
      return Promise.reject(err);
    }
    let timeoutMs: number | undefined;
    let signal: AbortSignal | undefined;
    try {
      timeoutMs = timeoutOption(options.timeoutMs);
      signal = signalOption(options.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    if (signal?.aborted) return Promise.resolve(null);
    const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    return new Promise((resolve, reject) => {
      const w = new ReceiveWaiter<T>(this.waiters, resolve, reject, signal, deadline);
      if (signal) signal.addEventListener('abort', w.onAbort = () => w.drop(), { once: true });
      this.waiters.push(w);
      if (deadline !== Infinity) this.armReceiveTimer(deadline);
      this.askOne();
    });
  }

  /**
   * One timer for every waiting receive's deadline: a receive per message each with a setTimeout of
   * its own was about 0.4 KB of garbage per message at 2,000 a second, and each young collection of
   * the application thread delays a delivery. The timer is set for the earliest deadline; receives
   * that get their message leave it set, and when it fires it drops the receives that are due and
   * sets itself for the next. A receive loop with one timeout sets it once per timeout, not once
   * per receive. Unref'd: an open consumer keeps the thread alive already (its event pump).
   */
  private armReceiveTimer(deadline: number): void {
    if (this.receiveTimer !== undefined) {
      if (this.receiveTimerDue <= deadline) return;
      clearTimeout(this.receiveTimer);
    }
    this.receiveTimerDue = deadline;
    this.receiveTimer = setTimeout(this.expireReceives, Math.max(0, deadline - performance.now()));
    this.receiveTimer.unref();
  }

  private readonly expireReceives = (): void => {
    this.receiveTimer = undefined;
    this.receiveTimerDue = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const w of [...this.waiters]) {
      if (!(w instanceof ReceiveWaiter)) continue;
      if (w.deadline <= now) w.drop();
      else if (w.deadline < next) next = w.deadline;
    }
    if (next !== Infinity) this.armReceiveTimer(next);
  };

  /**
   * Several messages at once (Pulsar's `batchReceive`, a NATS `fetch`): an ML data loader's batch,
   * or fewer promises for a consumer that processes in bulk. Resolves as soon as `maxMessages`
   * messages are in hand or their values reach `maxBytes`, or once `timeoutMs` has passed (or the
   * signal aborts, or the consumer closes) with whatever arrived, possibly none. Messages are taken
   * as they arrive, so flow control keeps them coming: a batch may be larger than
   * `receiverQueueSize`. Each message is acked (or nacked) on its own, as from `receive`. A dispatch
   * failure rejects the call only when it has no message yet; otherwise the batch resolves and the
   * next receive reports the failure.
   * @param options.maxMessages at most this many messages. @default 100
   * @param options.maxBytes the batch is complete once its values' bytes reach this. @default 10 MiB
   * @param options.timeoutMs how long to wait for a full batch; 0 takes only what is buffered. @default 100
   */
  receiveBatch(options: { maxMessages?: number; maxBytes?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Message<T>[]> {
    if (this.closed) return Promise.reject(new MillraceError('CLOSED', `consumer on ${this.topic} (${this.subscription}) is closed`));
    if (this.gone) return Promise.reject(this.gone);
    const maxMessages = options.maxMessages ?? 100;
    const maxBytes = options.maxBytes ?? 10 * 2 ** 20;
    let timeoutMs: number;
    try {
      timeoutMs = timeoutOption(options.timeoutMs) ?? 100;
      signalOption(options.signal);
    } catch (err) {
      return Promise.reject(err);
    }
    if (!Number.isSafeInteger(maxMessages) || maxMessages < 1) return Promise.reject(new MillraceError('INVALID_ARGUMENT', `maxMessages must be an integer >= 1, got ${String(maxMessages)}`));
    if (typeof maxBytes !== 'number' || !(maxBytes >= 1)) return Promise.reject(new MillraceError('INVALID_ARGUMENT', `maxBytes must be a number >= 1, got ${String(maxBytes)}`));
    const batch: Message<T>[] = [];
    let bytes = 0;
    const full = (): boolean => batch.length >= maxMessages || bytes >= maxBytes;
    const take = (m: EntryMessage<T>): void => {
      batch.push(m);
      bytes += m.data.length;
    };
    for (let m = this.take(); m !== undefined; m = full() ? undefined : this.take()) take(m);
    if (full() || timeoutMs === 0 || options.signal?.aborted) return Promise.resolve(batch);
    if (batch.length === 0 && this.failure) {
      const err = this.failure;
      this.failure = undefined;
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      let done = false;
      const end = (): void => {
        done = true;
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', finish);
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
      };
      const finish = (): void => {
        if (done) return;
        end();
        resolve(batch);
      };
      // Registered as one receive at a time: onDeliver hands it a message, and it asks for the next
      // at the head of the line until the batch is full.
      const w = {
        resolve: (m: Message<T> | null): void => {
          if (done) return;
          if (m === null) return finish();
          take(m as EntryMessage<T>);
          if (full()) finish();
          else this.waiters.unshift(w);
        },
        reject: (err: unknown): void => {
          if (done) return;
          if (batch.length > 0) {
            if (err instanceof MillraceError) this.failure = err;
            return finish();
          }
          end();
          reject(err);
        },
      };
      const timer = setTimeout(finish, timeoutMs);
      options.signal?.addEventListener('abort', finish, { once: true });
      this.waiters.push(w);
      this.askOne();
    });
  }

  /**
   * Iterates messages until the consumer closes. A `break` ends the iteration only; the consumer
   * stays open. A dispatch failure (a corrupt entry, an object store away) is thrown out of the
   * loop as receive() rejects with it: taken for the end, it looked like a stream that had ended,
   * which a subscription's never does.
   */
  async *[Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    while (!this.closed) {
      let m: Message<T> | null;
      try {
        m = await this.receive();
      } catch (err) {
        if (this.closed) return;
        throw err;
      }
      if (!m) return;
      yield m;
    }
  }

  /** The record and batch index of a message out at this consumer; ACK_INVALID when it is not out. */
  private held(m: Message<T> | MessageId): { rec: OutEntry; i: number } {
    if (m instanceof EntryMessage && m.src.owner === this) {
      const { rec, batchIndex } = m as EntryMessage<T>;
      // A record dropped meanwhile may have been replaced by a newer delivery of the same entry.
      if (rec.live && rec.state[batchIndex] !== 0) return { rec, i: batchIndex };
    }
    const id = m instanceof MessageId ? m : m?.id;
    if (!(id instanceof MessageId)) throw new MillraceError('INVALID_ARGUMENT', 'ack takes a received message or its MessageId');
    const part = this.partIndex(id.partition);
    const rec = part < 0 ? undefined : this.parts[part]!.out.get(id.ledgerId)?.get(id.entryId);
    if (rec === undefined || id.batchIndex < 0 || id.batchIndex >= rec.batchSize || rec.state[id.batchIndex] === 0) {
      throw new MillraceError('ACK_INVALID', `message ${id.toString()} was not delivered to this consumer (or was acked already)`);
    }
    return { rec, i: id.batchIndex };
  }

  private partIndex(partition: number): number {
    for (let i = 0; i < this.parts.length; i++) if (this.parts[i]!.partition === partition) return i;
    return -1;
  }

  /**
   * Acks one message, or each message of a list (Pulsar's `acknowledge(messages)`: a batch from
   * {@link receiveBatch} in one call; each is acked individually, not cumulatively); resolves once
   * the acks are durable. A list with a message this consumer does not hold acks none of it
   * (ACK_INVALID). Many acks share one commit (and one promise). It may be called without awaiting
   * it: a failure nobody awaits is not an unhandled rejection.
   */
  ack(m: Message<T> | MessageId | readonly (Message<T> | MessageId)[]): Promise<void> {
    try {
      if (this.closed) throw new MillraceError('CLOSED', 'the consumer is closed');
      if (isList(m)) return this.ackEach(m);
      if (m instanceof EntryMessage && m.src.owner === this) {
        // The usual ack, of a message this consumer handed out: no lookup, nothing allocated.
        const { rec, batchIndex } = m as EntryMessage<T>;
        if (rec.live && rec.state[batchIndex] !== 0) {
          this.settle(rec, batchIndex);
          return this.queueAck(rec.part, rec.ledgerId, rec.entryId, batchIndex, rec.batchSize, false);
        }
      }
      const { rec, i } = this.held(m);
      this.settle(rec, i);
      return this.queueAck(rec.part, rec.ledgerId, rec.entryId, i, rec.batchSize, false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private ackEach(list: readonly (Message<T> | MessageId)[]): Promise<void> {
    // Every lookup first: one message this consumer does not hold fails the call before any ack.
    const found = list.map((x) => this.held(x));
    const batches = new Set<Promise<void>>();
    for (const { rec, i } of found) {
      if (rec.state[i] === 0) continue; // listed twice
      this.settle(rec, i);
      batches.add(this.queueAck(rec.part, rec.ledgerId, rec.entryId, i, rec.batchSize, false));
    }
    if (batches.size === 0) return Promise.resolve();
    if (batches.size === 1) return batches.values().next().value as Promise<void>;
    // Across partitions: one promise for all, handled as each batch's is (see ackBatch).
    const all = Promise.all(batches).then(() => undefined);
    all.catch(ignore);
    return all;
  }

  /** Acks every message up to and including `m` on its partition. Not on Shared or Key_Shared subscriptions. */
  async ackCumulative(m: Message<T> | MessageId): Promise<void> {
    if (this.closed) throw new MillraceError('CLOSED', 'the consumer is closed');
    if (this.type === 'shared' || this.type === 'key_shared') {
      throw new MillraceError('ACK_INVALID', `cumulative ack is not allowed on a ${this.type} subscription; ack messages one by one`);
    }
    const { rec, i } = this.held(m);
    const part = this.parts[rec.part]!;
    const { ledgerId, entryId, batchSize } = rec;
    for (const [l, byEntry] of [...part.out]) {
      if (l > ledgerId) continue;
      for (const [e, r] of [...byEntry]) {
        if (l === ledgerId && e > entryId) continue;
        const last = l === ledgerId && e === entryId ? i : r.batchSize - 1;
        for (let k = 0; k <= last; k++) if (r.state[k] !== 0) this.settle(r, k);
      }
    }
    await this.queueAck(rec.part, ledgerId, entryId, i, batchSize, true);
  }

  private queueAck(i: number, ledgerId: number, entryId: number, batchIndex: number, batchSize: number, cumulative: boolean): Promise<void> {
    const part = this.parts[i]!;
    part.acks.add(ledgerId, entryId, batchIndex, batchSize, cumulative);
    const batch = (part.ackBatch ??= ackBatch());
    if (!part.ackScheduled) {
      part.ackScheduled = true;
      queueMicrotask(() => this.sendAcks(part));
    }
    return batch.promise;
  }

  /**
   * Group commit for acks: one ACK request in flight per partition; acks made meanwhile wait and go
   * together when it completes. A consumer acking each message then costs one durable cursor write
   * per commit cycle, not one per message (an fsync is ~0.4 ms here: ~2,000 writes/s at most).
   */
  private sendAcks(part: Part<T>): void {
    if (part.sentAcks !== undefined || part.acks.count === 0) {
      part.ackScheduled = part.acks.count > 0;
      return;
    }
    part.ackScheduled = false;
    const acks = part.acks;
    part.sentAcks = acks;
    part.sentBatch = part.ackBatch!;
    // The items of the request before this one, which has settled (one is in flight at a time).
    part.acks = part.spareAcks ?? new AckItems(acks.count);
    part.spareAcks = undefined;
    part.ackBatch = undefined;
    part.client.ack(this.plumbing.consumerId, acks).then(part.onAcked, part.onAckFailed);
  }

  private acksSettled(part: Part<T>, failed: boolean, err: unknown): void {
    const batch = part.sentBatch!;
    // Settled, the request no longer reads its items (they were written to the ring, or never will be).
    part.sentAcks!.reset();
    part.spareAcks = part.sentAcks;
    part.sentAcks = undefined;
    part.sentBatch = undefined;
    if (failed) batch.reject(err);
    else batch.resolve();
    if (part.acks.count > 0) this.sendAcks(part);
  }

  /**
   * Gives a message back: it is redelivered (to this or another consumer) after
   * `nackRedeliveryDelayMs`, with backoff when configured, and its redelivery count goes up.
   */
  nack(m: Message<T> | MessageId): void {
    if (this.closed) return;
    const { rec, i } = this.held(m);
    const base = this.options.nackRedeliveryDelayMs ?? 60_000;
    const backoff = this.options.nackBackoff;
    const delay = backoff ? Math.min(backoff.maxDelayMs, base * 2 ** rec.redeliveryCountOf(i)) : base;
    setTimeout(() => this.giveBack([{ rec, i }]), delay);
  }

  /**
   * Gives back, at once, every message this consumer handed to the application and has not acked
   * (Pulsar's `redeliverUnacknowledgedMessages`): a worker that failed its minibatch returns it all.
   * They are redelivered, to this consumer or another one, with their redelivery counts up, and
   * acking one of them afterwards is ACK_INVALID. Messages still in the receive buffer (not yet
   * received) stay there and are received once, as before.
   */
  redeliverUnacknowledgedMessages(): void {
    if (this.closed) return;
    this.giveBack(this.takenWhere(() => true));
  }

  /** The messages handed to the application and not acked or given back, that `keep` accepts. */
  private takenWhere(keep: (rec: OutEntry, i: number) => boolean): { rec: OutEntry; i: number }[] {
    const items: { rec: OutEntry; i: number }[] = [];
    for (const part of this.parts) {
      for (const byEntry of part.out.values()) {
        for (const rec of byEntry.values()) {
          for (let i = 0; i < rec.batchSize; i++) if (rec.state[i] === OUT_TAKEN && keep(rec, i)) items.push({ rec, i });
        }
      }
    }
    return items;
  }

  private giveBack(items: { rec: OutEntry; i: number }[]): void {
    const byPart = new Map<number, AckItem[]>();
    for (const { rec, i } of items) {
      // Acked meanwhile (or the partition was reset): nothing to give back.
      if (!rec.live || rec.state[i] === 0) continue;
      this.settle(rec, i);
      const list = byPart.get(rec.part) ?? [];
      list.push({ ledgerId: rec.ledgerId, entryId: rec.entryId, batchIndex: i, batchSize: rec.batchSize, cumulative: false });
      byPart.set(rec.part, list);
    }
    for (const [i, items] of byPart) void this.parts[i]!.client.redeliver(this.plumbing.consumerId, items).catch(() => undefined);
  }

  private expireUnacked(timeoutMs: number): void {
    const now = Date.now();
    // Messages still in the queue are not the application's yet: their clock starts when taken.
    const expired = this.takenWhere((rec, i) => now - rec.deliveredAtOf(i) >= timeoutMs);
    if (expired.length > 0) this.giveBack(expired);
  }

  /**
   * Moves the subscription: to a message ID (on its partition) or a publish time (every partition).
   * The next message delivered is the one of that ID, also inside a batch: the messages before it
   * in its batch count as acked (Pulsar's seek with batch-index acks).
   */
  async seek(target: MessageId | number): Promise<void> {
    if (this.closed) throw new MillraceError('CLOSED', 'the consumer is closed');
    if (typeof target === 'number') {
      if (!Number.isFinite(target)) throw new MillraceError('INVALID_ARGUMENT', `seek takes a MessageId or a publish time in epoch ms, got ${target}`);
      await Promise.all(this.parts.map((p) => p.client.seek(this.plumbing.consumerId, { publishTimeMs: target })));
      return;
    }
    if (!(target instanceof MessageId)) throw new MillraceError('INVALID_ARGUMENT', 'seek takes a MessageId or a publish time in epoch ms');
    const parts = target.isEarliest || target.isLatest ? this.parts : this.parts.filter((p) => p.partition === target.partition);
    if (parts.length === 0) throw new MillraceError('INVALID_ARGUMENT', `message ID ${target.toString()} is not of ${this.topic}`);
    await Promise.all(parts.map(async (p) => {
      let position: Position;
      if (target.isEarliest) position = { ledgerId: 0, entryId: 0 };
      else if (target.isLatest) {
        const last = await p.client.lastPosition();
        position = last ? { ledgerId: last.ledgerId, entryId: last.entryId + 1 } : { ledgerId: 0, entryId: 0 };
      } else position = { ledgerId: target.ledgerId, entryId: target.entryId };
      await p.client.seek(this.plumbing.consumerId, { position, batchIndex: target.isEarliest || target.isLatest ? 0 : target.batchIndex });
    }));
  }

  /**
   * The ID of the last message stored on each partition this consumer reads, in partition order
   * (Pulsar's `getLastMessageIds`): where a catch-up or a replay of what exists now ends. A
   * partition with no message gives `MessageId.earliest`; one whose last entry retention already
   * deleted gives that entry's whole-entry ID (batch index -1).
   */
  async getLastMessageIds(): Promise<MessageId[]> {
    if (this.closed) throw new MillraceError('CLOSED', 'the consumer is closed');
    return Promise.all(this.parts.map(async (p) => {
      const last = await p.client.lastMessage();
      return last ? new MessageId(last.position.ledgerId, last.position.entryId, p.partition, last.batchIndex) : MessageId.earliest;
    }));
  }

  /** Closes the consumer and deletes the subscription (its cursor). Fails if other consumers are connected. */
  async unsubscribe(): Promise<void> {
    if (this.closed) throw new MillraceError('CLOSED', 'the consumer is closed');
    await Promise.all(this.parts.map((p) => p.client.closeConsumer(this.plumbing.consumerId, true)));
    this.shutdown();
  }

  /** Closes the consumer: unacked messages go back to the subscription. Idempotent. */
  close(): Promise<void> {
    // A close under way is shared until it ends, also past the point where the consumer is marked
    // closed (a second call then used to resolve before the first had left the subscription).
    if (this.closing) return this.closing;
    if (this.closed) return Promise.resolve();
    return (this.closing = this.closeNow());
  }

  private async closeNow(): Promise<void> {
    // Acks made before the close, awaited or not, reach the subscription before the consumer leaves
    // it (Pulsar's close flushes them too): the close request used to overtake the acks still
    // waiting for their microtask, which then failed, and their messages were delivered again.
    await this.flushAcks();
    this.shutdown();
    await Promise.all(this.parts.map((p) => p.client.closeConsumer(this.plumbing.consumerId, false).catch(() => undefined)));
  }

  /** Sends the acks not sent yet and resolves once every ACK request made so far has settled. */
  private async flushAcks(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const part of this.parts) {
      if (part.sentAcks === undefined && part.acks.count > 0) this.sendAcks(part);
      if (part.sentBatch) pending.push(part.sentBatch.promise);
      if (part.ackBatch) pending.push(part.ackBatch.promise);
    }
    await Promise.allSettled(pending);
  }

  private shutdown(): void {
    this.closed = true;
    if (this.ackTimer) clearInterval(this.ackTimer);
    if (this.receiveTimer) clearTimeout(this.receiveTimer);
    this.receiveTimer = undefined;
    for (const w of this.waiters.splice(0)) w.resolve(null);
    this.queue.clear();
    this.queued = 0;
    this.plumbing.onClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
