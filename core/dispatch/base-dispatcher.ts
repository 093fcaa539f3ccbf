/**
 * What every subscription type shares: connected consumers with their permits and pending (assigned,
 * unacked) messages, the index of who holds each message, and the set of messages given back and not
 * yet assigned again. A subclass decides only who may take the next offered message (`select`).
 *
 * Invariants kept here, for every type:
 * - a message is pending at no more than one consumer (`holder` maps each pending message to one);
 * - a consumer is never assigned more messages than the permits it was granted (permits are consumed
 *   on assignment and come back only through addPermits, as Pulsar's flow commands).
 */
import { MillraceError } from '../errors.js';
import { compareRefs, inLogOrder, refKey } from './position.js';
import type { ConsumerSlot, DispatchResult, Dispatcher, MessageRef, SubscriptionType } from './types.js';

/** A pending or returned message; `hash` is the Key_Shared sticky hash (-1 for other types). */
export interface Tracked { ref: MessageRef; hash: number }

export class ConsumerState {
  permits = 0;
  readonly pending = new Map<string, Tracked>();
  constructor(readonly slot: ConsumerSlot, readonly seq: number) {}

  sortedPending(): MessageRef[] {
    return [...this.pending.values()].map((t) => t.ref).sort(compareRefs);
  }
}

export abstract class BaseDispatcher implements Dispatcher {
  abstract readonly type: SubscriptionType;
  protected readonly states = new Map<number, ConsumerState>();
  private nextSeq = 0;
  /** Pending message key -> the consumer holding it. */
  private readonly holder = new Map<string, ConsumerState>();
  /** Messages given back (leave, release) and not yet assigned again or acked. */
  private readonly returned = new Map<string, Tracked>();

  // ---- hooks -------------------------------------------------------------------------------------

  /** Refuses a consumer before it is added (exclusive: CONSUMER_BUSY). */
  protected admit(_c: ConsumerSlot): void {}
  /** Membership changed (after add, after remove). */
  protected abstract membershipChanged(): void;
  /** Called once per dispatch call before any select; may validate and precompute (hashes). */
  protected beginDispatch(_ms: readonly MessageRef[]): void {}
  /** The consumer that takes offered message `i` now, or undefined to hold it. */
  protected abstract select(m: MessageRef, i: number): ConsumerState | undefined;
  /** Key_Shared sticky hash of offered message `i` (-1 when the type does not hash). */
  protected hashAt(_i: number): number {
    return -1;
  }
  protected onAssigned(_c: ConsumerState, _t: Tracked): void {}
  protected onUnassigned(_c: ConsumerState, _t: Tracked): void {}
  protected onReturned(_t: Tracked): void {}
  protected onReturnCleared(_t: Tracked): void {}

  // ---- Dispatcher ----------------------------------------------------------------------------------

  addConsumer(c: ConsumerSlot): void {
    if (!Number.isSafeInteger(c.id)) throw invalid(`consumer id must be a safe integer, got ${String(c.id)}`);
    if (typeof c.name !== 'string') throw invalid(`consumer ${c.id} name must be a string`);
    if (!Number.isSafeInteger(c.priority) || c.priority < 0) {
      throw invalid(`consumer ${c.id} priority must be an integer >= 0 (0 is the highest), got ${String(c.priority)}`);
    }
    if (this.states.has(c.id)) throw invalid(`consumer id ${c.id} is already connected to this subscription`);
    this.admit(c);
    this.states.set(c.id, new ConsumerState({ id: c.id, name: c.name, priority: c.priority }, this.nextSeq++));
    this.membershipChanged();
  }

  removeConsumer(id: number): MessageRef[] {
    const st = this.states.get(id);
    if (st === undefined) return [];
    const out = st.sortedPending();
    for (const m of out) this.giveBack(st, refKey(m));
    this.states.delete(id);
    this.membershipChanged();
    return out;
  }

  addPermits(id: number, n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw invalid(`permits must be an integer >= 0, got ${String(n)}`);
    this.consumer(id).permits += n;
  }

  dispatch(messages: readonly MessageRef[]): DispatchResult {
    const ms = inLogOrder(messages);
    // Check the whole offer before changing anything, so a refused call leaves no half-applied state.
    const seen = new Set<string>();
    for (const m of ms) {
      const k = refKey(m);
      const h = this.holder.get(k);
      if (h !== undefined) {
        throw invalid(`message ${k} is already held by consumer ${h.slot.id}; offer only messages nobody holds`);
      }
      if (seen.has(k)) throw invalid(`message ${k} is offered twice in one dispatch call`);
      seen.add(k);
    }
    this.beginDispatch(ms);
    const assigned = new Map<number, MessageRef[]>();
    const held: MessageRef[] = [];
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      const c = this.select(m, i);
      if (c === undefined) {
        held.push(m);
        continue;
      }
      this.assign(c, m, this.hashAt(i));
      let list = assigned.get(c.slot.id);
      if (list === undefined) assigned.set(c.slot.id, (list = []));
      list.push(m);
    }
    return { assigned, held };
  }

  onAck(consumerId: number, m: MessageRef): void {
    const k = refKey(m);
    const st = this.holder.get(k);
    if (st !== undefined) {
      this.unassign(st, k);
      return;
    }
    const r = this.returned.get(k);
    if (r !== undefined) {
      this.returned.delete(k);
      this.onReturnCleared(r);
      return;
    }
    throw new MillraceError('ACK_INVALID',
      `consumer ${consumerId} acked message ${k}, which no consumer holds and none waits for redelivery (acked twice, or never dispatched)`);
  }

  onAckCumulative(consumerId: number, _m: MessageRef): void {
    throw new MillraceError('ACK_INVALID',
      `consumer ${consumerId}: cumulative ack is not allowed on a ${this.type} subscription; ack messages individually`);
  }

  release(consumerId: number, ms: readonly MessageRef[]): MessageRef[] {
    const st = this.consumer(consumerId);
    const out: MessageRef[] = [];
    for (const m of ms) {
      const k = refKey(m);
      const t = st.pending.get(k);
      if (t === undefined) continue;
      this.giveBack(st, k);
      out.push(t.ref);
    }
    return out.sort(compareRefs);
  }

  activeConsumer(): number | undefined {
    return undefined;
  }

  pending(consumerId: number): MessageRef[] {
    return this.states.get(consumerId)?.sortedPending() ?? [];
  }

  consumers(): ConsumerSlot[] {
    return [...this.states.values()].map((s) => ({ ...s.slot })).sort((a, b) => a.id - b.id);
  }

  // ---- shared helpers ----------------------------------------------------------------------------

  protected consumer(id: number): ConsumerState {
    const st = this.states.get(id);
    if (st === undefined) throw invalid(`consumer ${id} is not connected to this ${this.type} subscription`);
    return st;
  }

  /** Acks everything `st` holds at or before `m` (cumulative ack). */
  protected ackUpTo(st: ConsumerState, m: MessageRef): void {
    for (const [k, t] of [...st.pending]) if (compareRefs(t.ref, m) <= 0) this.unassign(st, k);
  }

  private assign(c: ConsumerState, m: MessageRef, hash: number): void {
    const k = refKey(m);
    const t: Tracked = { ref: m, hash };
    c.pending.set(k, t);
    this.holder.set(k, c);
    c.permits--;
    const r = this.returned.get(k);
    if (r !== undefined) {
      this.returned.delete(k);
      this.onReturnCleared(r);
    }
    this.onAssigned(c, t);
  }

  private unassign(st: ConsumerState, k: string): Tracked {
    const t = st.pending.get(k)!;
    st.pending.delete(k);
    this.holder.delete(k);
    this.onUnassigned(st, t);
    return t;
  }

  private giveBack(st: ConsumerState, k: string): void {
    const t = this.unassign(st, k);
    this.returned.set(k, t);
    this.onReturned(t);
  }
}

export function invalid(message: string): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', message);
}
