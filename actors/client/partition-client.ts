/**
 * The client-thread stub of one partition actor: every op of the partition protocol as a method, and
 * the routing of the actor's events (deliveries) to the consumers of this thread. Producer batches are
 * laid out straight into a claimed ring slot (no intermediate buffer), so one append is one ring
 * record, one WASM seal and one LMDB put on the far side.
 */
import { pack, unpack } from 'msgpackr';
import type { AppendBatch, AppendResult, ReadEntry, ReadRangeOptions, Position } from '../../core/log/index.js';
import { DEFAULTS } from '../../core/defaults.js';
import { MillraceError } from '../../core/errors.js';
import { encodeInto, encodedSize } from '../../wasm/index.js';
import { appendLatency } from '../../core/observability/histogram.js';
import { decodeError, OP_QUIET_REPLY } from '../host/protocol.js';
import type { ActorRef, ActorSystem, BodyWriter } from '../host/actor-system.js';
import type { PartitionActorConfig } from '../partition/partition-actor.js';
import {
  ACK_HEADER, ACK_ITEM, APPEND_REPLY_BYTES, LAST_MESSAGE_REPLY_BYTES, DELIVER_HEADER, DELIVER_ITEM, DELIVER_PARTIAL, ERROR_EVENT_HEADER, EVENT_DELIVER, EVENT_ERROR, EVENT_RESET,
  OP_ACK, OP_APPEND, OP_CLOSE_CONSUMER, OP_FIND_TIME, OP_FLOW, OP_INTERNAL_STATS, OP_LAST_MESSAGE, OP_LAST_POSITION, OP_MAINTAIN, OP_PRODUCER_CLOSE, OP_DELETE, OP_SUBSCRIPTION_ADMIN,
  OP_PRODUCER_OPEN, OP_READ, OP_REDELIVER, OP_SEEK, OP_STATS, OP_SUBSCRIBE, OP_UNSUBSCRIBE,
  READ_ENTRY_HEADER, READ_REQUEST_BYTES, readId, type InternalStats, type PartitionStats, type SubscribeRequest, type SubscriptionAdminRequest,
} from '../partition/partition-protocol.js';
import type { OffloadStatus } from '../partition/maintenance.js';

/** Receives one consumer's events. */
export interface ConsumerSink {
  /**
   * An entry with the batch indexes (and their redelivery counts) given to this consumer. `entry` is a
   * copy; the items are read in place, valid during the call only: `count` times, from `at` in
   * `items`, batchIndex u16 | rsv u16 | redeliveryCount u32 (DELIVER_ITEM bytes each). `partial`:
   * `entry` holds the header and only these messages' records, in the items' order (DELIVER_PARTIAL).
   */
  deliver(ledgerId: number, entryId: number, entry: Uint8Array, items: DataView, at: number, count: number, partial: boolean): void;
  /** The subscription was moved (seek): drop what is buffered and grant permits again. */
  reset(): void;
  /** Grants the permits a partition whose actor restarted has lost (after the new SUBSCRIBE). */
  regrant(): Promise<void>;
  /** The subscription cannot dispatch (e.g. an entry it must read is corrupt). */
  error(err: MillraceError): void;
}

/** One message to ack or give back. */
export interface AckItem {
  ledgerId: number;
  entryId: number;
  batchIndex: number;
  batchSize: number;
  cumulative: boolean;
}

/**
 * Messages to ack or give back, laid out as the items of an ACK / REDELIVER request
 * (partition-protocol.ts) as they are added: sending them is one copy into the ring slot, and an
 * added message costs no object. The buffer doubles when full.
 */
export class AckItems {
  private bytes: Uint8Array;
  private view: DataView;
  count = 0;

  constructor(capacity = 64) {
    this.bytes = new Uint8Array(capacity * ACK_ITEM);
    this.view = new DataView(this.bytes.buffer);
  }

  add(ledgerId: number, entryId: number, batchIndex: number, batchSize: number, cumulative: boolean): void {
    if ((this.count + 1) * ACK_ITEM > this.bytes.length) {
      const next = new Uint8Array(this.bytes.length * 2);
      next.set(this.bytes);
      this.bytes = next;
      this.view = new DataView(next.buffer);
    }
    const v = this.view;
    const o = this.count * ACK_ITEM;
    v.setFloat64(o, ledgerId, true);
    v.setFloat64(o + 8, entryId, true);
    v.setUint16(o + 16, batchIndex, true);
    v.setUint16(o + 18, batchSize, true);
    v.setUint8(o + 20, cumulative ? 1 : 0);
    this.count++;
  }

  /** Empties the list for reuse (its buffer is kept). */
  reset(): void {
    this.count = 0;
  }

  /** The items laid out so far. */
  get laidOut(): Uint8Array {
    return this.bytes.subarray(0, this.count * ACK_ITEM);
  }
}

/** An append's reply, read in place from `v` at `at` (see ReplyDecoder): the entry's position and figures. */
function appendResult(v: DataView, at: number, length: number, bytes: number): AppendResult {
  if (length !== APPEND_REPLY_BYTES) throw new MillraceError('INVALID_ARGUMENT', `append reply of ${length} bytes`);
  return {
    position: { ledgerId: readId(v, at), entryId: readId(v, at + 8) },
    publishTime: v.getFloat64(at + 16, true),
    bytes,
    count: v.getUint32(at + 24, true),
  };
}

export class PartitionClient {
  private readonly sinks = new Map<number, ConsumerSink>();
  private unlisten: (() => void) | undefined;

  private constructor(private readonly system: ActorSystem, readonly ref: ActorRef) {}

  /** Spawns the partition actor for the managed ledger `name`. */
  static async spawn(system: ActorSystem, name: string, config: PartitionActorConfig = {}): Promise<PartitionClient> {
    return new PartitionClient(system, await system.spawn('partition', name, config));
  }

  /** Appends one batch; resolves once it is durable. A batch dropped by deduplication resolves with position (-1, -1). */
  // Async: a malformed batch (encodedSize throws) rejects rather than throws.
  async append(batch: AppendBatch): Promise<AppendResult> {
    const frame = { publishTime: 0, producerName: batch.producerName ?? null, messages: batch.messages };
    const size = encodedSize(frame);
    return this.appendWith(size, (bytes, offset) => encodeInto(frame, bytes, offset));
  }

  /**
   * Appends one entry laid out by the client (encodeInto's layout: publish time and checksum 0, the
   * partition seals it); resolves once it is durable, as {@link append}. `entry` is copied into the
   * ring slot in one move and is not kept.
   */
  appendEntry(entry: Uint8Array): Promise<AppendResult> {
    return this.appendWith(entry.length, (bytes, offset) => bytes.set(entry, offset));
  }

  // Not async, and the reply read in place where it lands (no copy of it, no promise chained to
  // read it): a producer that sends each message alone appends once per message.
  private appendWith(size: number, write: BodyWriter): Promise<AppendResult> {
    const t0 = performance.now();
    return this.system.request(this.ref, OP_APPEND, size, write, (v, at, length) => {
      appendLatency.record((performance.now() - t0) / 1000);
      return appendResult(v, at, length, size);
    });
  }

  /**
   * Reads durable entries from `from` on; with `waitMs`, waits that long for the next append when
   * there is none. `pollKey` (non-zero, unique per reader on this thread) names the reader: its
   * next long poll ends this one at once, empty.
   */
  async readRange(from: Position, options: ReadRangeOptions & { waitMs?: number; pollKey?: number } = {}): Promise<ReadEntry[]> {
    const longPoll = (options.waitMs ?? 0) > 0;
    const request = this.system.request(this.ref, OP_READ, READ_REQUEST_BYTES, (bytes, offset) => {
      const v = new DataView(bytes.buffer, bytes.byteOffset + offset, READ_REQUEST_BYTES);
      v.setFloat64(0, from.ledgerId, true);
      v.setFloat64(8, from.entryId, true);
      v.setUint32(16, options.maxEntries ?? DEFAULTS.readMaxEntries, true);
      v.setUint32(20, Math.min(options.maxBytes ?? DEFAULTS.readMaxBytes, 0xffffffff), true);
      v.setUint32(24, Math.max(0, Math.min(options.waitMs ?? 0, 0xffffffff)), true);
      v.setUint32(28, (options.pollKey ?? 0) >>> 0, true);
    });
    // A long poll may wait for an append that never comes: closing the system need not wait for it.
    const reply = longPoll ? await this.system.parked(request) : await request;
    const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
    const count = v.getUint32(0, true);
    const out: ReadEntry[] = [];
    let at = 4;
    for (let i = 0; i < count; i++) {
      const position = { ledgerId: readId(v, at), entryId: readId(v, at + 8) };
      const length = v.getUint32(at + 16, true);
      out.push({ position, entry: reply.subarray(at + READ_ENTRY_HEADER, at + READ_ENTRY_HEADER + length) });
      at += READ_ENTRY_HEADER + length;
    }
    return out;
  }

  async stats(): Promise<PartitionStats> {
    return unpack(await this.system.request(this.ref, OP_STATS, 0, () => undefined)) as PartitionStats;
  }

  /** Runs a housekeeping pass now (policies re-read; with offloadNow, every sealed ledger offloaded). */
  async maintain(options: { offloadNow?: boolean; light?: boolean } = {}): Promise<OffloadStatus> {
    return unpack(await this.msgpackOp(OP_MAINTAIN, options)) as OffloadStatus;
  }

  /** Resets, skips or clears a subscription (admin). */
  async subscriptionAdmin(req: SubscriptionAdminRequest): Promise<void> {
    await this.msgpackOp(OP_SUBSCRIPTION_ADMIN, req);
  }

  /** Deletes the partition's data; TOPIC_BUSY with clients connected unless `force`. */
  async deleteData(force: boolean): Promise<void> {
    await this.msgpackOp(OP_DELETE, { force });
  }

  async internalStats(): Promise<InternalStats> {
    return unpack(await this.system.request(this.ref, OP_INTERNAL_STATS, 0, () => undefined)) as InternalStats;
  }

  private async msgpackOp(op: number, value: unknown): Promise<Uint8Array> {
    const body = pack(value);
    return this.system.request(this.ref, op, body.length, (bytes, offset) => bytes.set(body, offset));
  }

  /**
   * Registers a named producer; resolves with the last sequence ID persisted for that name (-1: none).
   * `producerId` tells apart producers of one client thread: a second producer of the same name is
   * PRODUCER_BUSY whichever thread it is on.
   */
  async producerOpen(name: string, producerId: number): Promise<number> {
    return (unpack(await this.msgpackOp(OP_PRODUCER_OPEN, { name, producerId })) as { lastSequenceId: number }).lastSequenceId;
  }

  async producerClose(name: string, producerId: number): Promise<void> {
    await this.msgpackOp(OP_PRODUCER_CLOSE, { name, producerId });
  }

  async subscribe(req: SubscribeRequest, sink: ConsumerSink): Promise<void> {
    this.sinks.set(req.consumerId, sink);
    this.unlisten ??= this.system.onEvent(this.ref, (body) => this.onEvent(body));
    try {
      await this.msgpackOp(OP_SUBSCRIBE, req);
    } catch (err) {
      this.dropSink(req.consumerId);
      throw err;
    }
  }

  private dropSink(consumerId: number): void {
    this.sinks.delete(consumerId);
    if (this.sinks.size === 0 && this.unlisten) {
      this.unlisten();
      this.unlisten = undefined;
    }
  }

  private onEvent(body: Uint8Array): void {
    const v = new DataView(body.buffer, body.byteOffset, body.length);
    const kind = v.getUint8(0);
    const sink = this.sinks.get(v.getUint32(4, true));
    if (!sink) return;
    if (kind === EVENT_RESET) return sink.reset();
    if (kind === EVENT_ERROR) return sink.error(decodeError(body.subarray(ERROR_EVENT_HEADER)));
    if (kind !== EVENT_DELIVER) return;
    const count = v.getUint16(2, true);
    const entryAt = DELIVER_HEADER + count * DELIVER_ITEM;
    // Copy the entry out of the ring: the consumer keeps its messages after this call returns.
    const partial = (v.getUint8(1) & DELIVER_PARTIAL) !== 0;
    sink.deliver(readId(v, 8), readId(v, 16), body.slice(entryAt), v, DELIVER_HEADER, count, partial);
  }

  /**
   * Grants `permits` more messages to consumer `consumerId`. `quiet`: the caller does not wait for
   * the reply, which then does not wake this thread if it is parked (OP_QUIET_REPLY).
   */
  flow(consumerId: number, permits: number, quiet = false): Promise<unknown> {
    return this.system.request(this.ref, quiet ? OP_FLOW | OP_QUIET_REPLY : OP_FLOW, 8, (bytes, offset) => {
      const v = new DataView(bytes.buffer, bytes.byteOffset + offset, 8);
      v.setUint32(0, consumerId, true);
      v.setUint32(4, permits, true);
    });
  }

  /**
   * Acks (op ACK) or gives back (op REDELIVER) messages; resolves once the cursor change is durable.
   * `items` is not kept: it is copied into the request (now, or when the ring has room).
   */
  private ackOp(op: number, consumerId: number, items: AckItems): Promise<unknown> {
    const body = items.laidOut;
    const count = items.count;
    const length = ACK_HEADER + body.length;
    return this.system.request(this.ref, op, length, (bytes, offset) => {
      const v = new DataView(bytes.buffer, bytes.byteOffset + offset, ACK_HEADER);
      v.setUint32(0, consumerId, true);
      v.setUint32(4, count, true);
      bytes.set(body, offset + ACK_HEADER);
    });
  }

  /** Acks messages; resolves once durable. The caller must not add to `items` after this call. */
  ack(consumerId: number, items: AckItems): Promise<unknown> {
    return this.ackOp(OP_ACK, consumerId, items);
  }

  redeliver(consumerId: number, items: readonly AckItem[]): Promise<unknown> {
    const packed = new AckItems(items.length);
    for (const it of items) packed.add(it.ledgerId, it.entryId, it.batchIndex, it.batchSize, it.cumulative);
    return this.ackOp(OP_REDELIVER, consumerId, packed);
  }

  async closeConsumer(consumerId: number, unsubscribe: boolean): Promise<void> {
    try {
      await this.system.request(this.ref, unsubscribe ? OP_UNSUBSCRIBE : OP_CLOSE_CONSUMER, 4, (bytes, offset) => {
        new DataView(bytes.buffer, bytes.byteOffset + offset, 4).setUint32(0, consumerId, true);
      });
    } finally {
      if (!unsubscribe) this.dropSink(consumerId);
    }
    if (unsubscribe) this.dropSink(consumerId);
  }

  async seek(consumerId: number, target: { position?: Position; batchIndex?: number; publishTimeMs?: number }): Promise<void> {
    await this.msgpackOp(OP_SEEK, { consumerId, ...target.position, batchIndex: target.batchIndex, publishTimeMs: target.publishTimeMs });
  }

  private async positionOp(op: number, length: number, write: (v: DataView) => void): Promise<Position | undefined> {
    const reply = await this.system.request(this.ref, op, length, (bytes, offset) => write(new DataView(bytes.buffer, bytes.byteOffset + offset, length)));
    const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
    const p = { ledgerId: readId(v, 0), entryId: readId(v, 8) };
    return p.ledgerId < 0 ? undefined : p;
  }

  /** Ends the long poll of reader `pollKey` parked at the partition, if any (the reader is closing). */
  async endPoll(pollKey: number): Promise<void> {
    await this.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 0, pollKey });
  }

  /** The first entry published at or after `publishTimeMs`, or undefined. */
  findByTime(publishTimeMs: number): Promise<Position | undefined> {
    return this.positionOp(OP_FIND_TIME, 8, (v) => v.setFloat64(0, publishTimeMs, true));
  }

  /** The last confirmed entry, or undefined while the partition is empty. */
  lastPosition(): Promise<Position | undefined> {
    return this.positionOp(OP_LAST_POSITION, 0, () => undefined);
  }

  /**
   * The last confirmed entry and the batch index of its last message (-1 when retention deleted the
   * entry meanwhile), or undefined while the partition is empty.
   */
  async lastMessage(): Promise<{ position: Position; batchIndex: number } | undefined> {
    const reply = await this.system.request(this.ref, OP_LAST_MESSAGE, 0, () => undefined);
    if (reply.length !== LAST_MESSAGE_REPLY_BYTES) throw new MillraceError('INVALID_ARGUMENT', `last-message reply of ${reply.length} bytes`);
    const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
    const position = { ledgerId: readId(v, 0), entryId: readId(v, 8) };
    return position.ledgerId < 0 ? undefined : { position, batchIndex: v.getInt32(16, true) };
  }
}
