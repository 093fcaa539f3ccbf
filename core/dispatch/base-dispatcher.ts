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
import { compareRefs } from './position.js';
import { RefMap } from './ref-map.js';
import type { ConsumerSlot, DispatchResult, Dispatcher, MessageRef, SubscriptionType } from './types.js';

/**
 * A pending or returned message; `hash` is the Key_Shared sticky hash (-1 for other types). `holder`
 * is the consumer it is pending at, or undefined while it waits for redelivery (returned).
 */
export interface Tracked { ref: MessageRef; hash: number; holder: ConsumerState | undefined }

export class ConsumerState {
  permits = 0;
  /** How many messages this consumer holds (pending, unacked). */
  pendingCount = 0;
  constructor(readonly slot: ConsumerSlot, readonly seq: number) {}
}

const fmt = (m: MessageRef): string => `${m.position.ledgerId}:${m.position.entryId}:${m.batchIndex}`;

export abstract class BaseDispatcher implements Dispatcher {
  abstract readonly type: SubscriptionType;
  protected readonly states = new Map<number, ConsumerState>();
  private nextSeq = 0;
  /**
   * Every message the dispatcher knows: pending at a consumer (holder set) or given back and not yet
   * assigned again or acked (holder undefined). One index for both, keyed by numbers (ref-map.ts):
   * a message is in at most one of the two states, so one lookup answers "who holds it" and "is it
   * waiting for redelivery".
   */
  private readonly tracked = new RefMap<Tracked>();
  /** Per dispatch call: what `tracked` had for offered message i (a returned message), reused. */
  private found: (Tracked | undefined)[] = [];

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
    const held = this.heldBy(st);
    for (const t of held) this.giveBack(st, t);
    this.states.delete(id);
    this.membershipChanged();
    return held.map((t) => t.ref);
  }

  addPermits(id: number, n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw invalid(`permits must be an integer >= 0, got ${String(n)}`);
    this.consumer(id).permits += n;
  }

  dispatch(messages: readonly MessageRef[]): DispatchResult {
    const ms = inLogOrder(messages);
    // Check the whole offer before changing anything, so a refused call leaves no half-applied state.
    // In log order a message offered twice sits next to itself: no set of seen messages is needed.
    const found = this.found;
    found.length = ms.length;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      if (i > 0 && compareRefs(ms[i - 1]!, m) === 0) throw invalid(`message ${fmt(m)} is offered twice in one dispatch call`);
      const t = this.tracked.get(m);
      if (t !== undefined && t.holder !== undefined) {
        throw invalid(`message ${fmt(m)} is already held by consumer ${t.holder.slot.id}; offer only messages nobody holds`);
      }
      found[i] = t;
    }
    this.beginDispatch(ms);
    const assigned = new Map<number, MessageRef[]>();
    const held: MessageRef[] = [];
    let lastId = -1;
    let lastList: MessageRef[] | undefined;
    for (let i = 0; i < ms.length; i++) {
      const m = ms[i]!;
      const c = this.select(m, i);
      if (c === undefined) {
        held.push(m);
        continue;
      }
      this.assign(c, m, this.hashAt(i), found[i]);
      // Runs of one consumer are the common case (one consumer, or an entry to its key's owner).
      if (c.slot.id !== lastId || lastList === undefined) {
        lastId = c.slot.id;
        lastList = assigned.get(lastId);
        if (lastList === undefined) assigned.set(lastId, (lastList = []));
      }
      lastList.push(m);
    }
    found.length = 0;
    return { assigned, held };
  }

  onAck(consumerId: number, m: MessageRef): void {
    const t = this.tracked.get(m);
    if (t === undefined) {
      throw new MillraceError('ACK_INVALID',
        `consumer ${consumerId} acked message ${fmt(m)}, which no consumer holds and none waits for redelivery (acked twice, or never dispatched)`);
    }
    this.tracked.delete(m);
    if (t.holder !== undefined) this.unassign(t.holder, t);
    else this.onReturnCleared(t);
  }

  onAckCumulative(consumerId: number, _m: MessageRef): void {
    throw new MillraceError('ACK_INVALID',
      `consumer ${consumerId}: cumulative ack is not allowed on a ${this.type} subscription; ack messages individually`);
  }

  release(consumerId: number, ms: readonly MessageRef[]): MessageRef[] {
    const st = this.consumer(consumerId);
    const out: MessageRef[] = [];
    for (const m of ms) {
      const t = this.tracked.get(m);
      if (t === undefined || t.holder !== st) continue;
      this.giveBack(st, t);
      out.push(t.ref);
    }
    return inLogOrder(out) as MessageRef[];
  }

  activeConsumer(): number | undefined {
    return undefined;
  }

  capacity(): number {
    let n = 0;
    for (const st of this.states.values()) n += st.permits;
    return n;
  }

  pending(consumerId: number): MessageRef[] {
    const st = this.states.get(consumerId);
    return st === undefined ? [] : this.heldBy(st).map((t) => t.ref);
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

  /** What `st` holds, in position order. O(all tracked): membership changes, stats, cumulative acks. */
  private heldBy(st: ConsumerState): Tracked[] {
    const out: Tracked[] = [];
    if (st.pendingCount === 0) return out;
    for (const t of this.tracked.values()) if (t.holder === st) out.push(t);
    return out.sort((a, b) => compareRefs(a.ref, b.ref));
  }

  /** Acks everything `st` holds at or before `m` (cumulative ack). */
  protected ackUpTo(st: ConsumerState, m: MessageRef): void {
    for (const t of this.heldBy(st)) {
      if (compareRefs(t.ref, m) > 0) break;
      this.tracked.delete(t.ref);
      this.unassign(st, t);
    }
  }

  private assign(c: ConsumerState, m: MessageRef, hash: number, returned: Tracked | undefined): void {
    c.permits--;
    c.pendingCount++;
    if (returned !== undefined) {
      // Given back earlier: it leaves the redelivery wait and becomes pending at `c`.
      this.onReturnCleared(returned);
      returned.holder = c;
      returned.hash = hash;
      this.onAssigned(c, returned);
      return;
    }
    const t: Tracked = { ref: m, hash, holder: c };
    this.tracked.set(m, t);
    this.onAssigned(c, t);
  }

  private unassign(st: ConsumerState, t: Tracked): void {
    st.pendingCount--;
    t.holder = undefined;
    this.onUnassigned(st, t);
  }

  private giveBack(st: ConsumerState, t: Tracked): void {
    this.unassign(st, t);
    this.onReturned(t);
  }
}

/** `ms` in log order: the array itself when it already is (the usual case), else a sorted copy. */
function inLogOrder(ms: readonly MessageRef[]): readonly MessageRef[] {
  for (let i = 1; i < ms.length; i++) {
    if (compareRefs(ms[i - 1]!, ms[i]!) > 0) return [...ms].sort(compareRefs);
  }
  return ms;
}

export function invalid(message: string): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', message);
}
