/**
 * The partition actor: one topic partition. It owns the partition's managed ledger, its producer
 * deduplication state and its subscriptions, and answers the partition protocol
 * (./partition-protocol.ts). Appends arrive as whole laid-out batches over the ring; the durable
 * position goes back, and subscriptions are told there is more to dispatch. It keeps nothing that
 * the ledger and the cursors do not also hold, so a restart anywhere recovers it from LMDB.
 */
import { pack, unpack } from 'msgpackr';
import { ManagedLedger, type ManagedLedgerOptions, type Position, type ReadEntry } from '../../core/log/index.js';
import { MillraceError } from '../../core/errors.js';
import { decodeEntry, jsFramer } from '../../wasm/index.js';
import type { Actor, ActorContext, ActorFactory, Reply } from '../host/actor.js';
import { DedupState } from './dedup.js';
import { Subscription } from './subscription.js';
import {
  ACK_HEADER, ACK_ITEM, APPEND_REPLY_BYTES, OP_ACK, OP_APPEND, OP_CLOSE_CONSUMER, OP_FIND_TIME, OP_FLOW,
  OP_LAST_POSITION, OP_PRODUCER_CLOSE, OP_PRODUCER_OPEN, OP_READ, OP_REDELIVER, OP_SEEK, OP_STATS,
  OP_SUBSCRIBE, OP_UNSUBSCRIBE, READ_ENTRY_HEADER, READ_REQUEST_BYTES,
  type PartitionStats, type SubscribeRequest,
} from './partition-protocol.js';

/** What a partition actor is spawned with. */
export interface PartitionActorConfig {
  ledger?: Omit<ManagedLedgerOptions, 'now'>;
  /** Index of this partition in its topic, -1 for a non-partitioned topic. */
  partitionIndex?: number;
}

// Replies must fit a ring record (1/8 of a 4 MiB ring by default) or fall back to the control port.
const READ_MAX_BYTES_CAP = 448 * 1024;
const READ_MAX_WAIT_MS = 60_000;

interface WaitingRead {
  from: Position;
  maxEntries: number;
  maxBytes: number;
  reply: Reply;
  cancel: () => void;
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
  private msgInCounter = 0;
  private bytesInCounter = 0;

  constructor(
    private readonly ctx: ActorContext,
    private readonly ml: ManagedLedger,
    private readonly dedup: DedupState,
    private readonly partitionIndex: number,
  ) {}

  handle(op: number, body: Uint8Array, reply: Reply): void {
    switch (op) {
      case OP_APPEND: return this.append(body, reply);
      case OP_READ: return this.read(body, reply);
      case OP_STATS: return reply.ok(pack(this.stats()));
      case OP_PRODUCER_OPEN: return this.producerOpen(body, reply);
      case OP_PRODUCER_CLOSE: {
        const { name, producerId } = unpack(body) as { name: string; producerId: number };
        if (this.producers.get(name) === `${reply.clientId}:${producerId}`) this.producers.delete(name);
        return reply.ok();
      }
      case OP_SUBSCRIBE: return void this.subscribe(unpack(body) as SubscribeRequest, reply).catch((e: unknown) => reply.fail(e));
      case OP_FLOW: {
        const v = new DataView(body.buffer, body.byteOffset, body.length);
        const found = this.consumer(reply.clientId, v.getUint32(0, true));
        if (found) found.sub.addPermits(found.slot, v.getUint32(4, true));
        return reply.ok();
      }
      case OP_ACK:
      case OP_REDELIVER: return void this.acks(op, body, reply).catch((e: unknown) => reply.fail(e));
      case OP_CLOSE_CONSUMER:
      case OP_UNSUBSCRIBE: return void this.closeConsumer(op, body, reply).catch((e: unknown) => reply.fail(e));
      case OP_SEEK: return void this.seek(unpack(body) as { consumerId: number; ledgerId?: number; entryId?: number; publishTimeMs?: number }, reply).catch((e: unknown) => reply.fail(e));
      case OP_FIND_TIME: {
        const t = new DataView(body.buffer, body.byteOffset, body.length).getFloat64(0, true);
        this.ml.findByTime(t).then((p) => reply.ok(positionReply(p)), (e: unknown) => reply.fail(e));
        return;
      }
      case OP_LAST_POSITION: return reply.ok(positionReply(this.ml.lastConfirmed));
      default:
        reply.fail(new MillraceError('INVALID_ARGUMENT', `partition actor has no op ${op}`));
    }
  }

  private append(body: Uint8Array, reply: Reply): void {
    // Copy out of the ring slot now: it is reused when this call returns, and lmdb-js would store a
    // SharedArrayBuffer view as garbage anyway.
    let entry: Uint8Array = Buffer.from(body);
    if (entry.length < 32) return reply.fail(new MillraceError('INVALID_ARGUMENT', `an entry is at least 32 bytes, got ${entry.length}`));
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
      const out = new Uint8Array(APPEND_REPLY_BYTES);
      const v = new DataView(out.buffer);
      v.setFloat64(0, r.position.ledgerId, true);
      v.setFloat64(8, r.position.entryId, true);
      v.setFloat64(16, r.publishTime, true);
      v.setUint32(24, r.count, true);
      reply.ok(out);
      this.onAppended();
    }, (err: unknown) => {
      this.dedup.reject(entry);
      reply.fail(err);
    });
  }

  private onAppended(): void {
    for (const s of this.subscriptions.values()) s.pump();
    for (const w of [...this.waitingReads]) {
      this.waitingReads.delete(w);
      w.cancel();
      this.serveRead(w.from, w.maxEntries, w.maxBytes, 0, w.reply);
    }
  }

  private read(body: Uint8Array, reply: Reply): void {
    if (body.length !== READ_REQUEST_BYTES) return reply.fail(new MillraceError('INVALID_ARGUMENT', `a read request is ${READ_REQUEST_BYTES} bytes, got ${body.length}`));
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    const from = { ledgerId: v.getFloat64(0, true), entryId: v.getFloat64(8, true) };
    const maxEntries = v.getUint32(16, true);
    const maxBytes = Math.min(v.getUint32(20, true), READ_MAX_BYTES_CAP);
    const waitMs = Math.min(v.getUint32(24, true), READ_MAX_WAIT_MS);
    this.serveRead(from, maxEntries, maxBytes, waitMs, reply);
  }

  private serveRead(from: Position, maxEntries: number, maxBytes: number, waitMs: number, reply: Reply): void {
    this.ml.readRange(from, { maxEntries, maxBytes }).then((entries) => {
      if (entries.length === 0 && waitMs > 0) {
        const w: WaitingRead = { from, maxEntries, maxBytes, reply, cancel: () => undefined };
        w.cancel = this.ctx.setTimer(waitMs, () => {
          this.waitingReads.delete(w);
          reply.ok(encodeEntries([]));
        });
        this.waitingReads.add(w);
        return;
      }
      reply.ok(encodeEntries(entries));
    }, (err: unknown) => reply.fail(err));
  }

  private producerOpen(body: Uint8Array, reply: Reply): void {
    const { name, producerId } = unpack(body) as { name: string; producerId: number };
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

  private async acks(op: number, body: Uint8Array, reply: Reply): Promise<void> {
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    const consumerId = v.getUint32(0, true);
    const count = v.getUint32(4, true);
    if (body.length !== ACK_HEADER + count * ACK_ITEM) throw new MillraceError('INVALID_ARGUMENT', 'malformed ack request');
    const found = this.consumer(reply.clientId, consumerId);
    if (!found) throw new MillraceError('CLOSED', `consumer ${consumerId} is not subscribed to ${this.ml.name}`);
    const items = [];
    for (let i = 0, o = ACK_HEADER; i < count; i++, o += ACK_ITEM) {
      items.push({
        ref: { position: { ledgerId: v.getFloat64(o, true), entryId: v.getFloat64(o + 8, true) }, batchIndex: v.getUint16(o + 16, true), key: null },
        batchSize: v.getUint16(o + 18, true),
        cumulative: v.getUint8(o + 20) === 1,
      });
    }
    if (op === OP_ACK) await found.sub.ack(found.slot, items);
    else await found.sub.redeliver(found.slot, items.map((i) => i.ref));
    reply.ok();
  }

  private async closeConsumer(op: number, body: Uint8Array, reply: Reply): Promise<void> {
    const consumerId = new DataView(body.buffer, body.byteOffset, body.length).getUint32(0, true);
    const found = this.consumer(reply.clientId, consumerId);
    if (!found) return reply.ok();
    if (op === OP_UNSUBSCRIBE && found.sub.consumerCount > 1) {
      throw new MillraceError('INVALID_ARGUMENT', `subscription ${found.sub.name} has other connected consumers; close them before unsubscribing`);
    }
    found.sub.removeConsumer(found.slot);
    this.consumerSubs.delete(`${reply.clientId}:${consumerId}`);
    if (op === OP_UNSUBSCRIBE) {
      this.subscriptions.delete(found.sub.name);
      found.sub.stop();
      await found.sub.delete();
    }
    reply.ok();
  }

  private async seek(req: { consumerId: number; ledgerId?: number; entryId?: number; publishTimeMs?: number }, reply: Reply): Promise<void> {
    const found = this.consumer(reply.clientId, req.consumerId);
    if (!found) throw new MillraceError('CLOSED', `consumer ${req.consumerId} is not subscribed to ${this.ml.name}`);
    let target: Position;
    if (typeof req.publishTimeMs === 'number') {
      const last = this.ml.lastConfirmed;
      target = (await this.ml.findByTime(req.publishTimeMs)) ?? (last ? { ledgerId: last.ledgerId, entryId: last.entryId + 1 } : { ledgerId: 0, entryId: 0 });
    } else {
      target = { ledgerId: Math.max(0, req.ledgerId ?? 0), entryId: Math.max(0, req.entryId ?? 0) };
    }
    await found.sub.seek(target);
    reply.ok();
    found.sub.pump();
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
      storageSize: s.bytes, entries: s.entries, messages: s.messages, ledgers: s.ledgerCount, subscriptions,
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
  }

  async stop(): Promise<void> {
    for (const w of this.waitingReads) w.cancel();
    this.waitingReads.clear();
    for (const s of this.subscriptions.values()) s.stop();
    await this.ml.close();
    await this.dedup.snapshot().catch(() => undefined);
  }
}

function encodeEntries(entries: ReadEntry[]): Uint8Array {
  const size = 4 + entries.reduce((n, e) => n + READ_ENTRY_HEADER + e.entry.length, 0);
  const out = new Uint8Array(size);
  const w = new DataView(out.buffer);
  w.setUint32(0, entries.length, true);
  let at = 4;
  for (const e of entries) {
    w.setFloat64(at, e.position.ledgerId, true);
    w.setFloat64(at + 8, e.position.entryId, true);
    w.setUint32(at + 16, e.entry.length, true);
    out.set(e.entry, at + READ_ENTRY_HEADER);
    at += READ_ENTRY_HEADER + e.entry.length;
  }
  return out;
}

const factory: ActorFactory = async (ctx: ActorContext, config: unknown) => {
  const c = (config ?? {}) as PartitionActorConfig;
  const ml = await ManagedLedger.open(ctx.store, ctx.name, c.ledger ?? {});
  const dedup = await DedupState.recover(ctx.store, ml);
  return new PartitionActor(ctx, ml, dedup, c.partitionIndex ?? -1);
};

export default factory;
