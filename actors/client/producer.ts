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
import type { PartitionClient } from './partition-client.js';
import { BatchBuilder, checkMessage, type BuiltMessage } from './batch-builder.js';
import { durationOption } from './call-options.js';

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
  /** The messages, laid out as they were sent (no object kept per message). */
  builder: BatchBuilder | undefined;
  /** The entry once the batch went out (sealed), resent as it is after a worker death. */
  entry: Uint8Array | undefined;
  /**
   * Settles once the batch is stored (the IDs per message follow from the reply) or has failed.
   * One promise per batch; each send derives its own from it (no resolver pair per message).
   */
  done: Promise<BatchOutcome> | undefined;
  /**
   * Turns the outcome into the next send's ID: one function per batch, attached to `done` once per
   * send, numbering the sends by call order (see idsInSendOrder).
   */
  toId: ((o: BatchOutcome) => MessageId) | undefined;
  settle: ((o: BatchOutcome) => void) | undefined;
  fail: ((err: unknown) => void) | undefined;
  timer: NodeJS.Timeout | undefined;
  /** An append of this batch failed; counted in its lane's `failed` until it completes. */
  failed?: boolean;
  /** When its first append failed (Date.now()), to tell which failure burst it belongs to. */
  failedAt?: number;
}

interface Lane {
  client: PartitionClient;
  batch: Batch;
  /** The last entry's size: a new batch's buffer starts about that big. */
  lastEntryBytes: number;
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
  /**
   * The lane's latest failure burst: when it was first seen (Date.now()) and when its resends may
   * go. A worker death fails every append in flight at once; the first resend waits for the actor's
   * restart to begin, and the batches that failed with it resend right after, not RETRY_DELAY_MS
   * each in turn (2,000 unbatched sends in flight took 40 s to resend, and timed out).
   */
  burstSeenAt: number;
  retryAt: number;
}

type AppendReply = { position: { ledgerId: number; entryId: number }; count: number };

const enc = new TextEncoder();
const MAX_ENTRY_BYTES = DEFAULTS.maxEntryBytes;
// Spare batch buffers kept by a producer (see Producer.spares): about the batches of a full window.
const MAX_SPARE_BUFFERS = 16;
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
  /**
   * Sends waiting for room, oldest first, each already taken apart into its own bytes (nothing of
   * the caller's is kept: a value may be reused once send returns); its sequence ID, when the
   * producer numbers it, is given on admission. `waitHead` moves instead of Array#shift.
   */
  private waiting: ({ parts: BuiltMessage; numbered: boolean; resolve(id: MessageId): void; reject(err: unknown): void } | undefined)[] = [];
  private waitHead = 0;
  private seq: number;
  private closed = false;
  /**
   * Batches issued and not completed, and flush() calls waiting for the next to complete. A count
   * rather than a Set of promises with a `finally` each: those were several objects per batch, and
   * with batching off a batch is a message. Each lane's `chain` ends with its last batch.
   */
  private inflightCount = 0;
  private batchCompleted: (() => void)[] = [];
  /**
   * Buffers of completed batches, for new ones: a batch buffer is ~128 KiB, whose allocation (zeroed,
   * often fresh pages) cost more than laying out its thousand messages. Batches complete in bursts,
   * so one spare per lane was reused for only a third of the batches.
   */
  private readonly spares: Uint8Array[] = [];
  /** The message being sent, reused by every send (send lays it out before it returns). */
  private readonly scratch: BuiltMessage = { value: null, key: null, properties: null, eventTime: undefined, deliverAt: undefined, sequenceId: 0 };

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
    this.lanes = clients.map((client) => ({ client, batch: newBatch(), lastEntryBytes: 0, chain: Promise.resolve(), failed: 0, held: 0, burstSeenAt: -Infinity, retryAt: 0 }));
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
    if (b === null || typeof b !== 'object') throw new MillraceError('INVALID_ARGUMENT', `batching must be an object of enabled, maxMessages, maxBytes and maxDelayMs, got ${String(b)}`);
    this.batching = { enabled: b.enabled ?? true, maxMessages: b.maxMessages ?? 1000, maxBytes: b.maxBytes ?? 131_072, maxDelayMs: b.maxDelayMs ?? 1 };
    for (const [k, v] of Object.entries(this.batching)) {
      if (k !== 'enabled' && (typeof v !== 'number' || !Number.isFinite(v) || v < (k === 'maxDelayMs' ? 0 : 1))) {
        throw new MillraceError('INVALID_ARGUMENT', `batching.${k} must be a number ${k === 'maxDelayMs' ? '>= 0' : '>= 1'}, got ${String(v)}`);
      }
    }
    if (typeof this.batching.enabled !== 'boolean') throw new MillraceError('INVALID_ARGUMENT', `batching.enabled must be true or false, got ${String(this.batching.enabled)}`);
    this.maxPending = options.maxPendingMessages ?? 10_000;
    // 0 (or less) left every send waiting for room that never came: a hang, not an error.
    if (!Number.isSafeInteger(this.maxPending) || this.maxPending < 1) throw new MillraceError('INVALID_ARGUMENT', `maxPendingMessages must be an integer >= 1, got ${String(this.maxPending)}`);
    this.sendTimeoutMs = durationOption(options.sendTimeoutMs, 'sendTimeoutMs') ?? 30_000;
    this.seq = lastSequenceId;
  }

  /** The last sequence ID this producer assigned (or found persisted when it opened). */
  get lastSequenceId(): number {
    return this.seq;
  }

  /**
   * Sends one message; resolves with its ID once it is durable (its batch is appended). The message
   * is copied before send returns, as Kafka's and Pulsar's producers serialize at send: its value's
   * buffer (and key, and a json or msgpack value object) may be reused or changed at once, also
   * when the send waits for room. Not an async function: at millions of sends a second, the extra promise and microtask per call showed
   * up as garbage-collector time; the slow path (waiting for room) is the only one that awaits.
   */
  send(message: ProducerMessage<T>): Promise<MessageId> {
    if (this.closed) return Promise.reject(new MillraceError('CLOSED', `producer ${this.name} on ${this.topic} is closed`));
    if (this.waitingCount > 0 || this.pendingCount >= this.maxPending) {
      // Backpressure. Waiting sends keep their call order: a send must never overtake an earlier one.
      // Taken apart and copied now, as a send that goes out at once is laid out now: the caller may
      // reuse the value's buffer (or change a json value) as soon as send returns.
      const parts: BuiltMessage = { value: null, key: null, properties: null, eventTime: undefined, deliverAt: undefined, sequenceId: 0 };
      try {
        if (message === null || typeof message !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'send takes { value, key?, properties?, ... }');
        this.toMessage(message, parts);
        checkMessage(parts, this.nameBytes.length, MAX_ENTRY_BYTES);
      } catch (err) {
        return Promise.reject(err);
      }
      if (parts.value !== null && parts.value === (message.value as unknown)) parts.value = parts.value.slice();
      if (parts.key !== null && parts.key === message.key) parts.key = parts.key.slice();
      const numbered = message.sequenceId === undefined;
      return new Promise<MessageId>((resolve, reject) => this.waiting.push({ parts, numbered, resolve, reject }));
    }
    return this.sendNow(message);
  }

  private sendNow(message: ProducerMessage<T>): Promise<MessageId> {
    const m = this.scratch;
    try {
      if (message === null || typeof message !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'send takes { value, key?, properties?, ... }');
      this.toMessage(message, m);
    } catch (err) {
      clear(m);
      return Promise.reject(err);
    }
    return this.sendBuilt(m);
  }

  /** A waiting send got room: its parts go out as a send made now would, numbered now if the producer numbers it. */
  private sendWaited(parts: BuiltMessage, numbered: boolean): Promise<MessageId> {
    const m = this.scratch;
    m.value = parts.value;
    m.key = parts.key;
    m.properties = parts.properties;
    m.eventTime = parts.eventTime;
    m.deliverAt = parts.deliverAt;
    m.sequenceId = numbered ? this.seq + 1 : parts.sequenceId;
    return this.sendBuilt(m);
  }

  /** Checks the message in `m` (the scratch, cleared here) and lays it out in its partition's batch. */
  private sendBuilt(m: BuiltMessage): Promise<MessageId> {
    let recordSize: number;
    try {
      recordSize = checkMessage(m, this.nameBytes.length, MAX_ENTRY_BYTES);
    } catch (err) {
      clear(m);
      return Promise.reject(err);
    }
    const seqBefore = this.seq;
    this.seq = Math.max(this.seq, m.sequenceId);
    const partition = this.partitionFor(m.key, m.sequenceId);
    const lane = this.lanes[partition]!;
    // A resent ID (at or below one already used: a replay after a reopen) travels in a batch of its
    // own. The partition drops the IDs it holds and stores the rest; alone, a message is stored or
    // dropped whole, so its reply tells which, where a mixed batch's reply (a count) could not.
    const resend = m.sequenceId <= seqBefore;
    if (resend) this.flushLane(partition);
    this.pendingCount++;
    const size = (m.value?.length ?? 0) + (m.key?.length ?? 0) + (m.properties?.length ?? 0);
    const current = lane.batch.builder;
    // Sequence IDs strictly increase inside an entry (a resent, lower ID starts a new batch), and an
    // entry has its format's limits: a message that would break them starts a new batch too.
    if (current !== undefined && current.count > 0
      && (current.payloadBytes + size > this.batching.maxBytes || !current.fits(recordSize, m.sequenceId, MAX_ENTRY_BYTES))) {
      this.flushLane(partition);
    }
    const b = lane.batch;
    if (b.builder === undefined) {
      b.builder = BatchBuilder.create(this.nameBytes, lane.lastEntryBytes, this.spares.pop());
    }
    b.done ??= new Promise<BatchOutcome>((resolve, reject) => {
      b.settle = resolve;
      b.fail = reject;
    });
    const builder = b.builder;
    const promise = b.done.then((b.toId ??= idsInSendOrder()));
    builder.add(m, recordSize);
    clear(m);
    if (resend || !this.batching.enabled || builder.count >= this.batching.maxMessages || builder.payloadBytes >= this.batching.maxBytes) {
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
      this.sendWaited(w.parts, w.numbered).then(w.resolve, w.reject);
    }
  }

  private partitionFor(key: Uint8Array | null, sequenceId: number): number {
    if (!this.deterministic || (key !== null && this.routing === 'key-hash')) return this.router.choosePartition(key);
    if (this.routing === 'single') return this.singlePartition;
    return Math.floor(sequenceId / this.batching.maxMessages) % this.lanes.length;
  }

  /**
   * Fills `out` with the parts of `m` (value through the schema, key as bytes, properties encoded,
   * its sequence ID); the producer's last sequence ID moves only once the message is accepted.
   */
  private toMessage(m: ProducerMessage<T>, out: BuiltMessage): void {
    out.value = this.schema.encode(m.value as T);
    const key = m.key === undefined ? null : typeof m.key === 'string' ? enc.encode(m.key) : m.key;
    if (key !== null && !(key instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'key must be a string or a Uint8Array');
    out.key = key;
    if (m.sequenceId !== undefined) {
      if (!Number.isSafeInteger(m.sequenceId) || m.sequenceId < 0) throw new MillraceError('INVALID_ARGUMENT', `sequenceId must be a non-negative safe integer, got ${String(m.sequenceId)}`);
      // An ID at or below the last one is a resend (after a crash, by a producer that reopened under
      // the same name): it goes out, and the partition drops it as a duplicate if it holds it (G4).
      // Refusing it here would make the resend fail instead of being acknowledged once.
      out.sequenceId = m.sequenceId;
    } else {
      out.sequenceId = this.seq + 1;
    }
    out.deliverAt = m.deliverAt ?? (m.deliverAfterMs !== undefined ? Date.now() + m.deliverAfterMs : undefined);
    out.eventTime = m.eventTime;
    out.properties = encodeProperties(m.properties);
  }

  private flushLane(partition: number): void {
    const lane = this.lanes[partition]!;
    const b = lane.batch;
    if (b.timer) clearTimeout(b.timer);
    if (b.builder === undefined || b.builder.count === 0) return;
    lane.batch = newBatch();
    this.router.onBatchBoundary();
    const entry = (b.entry = b.builder.seal());
    lane.lastEntryBytes = entry.length;
    const started = Date.now();
    // Appends go out at once (pipelined); only their completion is chained, so a retry after a
    // worker death resends in order before any later batch of this partition resolves.
    const hold = lane.failed > 0 || lane.held > 0;
    const attempt = hold ? undefined : this.issue(lane, b);
    if (hold) lane.held++;
    this.inflightCount++;
    lane.chain = lane.chain.then(() => {
      if (hold) lane.held--;
      return this.complete(lane, partition, b, attempt ?? this.issue(lane, b), started);
    });
  }

  private issue(lane: Lane, b: Batch): Promise<AppendReply> {
    const attempt = lane.client.appendEntry(b.entry!);
    // Its failure is read by complete() once earlier batches finish; meanwhile it marks the lane
    // (and must not count as an unhandled rejection: a worker death fails several at once).
    attempt.catch(() => {
      if (b.failed) return;
      b.failed = true;
      b.failedAt = Date.now();
      lane.failed++;
    });
    return attempt;
  }

  private onBatchCompleted(): void {
    this.inflightCount--;
    if (this.batchCompleted.length === 0) return;
    const waiters = this.batchCompleted;
    this.batchCompleted = [];
    for (const w of waiters) w();
  }

  private async complete(lane: Lane, partition: number, b: Batch, first: Promise<AppendReply>, started: number): Promise<void> {
    try {
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
          const n = b.builder!.count;
          b.settle!({ ledgerId: r.position.ledgerId, entryId: r.position.entryId, partition: p, dropped: r.position.ledgerId < 0 ? n : n - r.count });
          break;
        } catch (err) {
          const retriable = err instanceof MillraceError && (err.code === 'WORKER_DIED' || err.code === 'ACTOR_NOT_FOUND');
          if (!retriable || Date.now() - started > this.sendTimeoutMs) {
            const e = retriable ? new MillraceError('TIMEOUT', `send to ${this.topic} did not complete within ${this.sendTimeoutMs} ms`, { cause: err }) : err;
            b.fail!(e);
            break;
          }
          // The first append failed when issue() saw it; a resend's failure is seen here, now.
          const failedAt = attempt === first ? (b.failedAt ?? Date.now()) : Date.now();
          if (failedAt > lane.burstSeenAt) {
            lane.burstSeenAt = Date.now();
            lane.retryAt = lane.burstSeenAt + RETRY_DELAY_MS;
          }
          const wait = lane.retryAt - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          attempt = lane.client.appendEntry(b.entry!);
        }
      }
      if (b.failed) {
        // Resent (or given up): later batches may go out pipelined again once none waits.
        b.failed = false;
        lane.failed--;
      }
      this.pendingCount -= b.builder!.count;
      // Nothing reads the batch's buffer any more (its appends are over): the lane's next batch may.
      if (this.spares.length < MAX_SPARE_BUFFERS) this.spares.push(b.builder!.buffer);
      b.builder = undefined;
      b.entry = undefined;
      this.admitWaiting();
    } finally {
      this.onBatchCompleted();
    }
  }

  /** Sends every batched message now and resolves once all sends so far have completed. */
  async flush(): Promise<void> {
    while (this.waitingCount > 0) {
      for (let p = 0; p < this.lanes.length; p++) this.flushLane(p);
      await new Promise<void>((resolve) => this.batchCompleted.push(resolve));
    }
    for (let p = 0; p < this.lanes.length; p++) this.flushLane(p);
    while (this.inflightCount > 0) await Promise.allSettled(this.lanes.map((l) => l.chain));
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
  return { builder: undefined, entry: undefined, done: undefined, toId: undefined, settle: undefined, fail: undefined, timer: undefined };
}

/**
 * The IDs of a batch's messages, one per call, in call order: the nth call answers batch index n.
 * Each send attaches this one function to its batch's promise, and a promise runs its reactions in
 * the order they were attached (ECMAScript TriggerPromiseReactions, "in List order"), so the nth
 * reaction is the nth send's. Nothing else attaches to a batch's promise. A closure per send that
 * captured its index cost two more objects per message in flight (a function and its context),
 * kept alive until the batch was stored: with thousands of sends in flight they outlived young
 * collections and were copied at each.
 */
function idsInSendOrder(): (o: BatchOutcome) => MessageId {
  let index = 0;
  // A dropped message (a resend the partition holds) resolves with Pulsar's duplicate ID (-1:-1).
  return (o) => {
    const i = index++;
    return i < o.dropped ? new MessageId(-1, -1, o.partition, -1) : new MessageId(o.ledgerId, o.entryId, o.partition, i - o.dropped);
  };
}

/** Drops the references a reused message holds (the user's value must not be kept alive by it). */
function clear(m: BuiltMessage): void {
  m.value = null;
  m.key = null;
  m.properties = null;
}
