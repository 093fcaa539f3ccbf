/**
 * A producer: batches messages per partition (max messages, max bytes, max delay), routes them
 * (round-robin switching on batch boundaries, a single partition, or Murmur3 key hash), numbers them
 * with sequence IDs, and resolves each send with its message ID once its batch is durable.
 *
 * Exactly-once publishing: a named producer resumes its sequence IDs after the last one persisted,
 * and a batch that fails because its partition's worker died (WORKER_DIED, retriable) is sent again
 * with the same IDs, in order; the partition drops the IDs it already stored (deduplication by exact
 * ranges, so a resend is stored even if a later batch got there first).
 */
import { MillraceError } from '../../core/errors.js';
import { createRouter, keyHashPartition, MessageId, type MessageRouter, type RoutingMode } from '../../core/topic/index.js';
import { Schemas, encodeProperties, type Schema } from '../../core/schema/index.js';
import { DEFAULTS } from '../../core/defaults.js';
import type { FrameMessage } from '../../wasm/index.js';
import type { PartitionClient } from './partition-client.js';

/** Producer batching. */
export interface BatchingOptions {
  /** @default true */
  enabled?: boolean;
  /** Messages per batch. @default 1000 */
  maxMessages?: number;
  /** Bytes of values per batch. @default 131072 */
  maxBytes?: number;
  /** How long a batch waits for more messages. @default 1 */
  maxDelayMs?: number;
}

/** Options of `broker.createProducer`. */
export interface ProducerOptions<T = Uint8Array> {
  topic: string;
  /** A name makes the producer's sequence IDs (and deduplication) survive restarts. @default a random name */
  name?: string;
  /** @default Schemas.bytes */
  schema?: Schema<T>;
  batching?: BatchingOptions;
  /** @default 'key-hash' (Pulsar's default: keyed messages by hash, others round-robin) */
  routing?: RoutingMode;
  /** Sends waiting for their batch to be durable before `send` itself waits (backpressure). @default 10000 */
  maxPendingMessages?: number;
  /** How long a send may take, retries included, before it fails with TIMEOUT. @default 30000 */
  sendTimeoutMs?: number;
}

/** One message to send. */
export interface ProducerMessage<T = Uint8Array> {
  /** The value, encoded by the producer's schema; with the default bytes schema a string is sent as UTF-8. */
  value: T | (Uint8Array extends T ? string : never);
  key?: string | Uint8Array;
  properties?: Record<string, string>;
  eventTime?: number;
  /** Deliver no earlier than this many ms from now (Shared and Key_Shared subscriptions). */
  deliverAfterMs?: number;
  /** Deliver no earlier than this epoch ms. */
  deliverAt?: number;
  /** Explicit sequence ID (must increase); by default the producer numbers its messages. */
  sequenceId?: number;
}

/** How a stored batch's messages get their IDs: the first `dropped` were duplicates. */
interface BatchOutcome {
  ledgerId: number;
  entryId: number;
  partition: number;
  dropped: number;
}

interface Batch {
  messages: FrameMessage[];
  /**
   * Settles once the batch is stored (the IDs per message follow from the reply) or has failed.
   * One promise per batch; each send derives its own from it (no resolver pair per message).
   */
  done: Promise<BatchOutcome> | undefined;
  settle: ((o: BatchOutcome) => void) | undefined;
  fail: ((err: unknown) => void) | undefined;
  bytes: number;
  timer: NodeJS.Timeout | undefined;
  /** An append of this batch failed; counted in its lane's `failed` until it completes. */
  failed?: boolean;
}

interface Lane {
  client: PartitionClient;
  batch: Batch;
  /** Appends of this partition go out in order: a retry never overtakes or is overtaken. */
  chain: Promise<void>;
  /**
   * Appends of this lane that failed (their worker died) and are not yet resent. Until they land,
   * new batches go out one at a time after them: a batch issued now would reach the restarted actor
   * before the resend and be stored before it. Nothing would be lost (deduplication keeps exact
   * ranges, so the resend is still stored), but the partition would hold this producer's messages
   * out of order; Pulsar keeps a producer's order per partition, and so does this.
   */
  failed: number;
  /** Batches held back (not yet issued) behind a resend. */
  held: number;
}

type AppendReply = { position: { ledgerId: number; entryId: number }; count: number };

const enc = new TextEncoder();
const RETRY_DELAY_MS = 20;

export class Producer<T = Uint8Array> implements AsyncDisposable {
  private readonly lanes: Lane[];
  private readonly router: MessageRouter;
  private readonly routing: RoutingMode;
  private readonly deterministic: boolean;
  private readonly singlePartition: number;
  private readonly schema: Schema<T>;
  private readonly nameBytes: Uint8Array;
  private readonly batching: Required<BatchingOptions>;
  private readonly maxPending: number;
  private readonly sendTimeoutMs: number;
  private pendingCount = 0;
  /** Sends waiting for room, oldest first; `waitHead` moves instead of Array#shift (O(n) each). */
  private waiting: ({ message: ProducerMessage<T>; resolve(id: MessageId): void; reject(err: unknown): void } | undefined)[] = [];
  private waitHead = 0;
  private seq: number;
  private closed = false;
  private readonly inflight = new Set<Promise<void>>();

  /** @internal Created by `broker.createProducer`. */
  constructor(
    readonly topic: string,
    readonly name: string,
    clients: PartitionClient[],
    lastSequenceId: number,
    private readonly partitioned: boolean,
    options: ProducerOptions<T>,
    private readonly onClose: () => Promise<void>,
  ) {
    this.lanes = clients.map((client) => ({ client, batch: newBatch(), chain: Promise.resolve(), failed: 0, held: 0 }));
    this.routing = options.routing ?? 'key-hash';
    this.router = createRouter(this.routing, clients.length);
    // A producer the user named resends with the same sequence IDs after a crash, and deduplication
    // is per partition: the resend must reach the partition the original went to. So a named
    // producer routes keyless messages by sequence-ID block (round-robin over blocks of
    // batching.maxMessages) and 'single' by its name's hash, never by a random start.
    this.deterministic = options.name !== undefined && clients.length > 1;
    this.singlePartition = keyHashPartition(enc.encode(name), clients.length);
    this.schema = options.schema ?? (Schemas.bytes as unknown as Schema<T>);
    this.nameBytes = enc.encode(name);
    const b = options.batching ?? {};
    this.batching = { enabled: b.enabled ?? true, maxMessages: b.maxMessages ?? 1000, maxBytes: b.maxBytes ?? 131_072, maxDelayMs: b.maxDelayMs ?? 1 };
    for (const [k, v] of Object.entries(this.batching)) {
      if (k !== 'enabled' && (typeof v !== 'number' || !Number.isFinite(v) || v < (k === 'maxDelayMs' ? 0 : 1))) {
        throw new MillraceError('INVALID_ARGUMENT', `batching.${k} must be a number ${k === 'maxDelayMs' ? '>= 0' : '>= 1'}, got ${String(v)}`);
      }
    }
    this.maxPending = options.maxPendingMessages ?? 10_000;
    this.sendTimeoutMs = options.sendTimeoutMs ?? 30_000;
    this.seq = lastSequenceId;
  }

  /** The last sequence ID this producer assigned (or found persisted when it opened). */
  get lastSequenceId(): number {
    return this.seq;
  }

  /**
   * Sends one message; resolves with its ID once it is durable (its batch is appended). Not an
   * async function: at millions of sends a second, the extra promise and microtask per call showed
   * up as garbage-collector time; the slow path (waiting for room) is the only one that awaits.
   */
  send(message: ProducerMessage<T>): Promise<MessageId> {
    if (this.closed) return Promise.reject(new MillraceError('CLOSED', `producer ${this.name} on ${this.topic} is closed`));
    if (this.waitingCount > 0 || this.pendingCount >= this.maxPending) {
      // Backpressure. Waiting sends keep their call order: a send must never overtake an earlier one.
      return new Promise<MessageId>((resolve, reject) => this.waiting.push({ message, resolve, reject }));
    }
    return this.sendNow(message);
  }

  private sendNow(message: ProducerMessage<T>): Promise<MessageId> {
    let frame: FrameMessage;
    const seqBefore = this.seq;
    try {
      if (message === null || typeof message !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'send takes { value, key?, properties?, ... }');
      frame = this.toFrame(message);
      if (frame.value && frame.value.length > DEFAULTS.maxEntryBytes - 1024) {
        throw new MillraceError('ENTRY_TOO_LARGE', `a message of ${frame.value.length} bytes is over the maximum of ${DEFAULTS.maxEntryBytes - 1024}`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    const partition = this.partitionFor(frame);
    const lane = this.lanes[partition]!;
    // A resent ID (at or below one already used: a replay after a reopen) travels in a batch of its
    // own. The partition drops the IDs it holds and stores the rest; alone, a message is stored or
    // dropped whole, so its reply tells which, where a mixed batch's reply (a count) could not.
    const resend = frame.sequenceId! <= seqBefore;
    if (resend) this.flushLane(partition);
    this.pendingCount++;
    const size = (frame.value?.length ?? 0) + (frame.key?.length ?? 0) + (frame.properties?.length ?? 0);
    const prev = lane.batch.messages[lane.batch.messages.length - 1];
    // Sequence IDs strictly increase inside an entry: a resent (lower) ID starts a new batch.
    if (prev && (lane.batch.bytes + size > this.batching.maxBytes || (prev.sequenceId ?? -1) >= (frame.sequenceId ?? -1))) this.flushLane(partition);
    const b = lane.batch;
    b.done ??= new Promise<BatchOutcome>((resolve, reject) => {
      b.settle = resolve;
      b.fail = reject;
    });
    const index = b.messages.length;
    // A dropped message (a resend the partition holds) resolves with Pulsar's duplicate ID (-1:-1).
    const promise = b.done.then((o) => (index < o.dropped
      ? new MessageId(-1, -1, o.partition, -1)
      : new MessageId(o.ledgerId, o.entryId, o.partition, index - o.dropped)));
    b.messages.push(frame);
    b.bytes += size;
    if (resend || !this.batching.enabled || b.messages.length >= this.batching.maxMessages || b.bytes >= this.batching.maxBytes) {
      this.flushLane(partition);
    } else if (!b.timer) {
      b.timer = setTimeout(() => this.flushLane(partition), this.batching.maxDelayMs);
    }
    return promise;
  }

  private get waitingCount(): number {
    return this.waiting.length - this.waitHead;
  }

  /** Room was freed: send waiting messages, oldest first, while there is room. */
  private admitWaiting(): void {
    while (this.waitingCount > 0 && this.pendingCount < this.maxPending) {
      const w = this.waiting[this.waitHead]!;
      this.waiting[this.waitHead++] = undefined;
      if (this.waitHead === this.waiting.length) {
        this.waiting = [];
        this.waitHead = 0;
      }
      this.sendNow(w.message).then(w.resolve, w.reject);
    }
  }

  private partitionFor(frame: FrameMessage): number {
    const key = frame.key ?? null;
    if (!this.deterministic || (key !== null && this.routing === 'key-hash')) return this.router.choosePartition(key);
    if (this.routing === 'single') return this.singlePartition;
    return Math.floor(frame.sequenceId! / this.batching.maxMessages) % this.lanes.length;
  }

  private toFrame(m: ProducerMessage<T>): FrameMessage {
    const value = this.schema.encode(m.value as T);
    const key = m.key === undefined ? null : typeof m.key === 'string' ? enc.encode(m.key) : m.key;
    if (key !== null && !(key instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'key must be a string or a Uint8Array');
    let sequenceId: number;
    if (m.sequenceId !== undefined) {
      if (!Number.isSafeInteger(m.sequenceId) || m.sequenceId < 0) throw new MillraceError('INVALID_ARGUMENT', `sequenceId must be a non-negative safe integer, got ${String(m.sequenceId)}`);
      // An ID at or below the last one is a resend (after a crash, by a producer that reopened under
      // the same name): it goes out, and the partition drops it as a duplicate if it holds it (G4).
      // Refusing it here would make the resend fail instead of being acknowledged once.
      sequenceId = m.sequenceId;
    } else {
      sequenceId = this.seq + 1;
    }
    this.seq = Math.max(this.seq, sequenceId);
    const deliverAt = m.deliverAt ?? (m.deliverAfterMs !== undefined ? Date.now() + m.deliverAfterMs : undefined);
    const f: FrameMessage = { value, key, properties: encodeProperties(m.properties), sequenceId };
    if (m.eventTime !== undefined) f.eventTime = m.eventTime;
    if (deliverAt !== undefined) f.deliverAt = deliverAt;
    return f;
  }

  private flushLane(partition: number): void {
    const lane = this.lanes[partition]!;
    const b = lane.batch;
    if (b.timer) clearTimeout(b.timer);
    if (b.messages.length === 0) return;
    lane.batch = newBatch();
    this.router.onBatchBoundary();
    const started = Date.now();
    // Appends go out at once (pipelined); only their completion is chained, so a retry after a
    // worker death resends in order before any later batch of this partition resolves.
    const issue = (): Promise<AppendReply> => {
      const attempt = lane.client.append({ producerName: this.nameBytes, messages: b.messages });
      // Its failure is read by complete() once earlier batches finish; meanwhile it marks the lane
      // (and must not count as an unhandled rejection: a worker death fails several at once).
      attempt.catch(() => {
        if (b.failed) return;
        b.failed = true;
        lane.failed++;
      });
      return attempt;
    };
    const hold = lane.failed > 0 || lane.held > 0;
    const attempt = hold ? undefined : issue();
    if (hold) lane.held++;
    const done = lane.chain.then(() => {
      if (hold) lane.held--;
      return this.complete(lane, partition, b, attempt ?? issue(), started);
    });
    lane.chain = done;
    this.inflight.add(done);
    void done.finally(() => this.inflight.delete(done));
  }

  private async complete(lane: Lane, partition: number, b: Batch, first: Promise<AppendReply>, started: number): Promise<void> {
    let attempt = first;
    for (;;) {
      try {
        const r = await attempt;
        const p = this.partitioned ? partition : -1;
        // The partition drops the messages it already holds (a resend) and the entry stores only the
        // rest, renumbered from batch index 0. This producer's batches are stored or dropped whole
        // (resent IDs travel alone, see sendNow); should a count come back short anyway, the dropped
        // ones are taken as the first (IDs increase, and an older ID is the likelier stored).
        // A dropped message resolves with Pulsar's duplicate ID (-1:-1).
        const n = b.messages.length;
        b.settle!({ ledgerId: r.position.ledgerId, entryId: r.position.entryId, partition: p, dropped: r.position.ledgerId < 0 ? n : n - r.count });
        break;
      } catch (err) {
        const retriable = err instanceof MillraceError && (err.code === 'WORKER_DIED' || err.code === 'ACTOR_NOT_FOUND');
        if (!retriable || Date.now() - started > this.sendTimeoutMs) {
          const e = retriable ? new MillraceError('TIMEOUT', `send to ${this.topic} did not complete within ${this.sendTimeoutMs} ms`, { cause: err }) : err;
          b.fail!(e);
          break;
        }
        await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
        attempt = lane.client.append({ producerName: this.nameBytes, messages: b.messages });
      }
    }
    if (b.failed) {
      // Resent (or given up): later batches may go out pipelined again once none waits.
      b.failed = false;
      lane.failed--;
    }
    this.pendingCount -= b.messages.length;
    this.admitWaiting();
  }

  /** Sends every batched message now and resolves once all sends so far have completed. */
  async flush(): Promise<void> {
    while (this.waitingCount > 0) {
      for (let p = 0; p < this.lanes.length; p++) this.flushLane(p);
      await Promise.race([...this.inflight]);
    }
    for (let p = 0; p < this.lanes.length; p++) this.flushLane(p);
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Flushes, then releases the producer's name. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await this.onClose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function newBatch(): Batch {
  return { messages: [], done: undefined, settle: undefined, fail: undefined, bytes: 0, timer: undefined };
}
