/**
 * The partition actor: one topic partition. It owns the partition's managed ledger, its producer
 * deduplication state and its subscriptions, and answers the partition protocol
 * (./partition-protocol.ts). Appends arrive as whole laid-out batches over the ring; the durable
 * position goes back, and subscriptions are told there is more to dispatch. It keeps nothing that
 * the ledger and the cursors do not also hold, so a restart anywhere recovers it from LMDB.
 */
import { pack, unpack } from 'msgpackr';
import { ManagedLedger, type ManagedLedgerOptions, type Position, type ReadEntry, type TieredStorage } from '../../core/log/index.js';
import { MillraceError } from '../../core/errors.js';
import { DEFAULTS } from '../../core/defaults.js';
import type { TopicPolicies } from '../../core/topic/index.js';
import { createObjectStore, type TieredStorageConfig } from '../../core/offload/object-store.js';
import { BlockCache } from '../../core/offload/offloaded-ledger-reader.js';
import { decodeEntry, entryCount, jsFramer } from '../../wasm/index.js';
import type { Actor, ActorContext, ActorFactory, Reply } from '../host/actor.js';
import type { RecordParts } from '../ring/index.js';
import { DedupState } from './dedup.js';
import { Subscription } from './subscription.js';
import { PartitionMaintenance } from './maintenance.js';
import {
  ACK_HEADER, ACK_ITEM, APPEND_REPLY_BYTES, LAST_MESSAGE_REPLY_BYTES, OP_ACK, OP_APPEND, OP_CLOSE_CONSUMER, OP_FIND_TIME, OP_FLOW,
  OP_DELETE, OP_INTERNAL_STATS, OP_LAST_MESSAGE, OP_LAST_POSITION, OP_MAINTAIN, OP_SUBSCRIPTION_ADMIN, OP_PRODUCER_CLOSE, OP_PRODUCER_OPEN, OP_READ, OP_REDELIVER, OP_SEEK, OP_STATS,
  OP_SUBSCRIBE, OP_UNSUBSCRIBE, READ_ENTRY_HEADER, READ_REQUEST_BYTES, readId,
  type InternalStats, type PartitionStats, type SubscribeRequest, type SubscriptionAdminRequest,
} from './partition-protocol.js';

/**
 * A msgpack request body. It is a view into a ring (a SharedArrayBuffer), and msgpackr reads some
 * strings with a native extractor that refuses one ("TypeError: source must be an ArrayBuffer"):
 * a subscribe on a topic whose producer had just sent failed that way. So it is copied first; these
 * are control requests (subscribe, seek, producer open and close, admin), never appends.
 */
function unpackRequest(body: Uint8Array): unknown {
  return unpack(body.buffer instanceof SharedArrayBuffer ? body.slice() : body);
}
/** What a partition actor is spawned with. */
export interface PartitionActorConfig {
  ledger?: Omit<ManagedLedgerOptions, 'now'>;
  /** Index of this partition in its topic, -1 for a non-partitioned topic. */
  partitionIndex?: number;
  /** The broker's default policies (namespace and topic policies override them). */
  policies?: TopicPolicies;
  /** Where sealed ledgers are offloaded; none: no offload. */
  tieredStorage?: TieredStorageConfig;
  /** Bytes of the per-thread cache of offloaded ledger blocks. */
  offloadCacheBytes?: number;
  /** Period of the housekeeping pass (TTL, quotas, offload, retention). */
  maintenanceIntervalMs?: number;
}

// One object store client and block cache per thread and configuration, shared by its partitions.
const tieredByConfig = new Map<string, TieredStorage>();
function tieredStorageFor(config: TieredStorageConfig, cacheBytes: number): TieredStorage {
  const key = JSON.stringify(config);
  let t = tieredByConfig.get(key);
  if (!t) {
    t = { objects: createObjectStore(config), cache: new BlockCache(cacheBytes) };
    tieredByConfig.set(key, t);
  }
  return t;
}

/** A consumer's seek: to a message (its entry, and a batch index > 0 inside it) or a publish time. */
interface SeekRequest {
  consumerId: number;
  ledgerId?: number;
  entryId?: number;
  batchIndex?: number;
  publishTimeMs?: number;
}

/** A seek's or reset's message ID as the subscription takes it: its entry, and a batch index >= 0. */
function messageTarget(req: { ledgerId?: number; entryId?: number; batchIndex?: number }): [Position, number] {
  return [
    { ledgerId: Math.max(0, req.ledgerId ?? 0), entryId: Math.max(0, req.entryId ?? 0) },
    typeof req.batchIndex === 'number' ? Math.max(0, req.batchIndex) : 0,
  ];
}

interface HeldAppend {
  entry: Uint8Array;
  reply: Reply;
  cancel: () => void;
}

// Bytes of entries one read replies with at most (a reply larger than a ring record goes as fragments).
// Reads of up to 1 MiB measured no faster in replay (5.0-5.8M against 4.4-6.2M msg/s), with a
// reply a larger share of the reply ring; a bound also keeps one reader's read from holding the host long.
const READ_MAX_BYTES_CAP = 448 * 1024;
const READ_MAX_WAIT_MS = 60_000;

interface WaitingRead {
  from: Position;
  maxEntries: number;
  maxBytes: number;
  reply: Reply;
  cancel: () => void;
  poll: PollTicket | undefined;
}

/** A long poll that named its reader: `key` is `client:pollKey`, `seq` orders the reads of one key. */
interface PollTicket {
  key: string;
  seq: number;
}

function positionReply(p: Position | undefined): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setFloat64(0, p ? p.ledgerId : -1, true);
  v.setFloat64(8, p ? p.entryId : -1, true);
  return out;
}

class PartitionActor implements Actor {
  private readonly subscriptions = new Map<string, Subscription>();
  /** client:consumerId -> subscription name. */
  private readonly consumerSubs = new Map<string, string>();
  /** Producer name -> `clientId:producerId` of the one producer connected under it. */
  private readonly producers = new Map<string, string>();
  private readonly waitingReads = new Set<WaitingRead>();
  /** Per long-poll key, the newest read's sequence number and the read parked for it, if any. */
  private readonly polls = new Map<string, { latest: number; parked: WaitingRead | undefined }>();
  private pollSeq = 0;
  private readonly appendReply = new Uint8Array(APPEND_REPLY_BYTES);
  private readonly appendReplyView = new DataView(this.appendReply.buffer);
  private msgInCounter = 0;
  private bytesInCounter = 0;
  /** Appends held by a producer_request_hold backlog quota, in arrival order. */
  private held: HeldAppend[] = [];
  readonly maintenance: PartitionMaintenance;
  private stopTimer: (() => void) | undefined;
  private stopped = false;
  private deleted = false;
  /** A pass asked for by {@link trimIfConsumed} is running. */
  private trimming = false;
  /** A {@link trimIfConsumed} check is scheduled. */
  private trimCheck = false;
  /** The oldest ledger and the ledger count at that pass: a ledger retention keeps is not asked for again until one of them changes. */
  private trimAskedAt = { oldest: -1, ledgers: -1 };
  /** Ledger of the last append: a change means a rollover sealed a ledger. */
  private appendLedger = -1;

  constructor(
    private readonly ctx: ActorContext,
    private readonly ml: ManagedLedger,
    private readonly dedup: DedupState,
    private readonly partitionIndex: number,
    private readonly config: PartitionActorConfig,
  ) {
    this.maintenance = new PartitionMaintenance(ctx.store, ml, () => this.subscriptions.values(), config.policies, config.tieredStorage !== undefined, ctx.log,
      Date.now, (through) => this.dedup.snapshot(through));
  }

  /** Opens every durable subscription (housekeeping needs their cursors) and starts the timer. */
  async start(): Promise<void> {
    const mlId = this.ctx.store.managedLedgerId(this.ml.name);
    for (const { key } of this.ctx.store.cursors.getRange({ start: [mlId, ''], end: [mlId, '\uffff'] })) {
      const name = key[1];
      if (this.subscriptions.has(name)) continue;
      // The type is the first consumer's; until one connects it does not matter (nothing dispatches).
      this.subscriptions.set(name, await Subscription.open(this.ctx, this.ctx.store, this.ml, name, 'exclusive', 'earliest', this.partitionIndex));
    }
    // The first pass starts now but is not waited for: an offload of many ledgers left over from
    // before a restart must not keep the partition from serving.
    void this.maintenance.run().catch(() => undefined).then(() => this.releaseHeld());
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.stopTimer = this.ctx.setTimer(this.config.maintenanceIntervalMs ?? DEFAULTS.maintenanceIntervalMs, () => {
      void this.maintenance.run().catch(() => undefined).then(() => {
        this.releaseHeld();
        this.schedule();
      });
    });
  }

  /** Appends held by the quota go on, in order, once it allows them. */
  private releaseHeld(): void {
    if (this.maintenance.quotaExceeded !== undefined && this.maintenance.policies.backlogQuota?.policy === 'producer_request_hold') return;
    const held = this.held;
    this.held = [];
    for (const h of held) {
      h.cancel();
      this.appendChecked(h.entry, h.reply);
    }
  }

  handle(op: number, body: Uint8Array, reply: Reply): void {
    if (this.deleted) return reply.fail(new MillraceError('TOPIC_NOT_FOUND', `${this.ml.name} was deleted`));
    switch (op) {
      case OP_APPEND: return this.append(body, reply);
      case OP_READ: return this.read(body, reply);
      case OP_STATS: return reply.ok(pack(this.stats()));
      case OP_PRODUCER_OPEN: return this.producerOpen(body, reply);
      case OP_PRODUCER_CLOSE: {
        const { name, producerId } = unpackRequest(body) as { name: string; producerId: number };
        if (this.producers.get(name) === `${reply.clientId}:${producerId}`) this.producers.delete(name);
        return reply.ok();
      }
      case OP_SUBSCRIBE: return void this.subscribe(unpackRequest(body) as SubscribeRequest, reply).catch((e: unknown) => reply.fail(e));
      case OP_FLOW: {
        const v = new DataView(body.buffer, body.byteOffset, body.length);
        const found = this.consumer(reply.clientId, v.getUint32(0, true));
        if (found) found.sub.addPermits(found.slot, v.getUint32(4, true));
        return reply.ok();
      }
      case OP_ACK: return this.ack(body, reply);
      case OP_REDELIVER: return void this.redeliver(body, reply).catch((e: unknown) => reply.fail(e));
      case OP_CLOSE_CONSUMER:
      case OP_UNSUBSCRIBE: return void this.closeConsumer(op, body, reply).catch((e: unknown) => reply.fail(e));
      case OP_SEEK: return void this.seek(unpackRequest(body) as SeekRequest, reply).catch((e: unknown) => reply.fail(e));
      case OP_FIND_TIME: {
        const t = new DataView(body.buffer, body.byteOffset, body.length).getFloat64(0, true);
        this.ml.findByTime(t).then((p) => reply.ok(positionReply(p)), (e: unknown) => reply.fail(e));
        return;
      }
      case OP_LAST_POSITION: return reply.ok(positionReply(this.ml.lastConfirmed));
      case OP_LAST_MESSAGE: return void this.lastMessage().then((r) => reply.ok(r), (e: unknown) => reply.fail(e));
      case OP_MAINTAIN: {
        const req = (body.length > 0 ? unpackRequest(body) : {}) as { offloadNow?: boolean; light?: boolean };
        this.maintenance.run({ offloadNow: req.offloadNow === true, light: req.light === true }).then(() => {
          this.releaseHeld();
          reply.ok(pack(this.maintenance.offloadStatus));
          // New policies took effect; what they ask of offload follows in a full pass, unwaited.
          if (req.light === true) void this.maintenance.run().catch(() => undefined).then(() => this.releaseHeld());
        }, (e: unknown) => reply.fail(e));
        return;
      }
      case OP_SUBSCRIPTION_ADMIN: return void this.subscriptionAdmin(unpackRequest(body) as SubscriptionAdminRequest).then(() => {
        reply.ok();
        this.trimSoon();
      }, (e: unknown) => reply.fail(e));
      case OP_DELETE: return void this.deleteAll((unpackRequest(body) as { force?: boolean }).force === true).then(() => reply.ok(), (e: unknown) => reply.fail(e));
      case OP_INTERNAL_STATS: return void this.internalStats().then((s) => reply.ok(pack(s)), (e: unknown) => reply.fail(e));
      default:
        reply.fail(new MillraceError('INVALID_ARGUMENT', `partition actor has no op ${op}`));
    }
  }

  private append(body: Uint8Array, reply: Reply): void {
    // Copy out of the ring slot now: it is reused when this call returns, and lmdb-js would store a
    // SharedArrayBuffer view as garbage anyway.
    const entry: Uint8Array = Buffer.from(body);
    if (entry.length < 32) return reply.fail(new MillraceError('INVALID_ARGUMENT', `an entry is at least 32 bytes, got ${entry.length}`));
    if (this.maintenance.quotaExceeded !== undefined || this.held.length > 0) {
      const policy = this.maintenance.policies.backlogQuota?.policy;
      if (policy === 'producer_exception') return reply.fail(this.maintenance.quotaError());
      if (policy === 'producer_request_hold' || this.held.length > 0) {
        // Held in order; a later pass releases it, or the hold times out as Pulsar's send timeout.
        const h: HeldAppend = { entry, reply, cancel: () => undefined };
        h.cancel = this.ctx.setTimer(DEFAULTS.backlogQuotaHoldMs, () => {
          this.held = this.held.filter((x) => x !== h);
          reply.fail(this.maintenance.quotaError());
        });
        this.held.push(h);
        return;
      }
    }
    this.appendChecked(entry, reply);
  }

  private appendChecked(laidOut: Uint8Array, reply: Reply): void {
    let entry = laidOut;
    const check = this.dedup.check(entry);
    if (check.verdict === 'duplicate') {
      const out = new Uint8Array(APPEND_REPLY_BYTES);
      const v = new DataView(out.buffer);
      v.setFloat64(0, -1, true);
      v.setFloat64(8, -1, true);
      return reply.ok(out);
    }
    if (check.verdict === 'partial') {
      // A resend that overlaps what is stored: keep only the new messages (rare; off the hot path).
      const d = decodeEntry(entry);
      const keep = d.messages.filter((m) => this.dedup.isNew(check.producer, m.sequenceId ?? -1));
      entry = jsFramer.frame({ publishTime: 0, producerName: d.producerName, messages: keep.map((m) => ({ value: m.value, key: m.key, properties: m.properties, eventTime: m.eventTime, deliverAt: m.deliverAt, sequenceId: m.sequenceId })) });
    }
    this.dedup.accept(entry);
    this.ml.appendEntry(entry).then((r) => {
      this.dedup.persistedAt(entry, r.position);
      this.msgInCounter += r.count;
      this.bytesInCounter += r.bytes;
      // One scratch buffer per actor: Reply.ok copies the body before it returns.
      const v = this.appendReplyView;
      v.setFloat64(0, r.position.ledgerId, true);
      v.setFloat64(8, r.position.entryId, true);
      v.setFloat64(16, r.publishTime, true);
      v.setUint32(24, r.count, true);
      reply.ok(this.appendReply);
      this.onAppended();
      if (r.position.ledgerId !== this.appendLedger) {
        this.appendLedger = r.position.ledgerId;
        this.trimSoon();
      }
    }, (err: unknown) => {
      this.dedup.reject(entry);
      reply.fail(err);
    });
  }

  private onAppended(): void {
    for (const s of this.subscriptions.values()) s.pump();
    for (const w of [...this.waitingReads]) {
      this.unpark(w);
      this.serveRead(w.from, w.maxEntries, w.maxBytes, 0, w.reply, w.poll);
    }
  }

  /** OP_LAST_MESSAGE's reply: the last confirmed entry and the batch index of its last message. */
  private async lastMessage(): Promise<Uint8Array> {
    const out = new Uint8Array(LAST_MESSAGE_REPLY_BYTES);
    const v = new DataView(out.buffer);
    const last = this.ml.lastConfirmed;
    v.setFloat64(0, last ? last.ledgerId : -1, true);
    v.setFloat64(8, last ? last.entryId : -1, true);
    let batchIndex = -1;
    if (last) {
      try {
        const { entry } = await this.ml.read(last);
        batchIndex = entryCount(entry) - 1;
      } catch (err) {
        // Deleted by retention since it was confirmed: the whole-entry ID, as Pulsar gives.
        if (!(err instanceof MillraceError && err.code === 'ENTRY_NOT_FOUND')) throw err;
      }
    }
    v.setInt32(16, batchIndex, true);
    return out;
  }

  private read(body: Uint8Array, reply: Reply): void {
    if (body.length !== READ_REQUEST_BYTES) return reply.fail(new MillraceError('INVALID_ARGUMENT', `a read request is ${READ_REQUEST_BYTES} bytes, got ${body.length}`));
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    const from = { ledgerId: readId(v, 0), entryId: readId(v, 8) };
    const maxEntries = v.getUint32(16, true);
    const maxBytes = Math.min(v.getUint32(20, true), READ_MAX_BYTES_CAP);
    const waitMs = Math.min(v.getUint32(24, true), READ_MAX_WAIT_MS);
    const pollKey = v.getUint32(28, true);
    if (pollKey !== 0 && maxEntries === 0) {
      this.endPoll(`${reply.clientId}:${pollKey}`);
      return reply.ok(encodeEntries([]));
    }
    let poll: PollTicket | undefined;
    if (pollKey !== 0 && waitMs > 0) {
      poll = { key: `${reply.clientId}:${pollKey}`, seq: ++this.pollSeq };
      const p = this.polls.get(poll.key);
      if (p === undefined) this.polls.set(poll.key, { latest: poll.seq, parked: undefined });
      else {
        p.latest = poll.seq;
        // The reader moved on (a seek): the read it left parked ends now, empty, instead of waiting
        // for an append to read entries the reader would drop.
        const old = p.parked;
        if (old !== undefined) {
          this.unpark(old);
          old.reply.ok(encodeEntries([]));
        }
      }
    }
    this.serveRead(from, maxEntries, maxBytes, waitMs, reply, poll);
  }

  /** The reader of `key` is gone: its parked read ends now, empty, and the key is forgotten. */
  private endPoll(key: string): void {
    const p = this.polls.get(key);
    if (p === undefined) return;
    this.polls.delete(key);
    const w = p.parked;
    if (w !== undefined) {
      this.unpark(w);
      w.reply.ok(encodeEntries([]));
    }
  }

  /** Takes a parked read off the waiting lists (its timer too); the caller replies. */
  private unpark(w: WaitingRead): void {
    this.waitingReads.delete(w);
    w.cancel();
    const p = w.poll && this.polls.get(w.poll.key);
    if (p && p.parked === w) p.parked = undefined;
  }

  /** A read of `poll`'s key is done: the key is forgotten once its newest read is. */
  private donePolling(poll: PollTicket | undefined): void {
    if (poll === undefined) return;
    const p = this.polls.get(poll.key);
    if (p !== undefined && p.latest === poll.seq && p.parked === undefined) this.polls.delete(poll.key);
  }

  private serveRead(from: Position, maxEntries: number, maxBytes: number, waitMs: number, reply: Reply, poll?: PollTicket): void {
    this.ml.readRange(from, { maxEntries, maxBytes }).then((entries) => {
      if (entries.length === 0 && waitMs > 0) {
        const p = poll && this.polls.get(poll.key);
        if (poll && (p === undefined || p.latest !== poll.seq)) {
          // A newer read of the same reader came while this one read: it waits, not this one.
          reply.ok(encodeEntries([]));
          return;
        }
        const w: WaitingRead = { from, maxEntries, maxBytes, reply, cancel: () => undefined, poll };
        w.cancel = this.ctx.setTimer(waitMs, () => {
          this.unpark(w);
          this.donePolling(poll);
          reply.ok(encodeEntries([]));
        });
        this.waitingReads.add(w);
        if (p) p.parked = w;
        return;
      }
      this.donePolling(poll);
      reply.ok(encodeEntries(entries));
    }, (err: unknown) => {
      this.donePolling(poll);
      reply.fail(err);
    });
  }

  private producerOpen(body: Uint8Array, reply: Reply): void {
    const { name, producerId } = unpackRequest(body) as { name: string; producerId: number };
    // Keyed by client thread and producer: every producer of an embedded broker shares one client
    // thread, so the thread alone would let two producers of one name interleave sequence IDs.
    const me = `${reply.clientId}:${producerId}`;
    const owner = this.producers.get(name);
    if (owner !== undefined && owner !== me) {
      return reply.fail(new MillraceError('PRODUCER_BUSY', `a producer named ${name} is already connected to ${this.ml.name}`));
    }
    this.producers.set(name, me);
    const key = Buffer.from(name, 'utf8').toString('latin1');
    reply.ok(pack({ lastSequenceId: this.dedup.lastSequenceId(key) }));
  }

  private async subscribe(req: SubscribeRequest, reply: Reply): Promise<void> {
    let sub = this.subscriptions.get(req.subscription);
    if (sub && sub.consumerCount === 0 && sub.type !== req.type) {
      // Nobody is connected: the subscription takes the type of the consumer that comes now.
      sub.stop();
      await sub.cursor.persist();
      this.subscriptions.delete(req.subscription);
      sub = undefined;
    }
    if (!sub) {
      sub = await Subscription.open(this.ctx, this.ctx.store, this.ml, req.subscription, req.type, req.initialPosition, this.partitionIndex);
      // Another subscribe may have opened it meanwhile.
      const again = this.subscriptions.get(req.subscription);
      if (again) sub = again;
      else this.subscriptions.set(req.subscription, sub);
    }
    sub.addConsumer(reply.clientId, req.consumerId, req.consumerName, req.priority, req.type);
    this.consumerSubs.set(`${reply.clientId}:${req.consumerId}`, req.subscription);
    reply.ok();
  }

  private consumer(clientId: number, consumerId: number): { sub: Subscription; slot: number } | undefined {
    const name = this.consumerSubs.get(`${clientId}:${consumerId}`);
    const sub = name === undefined ? undefined : this.subscriptions.get(name);
    const slot = sub?.slotOf(clientId, consumerId);
    return sub && slot !== undefined ? { sub, slot } : undefined;
  }

  /**
   * The consumer an ACK or REDELIVER request (read through `v`) is for; throws a typed error for a
   * malformed request or an unknown consumer. Items follow the header: see {@link ACK_ITEM}.
   */
  private ackTarget(v: DataView, clientId: number): { sub: Subscription; slot: number } {
    const count = v.byteLength < ACK_HEADER ? -1 : v.getUint32(4, true);
    if (count < 0 || v.byteLength !== ACK_HEADER + count * ACK_ITEM) throw new MillraceError('INVALID_ARGUMENT', 'malformed ack request');
    const consumerId = v.getUint32(0, true);
    const found = this.consumer(clientId, consumerId);
    if (!found) throw new MillraceError('CLOSED', `consumer ${consumerId} is not subscribed to ${this.ml.name}`);
    return found;
  }

  /**
   * An ack request: one per acked message when a consumer acks each. Not async (the promise of an
   * async function and its catch() were garbage per ack); errors still become the reply.
   */
  private ack(body: Uint8Array, reply: Reply): void {
    let acked: Promise<void>;
    try {
      const v = new DataView(body.buffer, body.byteOffset, body.length);
      const t = this.ackTarget(v, reply.clientId);
      acked = t.sub.ack(t.slot, v, ACK_HEADER, v.getUint32(4, true));
    } catch (err) {
      return reply.fail(err);
    }
    acked.then(() => {
      reply.ok();
      this.trimSoon();
    }, (e: unknown) => reply.fail(e));
  }

  /**
   * Pulsar's trimConsumedLedgersInBackground: once every subscription is past the oldest sealed
   * ledger (on a topic without subscriptions, once a ledger is sealed), a housekeeping pass runs
   * soon instead of at the next tick. Retention decides as always; this only makes it prompt, so a
   * busy queue's consumed ledgers go back to LMDB's free pages while it runs, rather than growing
   * the file (and the resident mmap pages) for up to a whole interval. Called after every ack and
   * rollover: a field check until a sealed ledger may be trimmable, then one check per
   * DEFAULTS.trimCheckMs (reading a cursor's position retakes its copy of the ledger list).
   */
  private trimSoon(): void {
    if (this.trimCheck || this.trimming || this.stopped) return;
    const oldest = this.ml.oldestClosedLedger;
    if (!oldest) return;
    if (oldest.ledgerId === this.trimAskedAt.oldest && this.ml.ledgerCount === this.trimAskedAt.ledgers) return;
    const { timeMs, sizeBytes } = this.maintenance.policies.retention;
    if (timeMs < 0 && sizeBytes < 0) return; // kept forever
    this.trimCheck = true;
    this.ctx.setTimer(DEFAULTS.trimCheckMs, () => {
      this.trimCheck = false;
      this.trimIfConsumed();
    });
  }

  private trimIfConsumed(): void {
    if (this.trimming || this.stopped) return;
    const oldest = this.ml.oldestClosedLedger;
    if (!oldest) return;
    try {
      for (const s of this.subscriptions.values()) {
        const md = s.cursor.markDeletePosition;
        if (md.ledgerId < oldest.ledgerId || (md.ledgerId === oldest.ledgerId && md.entryId < oldest.lastEntryId)) return;
      }
    } catch {
      return; // a cursor closing under a timer (CLOSED): the periodic pass decides later
    }
    // Retention may keep it (a time or size limit): not asked again until the list changes.
    this.trimAskedAt = { oldest: oldest.ledgerId, ledgers: this.ml.ledgerCount };
    this.trimming = true;
    void this.maintenance.run({ light: true }).catch(() => undefined).then(() => {
      this.trimming = false;
      this.releaseHeld();
    });
  }

  /** A nack or an ack timeout: the messages go back for redelivery. */
  private async redeliver(body: Uint8Array, reply: Reply): Promise<void> {
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    const { sub, slot } = this.ackTarget(v, reply.clientId);
    const count = v.getUint32(4, true);
    const refs = [];
    for (let i = 0, o = ACK_HEADER; i < count; i++, o += ACK_ITEM) {
      refs.push({ position: { ledgerId: readId(v, o), entryId: readId(v, o + 8) }, batchIndex: v.getUint16(o + 16, true), key: null });
    }
    await sub.redeliver(slot, refs);
    reply.ok();
  }

  private async closeConsumer(op: number, body: Uint8Array, reply: Reply): Promise<void> {
    const consumerId = new DataView(body.buffer, body.byteOffset, body.length).getUint32(0, true);
    const found = this.consumer(reply.clientId, consumerId);
    if (!found) return reply.ok();
    if (op === OP_UNSUBSCRIBE && found.sub.consumerCount > 1) {
      throw new MillraceError('SUBSCRIPTION_BUSY', `subscription ${found.sub.name} has other connected consumers; close them before unsubscribing`);
    }
    found.sub.removeConsumer(found.slot);
    this.consumerSubs.delete(`${reply.clientId}:${consumerId}`);
    if (op === OP_UNSUBSCRIBE) {
      this.subscriptions.delete(found.sub.name);
      found.sub.stop();
      await found.sub.delete();
    }
    reply.ok();
    if (op === OP_UNSUBSCRIBE) this.trimSoon();
  }

  private async seek(req: SeekRequest, reply: Reply): Promise<void> {
    const found = this.consumer(reply.clientId, req.consumerId);
    if (!found) throw new MillraceError('CLOSED', `consumer ${req.consumerId} is not subscribed to ${this.ml.name}`);
    if (typeof req.publishTimeMs === 'number') await found.sub.seek((await this.ml.findByTime(req.publishTimeMs)) ?? this.end());
    else await found.sub.seek(...messageTarget(req));
    reply.ok();
    found.sub.pump();
  }

  /** Just after the last confirmed entry: where a seek to the end or past it lands. */
  private end(): Position {
    const last = this.ml.lastConfirmed;
    return last ? { ledgerId: last.ledgerId, entryId: last.entryId + 1 } : { ledgerId: 0, entryId: 0 };
  }

  /** Resets, skips or clears a subscription from outside (admin), consumers connected or not. */
  private async subscriptionAdmin(req: SubscriptionAdminRequest): Promise<void> {
    const sub = this.subscriptions.get(req.subscription);
    if (!sub) throw new MillraceError('SUBSCRIPTION_NOT_FOUND', `${this.ml.name} has no subscription ${String(req.subscription)}`);
    const end = this.end();
    if (req.action === 'clear') {
      await sub.skipBefore(end);
    } else if (req.action === 'skip') {
      if (!Number.isSafeInteger(req.messages) || req.messages < 1) throw new MillraceError('INVALID_ARGUMENT', `skip takes a number of messages >= 1, got ${String(req.messages)}`);
      // Whole entries from the first unacked one on, until at least `messages` are passed.
      let from = sub.cursor.firstUnacked();
      let left = req.messages;
      while (from && left > 0) {
        const rs = await this.ml.readRange(from, { maxEntries: 256 });
        if (rs.length === 0) break;
        for (const r of rs) {
          if (left <= 0) break;
          left -= entryCount(r.entry);
          from = { ledgerId: r.position.ledgerId, entryId: r.position.entryId + 1 };
        }
      }
      if (from) await sub.skipBefore(from);
    } else if (req.action === 'reset') {
      if (req.to === 'earliest') await sub.seek({ ledgerId: 0, entryId: 0 });
      else if (req.to === 'latest') await sub.seek(end);
      else if (typeof req.publishTimeMs === 'number') await sub.seek((await this.ml.findByTime(req.publishTimeMs)) ?? end);
      else await sub.seek(...messageTarget(req));
      sub.pump();
    } else {
      throw new MillraceError('INVALID_ARGUMENT', `unknown subscription action ${String((req as { action: unknown }).action)}`);
    }
  }

  /** Deletes the partition's data (topic deletion); the broker stops the actor afterwards. */
  private async deleteAll(force: boolean): Promise<void> {
    const consumers = [...this.subscriptions.values()].reduce((n, s) => n + s.consumerCount, 0);
    if (!force && (this.producers.size > 0 || consumers > 0)) {
      throw new MillraceError('TOPIC_BUSY', `${this.ml.name} has ${this.producers.size} producer(s) and ${consumers} consumer(s) connected`);
    }
    this.deleted = true;
    const gone = new MillraceError('TOPIC_NOT_FOUND', `${this.ml.name} was deleted`);
    this.release(gone);
    for (const sub of this.subscriptions.values()) {
      // Consumers waiting for messages would wait forever: they end with the error instead.
      sub.emitError(gone);
      sub.stop();
      await sub.delete();
    }
    this.subscriptions.clear();
    await this.ml.deleteAll();
    await this.ctx.store.settle(this.ctx.store.topics.remove(['dedup', this.ml.name]));
  }

  private async internalStats(): Promise<InternalStats> {
    const cursors: InternalStats['cursors'] = {};
    for (const sub of this.subscriptions.values()) {
      const st = sub.cursor.ackState();
      cursors[sub.name] = { markDeletePosition: st.markDelete, individuallyAckedRanges: st.ackedRanges, partiallyAckedEntries: st.partial.length, messagesBacklog: sub.cursor.backlog(), backlogBytes: (await this.maintenance.backlogOf(sub)).bytes };
    }
    const s = this.ml.stats();
    return {
      entriesAddedCounter: this.msgInCounter, numberOfEntries: s.entries, totalSize: s.bytes, localSize: s.localBytes, offloadedSize: s.offloadedBytes,
      lastConfirmedEntry: s.lastConfirmed, ledgers: this.ml.ledgers(), cursors, offload: this.maintenance.offloadStatus,
      policies: this.maintenance.policies, quotaExceeded: this.maintenance.quotaExceeded ?? null,
      waitingReadsCount: this.waitingReads.size,
    };
  }

  private stats(): PartitionStats {
    const s = this.ml.stats();
    const subscriptions: PartitionStats['subscriptions'] = {};
    for (const sub of this.subscriptions.values()) {
      subscriptions[sub.name] = { type: sub.type, msgBacklog: sub.cursor.backlog(), unackedMessages: sub.unacked(), consumers: sub.consumerStats() };
    }
    let msgOut = 0;
    let bytesOut = 0;
    for (const sub of this.subscriptions.values()) {
      msgOut += sub.msgOutCounter;
      bytesOut += sub.bytesOutCounter;
    }
    return {
      msgInCounter: this.msgInCounter, bytesInCounter: this.bytesInCounter, msgOutCounter: msgOut, bytesOutCounter: bytesOut,
      storageSize: s.bytes, localStorageSize: s.localBytes, offloadedStorageSize: s.offloadedBytes, entries: s.entries, messages: s.messages, ledgers: s.ledgerCount, subscriptions,
      publishers: [...this.producers.keys()],
    };
  }

  /**
   * A client thread went away (closed, or exited): its consumers leave their subscriptions (what
   * they held is redelivered) and its producer names are released.
   */
  detachClient(clientId: number): void {
    for (const s of this.subscriptions.values()) s.removeClient(clientId);
    for (const k of [...this.consumerSubs.keys()]) if (k.startsWith(`${clientId}:`)) this.consumerSubs.delete(k);
    for (const [name, owner] of [...this.producers]) if (owner.startsWith(`${clientId}:`)) this.producers.delete(name);
    // Its long polls have nobody to answer: drop them rather than read for them on the next append.
    for (const w of [...this.waitingReads]) {
      if (w.reply.clientId !== clientId) continue;
      this.unpark(w);
      this.donePolling(w.poll);
    }
  }

  /** Answers what waits (held appends fail, long-poll reads end empty) and stops the timers. */
  private release(why: MillraceError): void {
    this.stopped = true;
    this.stopTimer?.();
    for (const h of this.held) {
      h.cancel();
      h.reply.fail(why);
    }
    this.held = [];
    for (const w of this.waitingReads) {
      w.cancel();
      w.reply.ok(encodeEntries([]));
    }
    this.waitingReads.clear();
    this.polls.clear();
  }

  async stop(): Promise<void> {
    if (this.deleted) return;
    this.release(new MillraceError('CLOSED', `${this.ml.name} stopped while the append was held by its backlog quota`));
    for (const s of this.subscriptions.values()) s.stop();
    // A pass or a cursor write still running would write after the host closes the store, and
    // lmdb-js throws from a write on a closed environment, which kills the worker.
    await this.maintenance.stop();
    await Promise.all([...this.subscriptions.values()].map((s) => s.settled()));
    await this.ml.close();
    await this.dedup.snapshot().catch(() => undefined);
  }
}

/**
 * A read's reply body as parts: the count, then each entry's header and its bytes. The entries go
 * to the ring as they are (see Reply.ok); one buffer holds every header.
 */
function encodeEntries(entries: ReadEntry[]): RecordParts {
  const headers = new Uint8Array(4 + entries.length * READ_ENTRY_HEADER);
  const w = new DataView(headers.buffer);
  w.setUint32(0, entries.length, true);
  if (entries.length === 0) return headers;
  const parts: Uint8Array[] = [];
  let at = 4;
  for (const e of entries) {
    w.setFloat64(at, e.position.ledgerId, true);
    w.setFloat64(at + 8, e.position.entryId, true);
    w.setUint32(at + 16, e.entry.length, true);
    // The count shares the first entry's header part.
    parts.push(headers.subarray(at === 4 ? 0 : at, at + READ_ENTRY_HEADER), e.entry);
    at += READ_ENTRY_HEADER;
  }
  return parts;
}

const factory: ActorFactory = async (ctx: ActorContext, config: unknown) => {
  const c = (config ?? {}) as PartitionActorConfig;
  const ml = await ManagedLedger.open(ctx.store, ctx.name, c.ledger ?? {});
  if (c.tieredStorage) ml.attachTieredStorage(tieredStorageFor(c.tieredStorage, c.offloadCacheBytes ?? DEFAULTS.offloadCacheBytes));
  const dedup = await DedupState.recover(ctx.store, ml);
  const actor = new PartitionActor(ctx, ml, dedup, c.partitionIndex ?? -1, c);
  await actor.start();
  return actor;
};

export default factory;
