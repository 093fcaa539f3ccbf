/**
 * One subscription of a partition: its durable cursor, its dispatcher (the subscription type's
 * rules) and its connected consumers. It reads entries from the ledger at its read position, offers
 * their unacked messages (returned ones first) to the dispatcher, and pushes what is assigned to each
 * consumer's client thread as DELIVER events: one event per entry per consumer, carrying the entry and
 * the batch indexes that consumer was given (batch-index dispatch: siblings of a message may go to
 * other consumers, and a redelivery sends only the messages concerned).
 */
import type { ManagedLedger, Position } from '../../core/log/index.js';
import { comparePositions } from '../../core/log/index.js';
import { ManagedCursor } from '../../core/cursor/index.js';
import { createDispatcher, checkSubscriptionType, type Dispatcher, type MessageRef, type SubscriptionType } from '../../core/dispatch/index.js';
import { MillraceError } from '../../core/errors.js';
import type { Store } from '../../core/storage/store.js';
import { decodeEntry, entryCount } from '../../wasm/index.js';
import type { ActorContext } from '../host/actor.js';
import { DELIVER_HEADER, DELIVER_ITEM, EVENT_DELIVER, EVENT_RESET } from './partition-protocol.js';

interface ConsumerConn {
  slot: number;
  clientId: number;
  consumerId: number;
  name: string;
  /** Kept so a seek re-adds the consumer with it (failover picks the active consumer by priority). */
  priority: number;
}

interface Offer extends MessageRef {
  deliverAt: number;
}

// Messages read ahead of what consumers can take: bounds the actor's memory (G9 on the broker side).
const READ_AHEAD_MESSAGES = 2_000;
// Entries read per pass.
const READ_BATCH_ENTRIES = 64;

const posKey = (p: Position): string => `${p.ledgerId}:${p.entryId}`;
const latin1 = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');

export class Subscription {
  readonly dispatcher: Dispatcher;
  private readonly consumers = new Map<number, ConsumerConn>();
  private readonly bySlotKey = new Map<string, number>();
  private nextSlot = 1;
  /** The next entry to read from the ledger. */
  private readPosition: Position;
  /** Messages given back (nack, timeout, consumer gone), offered again before newer ones. */
  private returned: Offer[] = [];
  /** Messages the dispatcher held (no permits, blocked key). */
  private held: Offer[] = [];
  /** Delayed messages, by the time they may go (Shared and Key_Shared only, as in Pulsar). */
  private delayed: Offer[] = [];
  private delayTimer: (() => void) | undefined;
  private pumping = false;
  private again = false;
  /**
   * Something that can change a dispatch decision happened (permits, acks, consumers, redeliveries).
   * Without it, held messages stay held: a pump after a mere append skips re-offering them, which
   * would otherwise cost O(held) per append.
   */
  private dirty = true;
  /** Batch size of entries with messages out, for acks (the client sends it, this checks it). */
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
    this.readPosition = cursor.firstUnacked() ?? this.afterEnd();
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
      this.returned.push({ ...r, deliverAt: 0 });
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
   * Acks from a consumer. Individual acks on any type; cumulative only on Exclusive and Failover
   * (the dispatcher refuses it on Shared and Key_Shared with ACK_INVALID). Resolves once durable.
   */
  async ack(slot: number, items: { ref: MessageRef; batchSize: number; cumulative: boolean }[]): Promise<void> {
    this.dirty = true;
    const last = this.ml.lastConfirmed;
    for (const { ref, batchSize, cumulative } of items) {
      if (!last || comparePositions(ref.position, last) > 0) {
        throw new MillraceError('ACK_INVALID', `no message ${posKey(ref.position)}:${ref.batchIndex} exists on ${this.ml.name}`);
      }
      if (cumulative) {
        this.dispatcher.onAckCumulative(slot, ref);
        this.cursor.ackCumulative(ref.position, ref.batchIndex, batchSize);
      } else {
        if (this.cursor.isAcked(ref.position, ref.batchIndex)) continue; // a repeated ack changes nothing
        this.dispatcher.onAck(slot, ref);
        this.cursor.ack(ref.position, ref.batchIndex, batchSize);
      }
    }
    await this.cursor.persist();
    this.pump();
  }

  /** Moves the subscription so the next message delivered is the first at or after `position`. */
  async seek(position: Position): Promise<void> {
    // Pulsar disconnects consumers on a seek; here each consumer is reset in place: what it holds is
    // dropped by the dispatcher (it will be read again), and its client clears its queue.
    const conns = [...this.consumers.values()];
    for (const c of conns) this.dispatcher.removeConsumer(c.slot);
    this.returned = [];
    this.held = [];
    this.delayed = [];
    this.cursor.resetTo(position);
    await this.cursor.persist();
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

  /** Something changed (new entries, permits, acks): dispatch what can go. */
  pump(): void {
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    this.again = false;
    void this.pumpLoop().catch(() => undefined).finally(() => {
      this.pumping = false;
      // A pump asked for while this one ran: run again now that the flag is down (no lost wake-up).
      if (this.again) this.pump();
    });
  }

  private async pumpLoop(): Promise<void> {
    do {
      this.again = false;
      if (this.consumers.size === 0) return;
      const offers: Offer[] = [];
      const now = Date.now();
      if (this.delayed.length > 0) {
        const due = this.delayed.filter((d) => d.deliverAt <= now);
        if (due.length > 0) {
          this.delayed = this.delayed.filter((d) => d.deliverAt > now);
          offers.push(...due);
        }
      }
      // Held messages mean no permits or blocked keys; until something changes, newer messages
      // would be held too: nothing to do.
      if (!this.dirty && this.held.length > 0 && this.returned.length === 0 && offers.length === 0) break;
      this.dirty = false;
      offers.push(...this.returned, ...this.held);
      this.returned = [];
      this.held = [];
      if (offers.length < READ_AHEAD_MESSAGES) await this.readMore(offers, now);
      if (offers.length === 0) break;
      offers.sort((a, b) => comparePositions(a.position, b.position) || a.batchIndex - b.batchIndex);
      const { assigned, held } = this.dispatcher.dispatch(offers);
      const heldSet = new Set(held.map((h) => `${posKey(h.position)}:${h.batchIndex}`));
      this.held = offers.filter((o) => heldSet.has(`${posKey(o.position)}:${o.batchIndex}`));
      let delivered = 0;
      for (const [slot, refs] of assigned) delivered += await this.deliver(slot, refs);
      this.armDelayTimer();
      if (delivered === 0 && !this.hasMoreToRead()) break;
      if (delivered === 0) break;
    } while (true);
  }

  private hasMoreToRead(): boolean {
    const last = this.ml.lastConfirmed;
    return !!last && comparePositions(this.readPosition, last) <= 0;
  }

  /** Reads entries at the read position and turns their unacked messages into offers. */
  private async readMore(offers: Offer[], now: number): Promise<void> {
    if (!this.hasMoreToRead()) return;
    const entries = await this.ml.readRange(this.readPosition, { maxEntries: READ_BATCH_ENTRIES });
    const delayable = this.type === 'shared' || this.type === 'key_shared';
    for (const { position, entry } of entries) {
      const d = decodeEntry(entry);
      for (const m of d.messages) {
        if (this.cursor.isAcked(position, m.index)) continue;
        const offer: Offer = { position, batchIndex: m.index, key: m.key ? latin1(m.key) : null, deliverAt: m.deliverAt ?? 0 };
        if (delayable && offer.deliverAt > now) this.delayed.push(offer);
        else offers.push(offer);
      }
      this.readPosition = { ledgerId: position.ledgerId, entryId: position.entryId + 1 };
    }
    if (entries.length === 0) this.readPosition = this.afterEnd();
  }

  private armDelayTimer(): void {
    if (this.delayTimer || this.delayed.length === 0) return;
    const next = Math.min(...this.delayed.map((d) => d.deliverAt));
    this.delayTimer = this.ctx.setTimer(Math.max(0, next - Date.now()), () => {
      this.delayTimer = undefined;
      this.pump();
    });
  }

  /** Sends a consumer its assigned messages, one DELIVER event per entry. Returns messages sent. */
  private async deliver(slot: number, refs: MessageRef[]): Promise<number> {
    const c = this.consumers.get(slot);
    if (!c) {
      this.giveBack(this.dispatcher.removeConsumer(slot));
      return 0;
    }
    let sent = 0;
    for (let i = 0; i < refs.length;) {
      const p = refs[i]!.position;
      let j = i;
      while (j < refs.length && refs[j]!.position.ledgerId === p.ledgerId && refs[j]!.position.entryId === p.entryId) j++;
      const group = refs.slice(i, j);
      i = j;
      let entry: Uint8Array;
      try {
        entry = (await this.ml.read(p)).entry;
      } catch (err) {
        // Trimmed or damaged: nothing to deliver; the cursor treats trimmed entries as acked.
        for (const r of group) this.dispatcher.onAck(slot, r);
        continue;
      }
      const length = DELIVER_HEADER + group.length * DELIVER_ITEM + entry.length;
      const ok = this.ctx.emit(c.clientId, length, (bytes, at) => {
        const v = new DataView(bytes.buffer, bytes.byteOffset + at, length);
        v.setUint8(0, EVENT_DELIVER);
        v.setUint16(2, group.length, true);
        v.setUint32(4, c.consumerId, true);
        v.setFloat64(8, p.ledgerId, true);
        v.setFloat64(16, p.entryId, true);
        let o = DELIVER_HEADER;
        for (const r of group) {
          v.setUint16(o, r.batchIndex, true);
          v.setUint32(o + 4, this.cursor.redeliveryCount(r.position, r.batchIndex), true);
          o += DELIVER_ITEM;
        }
        bytes.set(entry, at + o);
      });
      if (!ok) {
        this.removeConsumer(slot);
        return sent;
      }
      sent += group.length;
      this.msgOutCounter += group.length;
      this.bytesOutCounter += entry.length;
    }
    return sent;
  }

  /** Batch size of the entry at `position` (acks carry it; used to check them). */
  batchSizeAt(entry: Uint8Array): number {
    return entryCount(entry);
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
}
