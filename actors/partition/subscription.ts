/**
 * One subscription of a partition: its durable cursor, its dispatcher (the subscription type's
 * rules) and its connected consumers. It reads entries from the ledger at its read position, offers
 * their unacked messages (returned ones first) to the dispatcher, and pushes what is assigned to each
 * consumer's client thread as DELIVER events: one event per entry per consumer, carrying the entry and
 * the batch indexes that consumer was given (batch-index dispatch: siblings of a message may go to
 * other consumers, and a redelivery sends only the messages concerned).
 */
import type { ManagedLedger, Position, ReadEntry } from '../../core/log/index.js';
import { comparePositions } from '../../core/log/index.js';
import { ManagedCursor } from '../../core/cursor/index.js';
import { createDispatcher, checkSubscriptionType, type Dispatcher, type MessageRef, type SubscriptionType } from '../../core/dispatch/index.js';
import { MillraceError } from '../../core/errors.js';
import type { Store } from '../../core/storage/store.js';
import {
  ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, MSG_HAS_DELIVER_AT, MSG_HAS_EVENT_TIME, MSG_HAS_KEY, OFF_COUNT, OFF_PRODUCER_LEN,
} from '../../wasm/index.js';
import type { ActorContext } from '../host/actor.js';
import { ACK_ITEM, readId, DELIVER_HEADER, DELIVER_ITEM, DELIVER_PARTIAL, ERROR_EVENT_HEADER, EVENT_DELIVER, EVENT_ERROR, EVENT_RESET } from './partition-protocol.js';
import { encodeError } from '../host/protocol.js';
import { entryCount } from '../../wasm/index.js';

interface ConsumerConn {
  slot: number;
  clientId: number;
  consumerId: number;
  name: string;
  /** Kept so a seek re-adds the consumer with it (failover picks the active consumer by priority). */
  priority: number;
}

/**
 * A message read and not yet acked. `entry` is the bytes of its entry as read (shared by the entry's
 * messages, as is `position`), so delivery sends them without reading the entry again. Every ref
 * the dispatcher hands back is one of these (it returns the objects it was offered).
 */
interface Offer extends MessageRef {
  deliverAt: number;
  entry: Uint8Array;
  /** Where the message's record starts in `entry`. */
  at: number;
}

// Messages read ahead of what consumers can take: bounds the actor's memory (G9 on the broker side).
const READ_AHEAD_MESSAGES = 2_000;
// At most one ERROR event a second per subscription: a corrupt entry fails every dispatch attempt.
const ERROR_EVENT_INTERVAL_MS = 1_000;
// Entries read per pass.
const READ_BATCH_ENTRIES = 64;

const inOrder = (a: MessageRef, b: MessageRef): boolean =>
  a.position.ledgerId < b.position.ledgerId ||
  (a.position.ledgerId === b.position.ledgerId &&
    (a.position.entryId < b.position.entryId || (a.position.entryId === b.position.entryId && a.batchIndex < b.batchIndex)));
const compareOffers = (a: MessageRef, b: MessageRef): number => comparePositions(a.position, b.position) || a.batchIndex - b.batchIndex;

/** The end of the run of refs from `i` that are messages of one entry. */
function entryEnd(refs: readonly Offer[], i: number): number {
  const p = refs[i]!.position;
  let j = i + 1;
  // Offers of one entry read together share its position object; one read again (after a seek)
  // has its own, so compare by value too.
  while (j < refs.length && (refs[j]!.position === p || (refs[j]!.position.ledgerId === p.ledgerId && refs[j]!.position.entryId === p.entryId))) j++;
  return j;
}

/** `a` then `b`, each in log order, merged into one list in log order (no sort when they do not interleave). */
function mergeOffers(a: Offer[], b: Offer[]): Offer[] {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  if (inOrder(a[a.length - 1]!, b[0]!)) return a.concat(b);
  return a.concat(b).sort(compareOffers);
}

/** `xs` in log order (sorted in place only when it is not). */
function sortOffers(xs: Offer[]): Offer[] {
  for (let i = 1; i < xs.length; i++) if (!inOrder(xs[i - 1]!, xs[i]!)) return xs.sort(compareOffers);
  return xs;
}

const posKey = (p: Position): string => `${p.ledgerId}:${p.entryId}`;
const latin1 = (b: Uint8Array, from: number, to: number): string => Buffer.from(b.buffer, b.byteOffset + from, to - from).toString('latin1');
const TWO_32 = 2 ** 32;
const u32 = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
// Records up to this size are copied by a loop: TypedArray#set costs a call and a view (wasm/copy.ts).
const LOOP_COPY_MAX = 256;

/**
 * Writes the entry's header and name, then the records of `refs[from..from+n)` (each offer's `at`
 * set), to `out` at `to`: the body of a DELIVER_PARTIAL event. Adjacent records go in one copy.
 */
function copyRecords(entry: Uint8Array, refs: Offer[], from: number, n: number, out: Uint8Array, to: number): void {
  const head = ENTRY_HEADER_SIZE + (entry[OFF_PRODUCER_LEN]! | (entry[OFF_PRODUCER_LEN + 1]! << 8));
  out.set(entry.subarray(0, head), to);
  let o = to + head;
  for (let k = from; k < from + n;) {
    const start = refs[k]!.at;
    let end = start + u32(entry, start);
    // A run of records that follow each other in the entry (consecutive batch indexes).
    while (++k < from + n && refs[k]!.at === end) end += u32(entry, end);
    const len = end - start;
    if (len <= LOOP_COPY_MAX) {
      for (let i = 0; i < len; i++) out[o + i] = entry[start + i]!;
    } else {
      out.set(entry.subarray(start, end), o);
    }
    o += len;
  }
}
const corrupt = (p: Position, why: string): MillraceError => new MillraceError('ENTRY_CORRUPT', `entry ${posKey(p)}: ${why}`);

export class Subscription {
  readonly dispatcher: Dispatcher;
  private readonly consumers = new Map<number, ConsumerConn>();
  private readonly bySlotKey = new Map<string, number>();
  private nextSlot = 1;
  /** The next entry to read from the ledger. */
  private readPosition: Position;
  /** Messages given back (nack, timeout, consumer gone), offered again before newer ones. */
  private returned: Offer[] = [];
  /**
   * Messages read and not assigned (no permits, blocked key), in log order, all before the read
   * position. For the in-order types only a prefix is offered (see Dispatcher.capacity), so this is
   * also where read-ahead waits.
   */
  private held: Offer[] = [];
  /**
   * `held[heldFrom..]` is what is held: a pump that assigns a prefix moves this index instead of
   * copying the rest (up to READ_AHEAD_MESSAGES offers, at every pump); see keepHeld.
   */
  private heldFrom = 0;
  /**
   * No message after this position was ever acked (cursor state at open or seek, then every ack
   * since): entries read past it need no per-message isAcked, which costs an LMDB lookup each.
   */
  private ackFrontier: Position = { ledgerId: -1, entryId: -1 };
  /**
   * No message after this position has a redelivery count: counts come from giveBack (tracked
   * here) or from before the open (all at or before the last entry then).
   */
  private countFrontier: Position = { ledgerId: -1, entryId: -1 };
  /** Shared, Exclusive, Failover: the dispatcher assigns offers strictly in order (Dispatcher.capacity). */
  private readonly ordered: boolean;
  /** Delayed messages, by the time they may go (Shared and Key_Shared only, as in Pulsar). */
  private delayed: Offer[] = [];
  private delayTimer: (() => void) | undefined;
  private pumping = false;
  private again = false;
  /**
   * Seeks resetting the subscription (two consumers may seek at once): while any is, pump() only
   * notes that it is wanted. A pump runs across awaits (an entry read, a delivery) with offers in
   * hand and the read position to move; a seek in between had those offers dispatched after it,
   * and the position overwritten, so one message was offered twice (found by the messaging model:
   * send, seek, seek on Failover).
   */
  private seeking = 0;
  /** Told when the running pump ends (a seek waits for it). */
  private pumpEnded: (() => void)[] = [];
  /**
   * Something that can change a dispatch decision happened (permits, acks, consumers, redeliveries).
   * Without it, held messages stay held: a pump after a mere append skips re-offering them, which
   * would otherwise cost O(held) per append.
   */
  private dirty = true;
  /** Messages per entry read, averaged (sizes readMore's reads in messages, not entries); 0 before the first. */
  private messagesPerEntry = 0;
  /** When the last ERROR event went out (reportError). */
  private lastErrorAt = 0;
  /** Messages and bytes delivered to consumers (stats). */
  msgOutCounter = 0;
  bytesOutCounter = 0;

  private constructor(
    private readonly ctx: ActorContext,
    private readonly ml: ManagedLedger,
    readonly name: string,
    readonly type: SubscriptionType,
    readonly cursor: ManagedCursor,
    partitionIndex: number,
  ) {
    this.dispatcher = createDispatcher(type, { partitionIndex });
    this.ordered = type !== 'key_shared';
    this.readPosition = cursor.firstUnacked() ?? this.afterEnd();
    this.countFrontier = ml.lastConfirmed ?? { ledgerId: -1, entryId: -1 };
    this.resetAckFrontier();
  }

  private resetAckFrontier(): void {
    const st = this.cursor.ackState();
    let f = st.markDelete;
    for (const r of st.ackedRanges) if (comparePositions(r.to, f) > 0) f = r.to;
    for (const p of st.partial) if (comparePositions(p.position, f) > 0) f = p.position;
    this.ackFrontier = { ledgerId: f.ledgerId, entryId: f.entryId };
  }

  private ackedAt(p: Position): void {
    // A copy: acks pass one position object that is rewritten for every item.
    if (comparePositions(p, this.ackFrontier) > 0) this.ackFrontier = { ledgerId: p.ledgerId, entryId: p.entryId };
  }

  static async open(ctx: ActorContext, store: Store, ml: ManagedLedger, name: string, type: SubscriptionType,
    initialPosition: 'earliest' | 'latest', partitionIndex: number): Promise<Subscription> {
    const cursor = await ManagedCursor.open(store, ml, name, { initialPosition });
    return new Subscription(ctx, ml, name, type, cursor, partitionIndex);
  }

  private afterEnd(): Position {
    const last = this.ml.lastConfirmed;
    return last ? { ledgerId: last.ledgerId, entryId: last.entryId + 1 } : { ledgerId: 0, entryId: 0 };
  }

  /** Connects a consumer (type conflicts and exclusivity are the dispatcher's rules). */
  addConsumer(clientId: number, consumerId: number, name: string, priority: number, type: SubscriptionType): void {
    if (type !== this.dispatcher.type) checkSubscriptionType(this.dispatcher, type);
    const key = `${clientId}:${consumerId}`;
    if (this.bySlotKey.has(key)) throw new MillraceError('INVALID_ARGUMENT', `consumer ${consumerId} is already subscribed`);
    const slot = this.nextSlot++;
    this.dispatcher.addConsumer({ id: slot, name, priority });
    this.dirty = true;
    this.consumers.set(slot, { slot, clientId, consumerId, name, priority });
    this.bySlotKey.set(key, slot);
  }

  /** The slot of a client's consumer, or undefined. */
  slotOf(clientId: number, consumerId: number): number | undefined {
    return this.bySlotKey.get(`${clientId}:${consumerId}`);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  /** Disconnects a consumer: what it held goes back for redelivery, with its count raised. */
  removeConsumer(slot: number): void {
    this.dirty = true;
    const c = this.consumers.get(slot);
    if (!c) return;
    this.consumers.delete(slot);
    this.bySlotKey.delete(`${c.clientId}:${c.consumerId}`);
    const back = this.dispatcher.removeConsumer(slot);
    this.giveBack(back);
    this.pump();
  }

  /** Removes every consumer of a client thread that went away. */
  removeClient(clientId: number): void {
    for (const c of [...this.consumers.values()]) if (c.clientId === clientId) this.removeConsumer(c.slot);
  }

  addPermits(slot: number, n: number): void {
    this.dirty = true;
    this.dispatcher.addPermits(slot, n);
    this.pump();
  }

  private giveBack(refs: readonly MessageRef[]): void {
    for (const r of refs) {
      if (this.cursor.isAcked(r.position, r.batchIndex)) {
        this.dispatcher.onAck(0, r);
        continue;
      }
      this.cursor.incrementRedeliveryCount(r.position, r.batchIndex);
      if (comparePositions(r.position, this.countFrontier) > 0) this.countFrontier = r.position;
      this.returned.push({ ...(r as Offer), deliverAt: 0 });
    }
  }

  /** Nack / ack timeout: the consumer gives messages back; their redelivery counts go up (durably). */
  async redeliver(slot: number, refs: MessageRef[]): Promise<void> {
    this.dirty = true;
    const back = this.dispatcher.release(slot, refs);
    this.giveBack(back);
    await this.cursor.persist();
    this.pump();
  }

  /**
   * Acks from a consumer, as an ACK request lays them out (partition-protocol.ts: `count` items of
   * ACK_ITEM bytes from `at` in `v`; read during this call only). Individual acks on any type;
   * cumulative only on Exclusive and Failover (the dispatcher refuses it on Shared and Key_Shared
   * with ACK_INVALID). Resolves once durable.
   */
  async ack(slot: number, v: DataView, at: number, count: number): Promise<void> {
    this.dirty = true;
    this.cursor.batch(() => this.applyAcks(slot, v, at, count));
    await this.cursor.persist();
    this.pump();
  }

  private applyAcks(slot: number, v: DataView, at: number, count: number): void {
    const last = this.ml.lastConfirmed;
    // One ref for every item: neither the dispatcher nor the cursor keeps the ref or position it is
    // given (a request acks a thousand messages or more; an object per item was garbage at once).
    const position = { ledgerId: 0, entryId: 0 };
    const ref: MessageRef = { position, batchIndex: 0, key: null };
    for (let i = 0, o = at; i < count; i++, o += ACK_ITEM) {
      position.ledgerId = readId(v, o);
      position.entryId = readId(v, o + 8);
      ref.batchIndex = v.getUint16(o + 16, true);
      const batchSize = v.getUint16(o + 18, true);
      const cumulative = v.getUint8(o + 20) === 1;
      if (!last || comparePositions(position, last) > 0) {
        throw new MillraceError('ACK_INVALID', `no message ${posKey(position)}:${ref.batchIndex} exists on ${this.ml.name}`);
      }
      this.ackedAt(position);
      if (cumulative) {
        this.dispatcher.onAckCumulative(slot, ref);
        this.cursor.ackCumulative(position, ref.batchIndex, batchSize);
      } else {
        // The dispatcher first: it knows every message out, so the usual ack costs no cursor lookup
        // before the cursor's own ack. Only a message it does not know may be a repeated ack.
        try {
          this.dispatcher.onAck(slot, ref);
        } catch (err) {
          if (this.cursor.isAcked(position, ref.batchIndex)) continue; // a repeated ack changes nothing
          throw err;
        }
        this.cursor.ack(position, ref.batchIndex, batchSize);
      }
    }
  }

  /**
   * Moves the subscription so the next message delivered is the first at or after `position`, and
   * with `batchIndex` > 0 the message at that index of its entry: the messages before it in the
   * entry count as acked (Pulsar's seek to a batch message ID with batch-index acks).
   */
  async seek(position: Position, batchIndex = 0): Promise<void> {
    this.seeking++;
    try {
      await this.pumpStopped();
      await this.reset(position, batchIndex);
    } finally {
      this.seeking--;
      if (this.again) this.pump();
    }
  }

  private async reset(position: Position, batchIndex: number): Promise<void> {
    // Pulsar disconnects consumers on a seek; here each consumer is reset in place: what it holds is
    // dropped by the dispatcher (it will be read again), and its client clears its queue.
    const conns = [...this.consumers.values()];
    const dropped: MessageRef[] = [...this.returned, ...this.heldOffers(), ...this.delayed];
    for (const c of conns) for (const r of this.dispatcher.removeConsumer(c.slot)) dropped.push(r);
    // Dropped without redelivery: tell the dispatcher (Key_Shared would otherwise keep later
    // messages of their keys waiting for them forever). Ones it never tracked are skipped.
    for (const r of dropped) {
      try {
        this.dispatcher.onAck(0, r);
      } catch {
        // not tracked (read, never assigned): nothing to forget
      }
    }
    this.returned = [];
    this.keepHeld([], 0);
    this.delayed = [];
    this.cursor.resetTo(position);
    if (batchIndex > 0) await this.ackBatchBefore(position, batchIndex);
    await this.cursor.persist();
    this.resetAckFrontier();
    this.readPosition = this.cursor.firstUnacked() ?? this.afterEnd();
    this.dirty = true;
    for (const c of conns) {
      this.dispatcher.addConsumer({ id: c.slot, name: c.name, priority: c.priority });
      this.ctx.emit(c.clientId, 8, (bytes, at) => {
        const v = new DataView(bytes.buffer, bytes.byteOffset + at, 8);
        v.setUint8(0, EVENT_RESET);
        v.setUint32(4, c.consumerId, true);
      });
    }
  }

  /**
   * After a reset to `position`: acks the messages of its entry before `batchIndex`, when the reset
   * landed on that entry (not moved past the end or out of a trimmed ledger) and it is a batch.
   */
  private async ackBatchBefore(position: Position, batchIndex: number): Promise<void> {
    const first = this.cursor.firstUnacked();
    if (!first || comparePositions(first, position) !== 0) return;
    const [read] = await this.ml.readRange(position, { maxEntries: 1 });
    if (!read || comparePositions(read.position, position) !== 0) return;
    const batchSize = entryCount(read.entry);
    for (let i = 0; i < Math.min(batchIndex, batchSize); i++) this.cursor.ack(position, i, batchSize);
  }

  /**
   * Acks every message before `position` on the subscription's behalf (message TTL, backlog
   * eviction) and drops what of it waits here. Messages consumers hold stay with them: their ack
   * is then a repeated ack, their nack or timeout finds them acked and drops them. Returns whether
   * the cursor moved; resolves once that is durable.
   */
  async skipBefore(position: Position): Promise<boolean> {
    if (!this.cursor.skipBefore(position)) return false;
    // Entries read from here on up to `position` are checked message by message (they are acked now).
    this.ackedAt(position);
    const before = (o: Offer): boolean => comparePositions(o.position, position) < 0;
    const forget = (xs: Offer[]): Offer[] => {
      const keep: Offer[] = [];
      for (const o of xs) {
        if (!before(o)) {
          keep.push(o);
          continue;
        }
        try {
          this.dispatcher.onAck(0, o);
        } catch {
          // not tracked by the dispatcher (read, never assigned): nothing to forget
        }
      }
      return keep;
    };
    this.returned = forget(this.returned);
    this.keepHeld(forget(this.heldOffers()), 0);
    this.delayed = forget(this.delayed);
    if (comparePositions(this.readPosition, position) < 0) this.readPosition = this.cursor.firstUnacked() ?? this.afterEnd();
    this.dirty = true;
    await this.cursor.persist();
    this.pump();
    return true;
  }

  /**
   * Dispatch failed (an entry that cannot be read: corrupt, or its object store away): tell the
   * consumers, at most once a second, instead of stalling in silence. The next change (append,
   * permits, acks) tries again.
   */
  private reportError(err: unknown): void {
    if (err instanceof MillraceError && err.code === 'CLOSED') return;
    const now = Date.now();
    if (now - this.lastErrorAt < ERROR_EVENT_INTERVAL_MS) return;
    this.lastErrorAt = now;
    this.emitError(err);
  }

  /** An ERROR event to every consumer (a forced delete tells them the topic is gone this way). */
  emitError(err: unknown): void {
    const body = encodeError(err);
    for (const c of this.consumers.values()) {
      this.ctx.emit(c.clientId, ERROR_EVENT_HEADER + body.length, (bytes, at) => {
        const v = new DataView(bytes.buffer, bytes.byteOffset + at, ERROR_EVENT_HEADER);
        v.setUint8(0, EVENT_ERROR);
        v.setUint32(4, c.consumerId, true);
        bytes.set(body, at + ERROR_EVENT_HEADER);
      });
    }
  }

  /** Something changed (new entries, permits, acks): dispatch what can go. */
  pump(): void {
    if (this.pumping || this.seeking > 0) {
      this.again = true;
      return;
    }
    if (this.nothingToOffer()) return;
    this.pumping = true;
    this.again = false;
    this.pumpLoop().then(this.pumpDone, this.pumpFailed);
  }

  // Two functions for the subscription's life, not a catch and a finally (and their closures) a pump.
  private readonly pumpFailed = (err: unknown): void => {
    try {
      this.reportError(err);
    } finally {
      this.pumpDone();
    }
  };

  private readonly pumpDone = (): void => {
    this.pumping = false;
    if (this.pumpEnded.length > 0) for (const ended of this.pumpEnded.splice(0)) ended();
    // A pump asked for while this one ran: run again now that the flag is down (no lost wake-up).
    if (this.again) this.pump();
  };

  /**
   * Nothing held, given back, delayed or unread: a pump would find nothing to offer (its loop would
   * read nothing and end). An ack of what was delivered, or a consumer's permits, at low rates are
   * most pumps, and the loop's promises were a good part of a host's garbage per message.
   */
  private nothingToOffer(): boolean {
    return this.held.length === this.heldFrom && this.returned.length === 0 && this.delayed.length === 0 && !this.hasMoreToRead();
  }

  /** Resolves once no pump is running. */
  private pumpStopped(): Promise<void> {
    return this.pumping ? new Promise((resolve) => this.pumpEnded.push(resolve)) : Promise.resolve();
  }

  private async pumpLoop(): Promise<void> {
    do {
      this.again = false;
      if (this.consumers.size === 0) return;
      const now = Date.now();
      let due: Offer[] | undefined;
      if (this.delayed.length > 0) {
        due = this.delayed.filter((d) => d.deliverAt <= now);
        if (due.length === 0) due = undefined;
        else this.delayed = this.delayed.filter((d) => d.deliverAt > now);
      }
      // Held messages mean no permits or blocked keys; until something changes, newer messages
      // would be held too: nothing to do.
      if (!this.dirty && this.held.length > this.heldFrom && this.returned.length === 0 && due === undefined) break;
      this.dirty = false;
      // Everything waiting lies before the read position; each list is in log order, and returned
      // and due messages usually interleave with none (no sort then).
      let offers = this.held;
      let from = this.heldFrom;
      if (this.returned.length > 0 || due !== undefined) {
        if (from > 0) offers = offers.slice(from);
        from = 0;
        if (this.returned.length > 0) offers = mergeOffers(sortOffers(this.returned), offers);
        if (due !== undefined) offers = mergeOffers(sortOffers(due), offers);
      }
      if (this.returned.length > 0) this.returned = [];
      this.keepHeld([], 0);
      let read = 0;
      if (offers.length - from < READ_AHEAD_MESSAGES) {
        const r = this.readMore(offers, now, READ_AHEAD_MESSAGES - (offers.length - from));
        read = typeof r === 'number' ? r : await r;
      }
      this.armDelayTimer();
      const live = offers.length - from;
      if (live === 0) {
        // Entries whose messages were all acked (or delayed): read on, or nothing would wake the pump.
        if (read > 0 && this.hasMoreToRead()) continue;
        break;
      }
      const capacity = this.dispatcher.capacity();
      if (capacity === 0) {
        // Nobody can take anything: keep it all held, dispatch nothing (no O(held) pass).
        this.keepHeld(offers, from);
        break;
      }
      // In-order types assign exactly the first `capacity` offers: offer only those, and keep the
      // rest where it is (an index moves; nothing is copied).
      let rest = -1;
      let batch: Offer[];
      if (this.ordered && capacity < live) {
        batch = offers.slice(from, from + capacity);
        rest = from + capacity;
      } else {
        batch = from === 0 ? offers : offers.slice(from);
      }
      const { assigned, held } = this.dispatcher.dispatch(batch);
      // The dispatcher returns the offered objects themselves, in log order.
      if (rest < 0) this.keepHeld(held as Offer[], 0);
      else if (held.length === 0) this.keepHeld(offers, rest);
      else this.keepHeld((held as Offer[]).concat(offers.slice(rest)), 0);
      let delivered = 0;
      for (const [slot, refs] of assigned) delivered += this.deliver(slot, refs as Offer[]);
      if (delivered === 0) break;
    } while (true);
  }

  /** What is held, from index 0 (cold paths: seek, skip). */
  private heldOffers(): Offer[] {
    if (this.heldFrom > 0) this.keepHeld(this.held.slice(this.heldFrom), 0);
    return this.held;
  }

  /**
   * Holds `offers[from..]`. The dispatched prefix is dropped (moved over) once it is at least as
   * long as what is held and 1,024 offers: the copy is then paid for by the offers dispatched.
   */
  private keepHeld(offers: Offer[], from: number): void {
    if (from >= 1024 && from * 2 >= offers.length) {
      offers.copyWithin(0, from);
      offers.length -= from;
      from = 0;
    }
    this.held = offers;
    this.heldFrom = from;
  }

  private hasMoreToRead(): boolean {
    const last = this.ml.lastConfirmed;
    return !!last && comparePositions(this.readPosition, last) <= 0;
  }

  /**
   * Reads entries at the read position and turns their unacked messages into offers. The records
   * are walked in place for what dispatch needs (batch index, deliver-at time, the key for
   * Key_Shared only): decoding an entry built an object and three views per message, all garbage
   * once the offer was made.
   */
  private readMore(offers: Offer[], now: number, want: number): number | Promise<number> {
    if (!this.hasMoreToRead()) return 0;
    // Entries enough for about `want` messages at the batch size seen so far: a fixed count of large
    // batches read tens of thousands of messages ahead, each an offer that lived long enough to be
    // promoted out of the young generation (the host worker's heap then grew with garbage).
    // Until an entry was seen the batch size is unknown: one entry (a guess of one message an entry
    // read 64 batches of up to 1,000 messages at the first pass).
    const maxEntries = this.messagesPerEntry === 0 ? 1 : Math.max(1, Math.min(READ_BATCH_ENTRIES, Math.ceil(want / this.messagesPerEntry)));
    const entries = this.ml.readRangeNow(this.readPosition, { maxEntries });
    if (entries === undefined) return this.ml.readRange(this.readPosition, { maxEntries }).then((read) => this.offerEntries(read, offers, now));
    return this.offerEntries(entries, offers, now);
  }

  /** Turns the unacked messages of entries read at the read position into offers, and moves it on. */
  private offerEntries(entries: ReadEntry[], offers: Offer[], now: number): number {
    const delayable = this.type === 'shared' || this.type === 'key_shared';
    const keyed = this.type === 'key_shared';
    for (const { position, entry } of entries) {
      // Past every ack ever made: no message of this entry is acked (skip the per-message lookup).
      const mayBeAcked = comparePositions(position, this.ackFrontier) <= 0;
      const len = entry.length;
      if (len < ENTRY_HEADER_SIZE) throw corrupt(position, `${len} bytes, shorter than its header`);
      const dv = new DataView(entry.buffer, entry.byteOffset, len);
      const count = dv.getUint16(OFF_COUNT, true);
      // A moving average, so one odd batch size does not swing the next read's length.
      this.messagesPerEntry = this.messagesPerEntry === 0 ? Math.max(1, count) : this.messagesPerEntry + (Math.max(1, count) - this.messagesPerEntry) / 8;
      let pos = ENTRY_HEADER_SIZE + dv.getUint16(OFF_PRODUCER_LEN, true);
      for (let i = 0; i < count; i++) {
        if (pos + MESSAGE_HEADER_SIZE > len) throw corrupt(position, `record ${i} header runs past the entry end`);
        const size = dv.getUint32(pos, true);
        if (size < MESSAGE_HEADER_SIZE || pos + size > len) throw corrupt(position, `record ${i} runs past the entry end`);
        const flags = dv.getUint8(pos + 4);
        let t = pos + MESSAGE_HEADER_SIZE;
        if (flags & MSG_HAS_EVENT_TIME) t += 8;
        let deliverAt = 0;
        if (flags & MSG_HAS_DELIVER_AT) {
          deliverAt = dv.getUint32(t + 4, true) * TWO_32 + dv.getUint32(t, true);
          t += 8;
        }
        let key: string | null = null;
        if (keyed && flags & MSG_HAS_KEY) key = latin1(entry, t, t + dv.getUint16(pos + 6, true));
        pos += size;
        if (mayBeAcked && this.cursor.isAcked(position, i)) continue;
        const offer: Offer = { position, batchIndex: i, key, deliverAt, entry, at: pos - size };
        if (delayable && deliverAt > now) this.delayed.push(offer);
        else offers.push(offer);
      }
      this.readPosition = { ledgerId: position.ledgerId, entryId: position.entryId + 1 };
    }
    if (entries.length === 0) this.readPosition = this.afterEnd();
    return entries.length;
  }

  private armDelayTimer(): void {
    if (this.delayTimer || this.delayed.length === 0) return;
    let next = Infinity;
    for (const d of this.delayed) if (d.deliverAt < next) next = d.deliverAt;
    this.delayTimer = this.ctx.setTimer(Math.max(0, next - Date.now()), () => {
      this.delayTimer = undefined;
      this.pump();
    });
  }

  /** Sends a consumer its assigned messages, one DELIVER event per entry. Returns messages sent. */
  private deliver(slot: number, refs: Offer[]): number {
    const c = this.consumers.get(slot);
    if (!c) {
      this.giveBack(this.dispatcher.removeConsumer(slot));
      return 0;
    }
    let sent = 0;
    for (let i = 0; i < refs.length;) {
      const j = entryEnd(refs, i);
      if (!this.emitDeliver(c, refs, i, j - i, refs[i]!.entry)) {
        this.removeConsumer(slot);
        return sent;
      }
      sent += j - i;
      i = j;
    }
    return sent;
  }

  /** One DELIVER event: `refs[from..from+n)`, messages of one entry whose bytes are `bytes`. False when the consumer's client is gone. */
  private emitDeliver(c: ConsumerConn, refs: Offer[], from: number, n: number, bytes: Uint8Array): boolean {
    const p = refs[from]!.position;
    // Only messages given back (or counted before the open) can have a redelivery count.
    const counted = comparePositions(p, this.countFrontier) <= 0;
    const body = this.deliveredBytes(bytes, refs, from, n);
    const length = DELIVER_HEADER + n * DELIVER_ITEM + body;
    const ok = this.ctx.emit(c.clientId, length, (out, at) => {
      const v = new DataView(out.buffer, out.byteOffset + at, length);
      v.setUint8(0, EVENT_DELIVER);
      v.setUint8(1, body === bytes.length ? 0 : DELIVER_PARTIAL);
      v.setUint16(2, n, true);
      v.setUint32(4, c.consumerId, true);
      v.setFloat64(8, p.ledgerId, true);
      v.setFloat64(16, p.entryId, true);
      let o = DELIVER_HEADER;
      for (let k = from; k < from + n; k++) {
        const r = refs[k]!;
        v.setUint16(o, r.batchIndex, true);
        v.setUint32(o + 4, counted ? this.cursor.redeliveryCount(p, r.batchIndex) : 0, true);
        o += DELIVER_ITEM;
      }
      if (body === bytes.length) out.set(bytes, at + o);
      else copyRecords(bytes, refs, from, n, out, at + o);
    });
    if (!ok) return false;
    this.msgOutCounter += n;
    this.bytesOutCounter += bytes.length;
    return true;
  }

  /**
   * Bytes of the entry part a DELIVER of `refs[from..from+n)` carries: the whole entry, or, when
   * those are some of its messages, the entry's header and name and their records only
   * (DELIVER_PARTIAL).
   */
  private deliveredBytes(bytes: Uint8Array, refs: Offer[], from: number, n: number): number {
    if (n >= (bytes[OFF_COUNT]! | (bytes[OFF_COUNT + 1]! << 8))) return bytes.length;
    let size = ENTRY_HEADER_SIZE + (bytes[OFF_PRODUCER_LEN]! | (bytes[OFF_PRODUCER_LEN + 1]! << 8));
    for (let k = from; k < from + n; k++) size += u32(bytes, refs[k]!.at);
    return size;
  }

  /** Unacked messages held by consumers. */
  unacked(): number {
    let n = 0;
    for (const c of this.consumers.values()) n += this.dispatcher.pending(c.slot).length;
    return n;
  }

  consumerStats(): { consumerName: string; unackedMessages: number; availablePermits: number }[] {
    return [...this.consumers.values()].map((c) => ({ consumerName: c.name, unackedMessages: this.dispatcher.pending(c.slot).length, availablePermits: 0 }));
  }

  /** Drops all state (unsubscribe). */
  async delete(): Promise<void> {
    if (this.delayTimer) this.delayTimer();
    await this.cursor.delete();
  }

  stop(): void {
    if (this.delayTimer) this.delayTimer();
  }

  /** Resolves once no cursor write of this subscription is in flight. */
  settled(): Promise<void> {
    return this.cursor.settled();
  }
}
