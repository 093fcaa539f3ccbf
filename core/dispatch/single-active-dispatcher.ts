/**
 * Exclusive and Failover: one active consumer receives everything (Pulsar's
 * AbstractDispatcherSingleActiveConsumer / PersistentDispatcherSingleActiveConsumer).
 *
 * Choosing the active consumer (Pulsar's pickAndScheduleActiveConsumer, non-hash mode): sort consumers
 * by priority value, then name (then id, so equal names still sort deterministically); count the
 * consumers at the highest priority level (lowest value), n; the active one is sorted[partitionIndex % n].
 * Partitions thus spread evenly over the highest-priority consumers and lower levels are standby only.
 * A non-partitioned topic (partitionIndex -1) takes sorted[0]. (Pulsar picks by a hash of the topic
 * name there, or subscription order in older versions; the team's design asks for priority-then-name.)
 *
 * Switching, and why nobody ever holds a message another consumer holds:
 * - The active consumer leaves: removeConsumer returns what it held, in position order; the caller
 *   offers those first (they lie before its read position) and the newly picked active consumer,
 *   holding nothing that any other consumer holds, gets them: it takes over from the unacked position.
 * - A consumer joins and is picked over the current active one (higher priority, earlier name, or a
 *   new partition spread): Pulsar rewinds the cursor and redelivers at once, so the old active consumer
 *   may still process messages the new one receives. Here the switch drains instead: the new consumer
 *   is active at once (activeConsumer() names it, the old one gets nothing more), but no message is
 *   assigned to it while any other consumer still holds messages. The old consumer's messages end by
 *   ack, by release (nack, ack timeout: returned to the caller for redelivery to the new active
 *   consumer), or by its removal. Delivery to the new consumer then resumes in log order from the
 *   lowest unacked message, offered by the caller. A stuck old consumer stalls the switch until the
 *   caller's ack timeout releases its messages or it is removed: liveness never depends on handler
 *   time (G10) because the caller owns those timers, not the dispatcher.
 * The rule in one line: assign only to the active consumer, and only while no other consumer holds.
 */
import { MillraceError } from '../errors.js';
import { BaseDispatcher, ConsumerState, invalid } from './base-dispatcher.js';
import type { ConsumerSlot, MessageRef } from './types.js';

export class SingleActiveDispatcher extends BaseDispatcher {
  private active: ConsumerState | undefined;
  /** Set per dispatch call: some consumer other than the active one still holds messages. */
  private draining = false;

  constructor(readonly type: 'exclusive' | 'failover', private readonly partitionIndex: number) {
    super();
  }

  protected override admit(c: ConsumerSlot): void {
    if (this.type === 'exclusive' && this.states.size > 0) {
      const [other] = this.states.values();
      throw new MillraceError('CONSUMER_BUSY',
        `exclusive subscription already has consumer ${other!.slot.id} (${other!.slot.name}); consumer ${c.id} (${c.name}) is refused`);
    }
  }

  protected membershipChanged(): void {
    const sorted = [...this.states.values()].sort(
      (a, b) => a.slot.priority - b.slot.priority || cmpStr(a.slot.name, b.slot.name) || a.slot.id - b.slot.id);
    if (sorted.length === 0) {
      this.active = undefined;
      return;
    }
    let n = 0;
    while (n < sorted.length && sorted[n]!.slot.priority === sorted[0]!.slot.priority) n++;
    this.active = sorted[this.partitionIndex >= 0 ? this.partitionIndex % n : 0];
  }

  protected override beginDispatch(): void {
    this.draining = false;
    for (const st of this.states.values()) if (st !== this.active && st.pendingCount > 0) this.draining = true;
  }

  protected select(): ConsumerState | undefined {
    const a = this.active;
    if (a === undefined || this.draining || a.permits <= 0) return undefined;
    return a;
  }

  override onAckCumulative(consumerId: number, m: MessageRef): void {
    const st = this.states.get(consumerId);
    if (st === undefined) {
      throw new MillraceError('ACK_INVALID', `cumulative ack from consumer ${consumerId}, which is not connected`);
    }
    this.ackUpTo(st, m);
  }

  override capacity(): number {
    const a = this.active;
    if (a === undefined) return 0;
    for (const st of this.states.values()) if (st !== a && st.pendingCount > 0) return 0; // draining
    return a.permits;
  }

  override activeConsumer(): number | undefined {
    return this.active?.slot.id;
  }
}

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function checkPartitionIndex(p: number): number {
  if (!Number.isSafeInteger(p) || p < -1) throw invalid(`partitionIndex must be an integer >= -1 (-1: not partitioned), got ${String(p)}`);
  return p;
}
