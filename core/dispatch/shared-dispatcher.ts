/**
 * Shared: each message goes to one consumer at a time, round-robin over the consumers that have
 * permits (Pulsar's AbstractDispatcherMultipleConsumers.getNextConsumer with ConsumerPrioritySelector).
 * Priority levels are served in order: a lower level (higher value) gets messages only while every
 * consumer of the levels above has no permits. Within a level, consumers take turns in the order they
 * connected, resuming after the last one served. Pulsar's own example: C1..C3 at level 0 with 2, 1, 1
 * permits and C4, C5 at level 1 with 2, 1 permits are served C1, C2, C3, C1, C4, C5, C4.
 * A turn is an entry: the messages of one entry offered together go to one consumer while it has
 * permits, and only the rest (its permits ran out) to the next in turn. Pulsar hands a consumer whole
 * entries too (up to dispatcherMaxRoundRobinBatchSize of them a turn), so a batch goes to one
 * consumer. Dealt message by message, a 1,000-message batch went out as four partial deliveries of
 * every fourth record to four consumers: each record copied on its own, and each consumer woken
 * once per entry for a quarter of it. Entries of one message (unbatched producers) are dealt one per
 * turn, as before. No cumulative ack (base class refuses it).
 */
import { BaseDispatcher, type ConsumerState } from './base-dispatcher.js';
import type { MessageRef } from './types.js';

export class SharedDispatcher extends BaseDispatcher {
  readonly type = 'shared' as const;
  /** Consumers grouped by priority level, levels in serving order, each in connection order. */
  private levels: ConsumerState[][] = [];
  /** Per level: index in `levels[l]` of the consumer to try first. */
  private cursors: number[] = [];
  private cursorByPriority = new Map<number, number>();

  protected membershipChanged(): void {
    const byPriority = new Map<number, ConsumerState[]>();
    for (const st of [...this.states.values()].sort((a, b) => a.seq - b.seq)) {
      let l = byPriority.get(st.slot.priority);
      if (l === undefined) byPriority.set(st.slot.priority, (l = []));
      l.push(st);
    }
    const priorities = [...byPriority.keys()].sort((a, b) => a - b);
    this.levels = priorities.map((p) => byPriority.get(p)!);
    // Keep each level's turn where it was, modulo its new size.
    this.cursors = priorities.map((p, i) => (this.cursorByPriority.get(p) ?? 0) % this.levels[i]!.length);
    this.cursorByPriority = new Map(priorities.map((p, i) => [p, this.cursors[i]!]));
  }

  /**
   * The consumer the current entry went to in this dispatch call, and that entry. Reset per call:
   * an entry whose rest is offered in a later call (the subscription offers only a prefix the size
   * of the permits) goes on with the next consumer in turn.
   */
  private turn: ConsumerState | undefined;
  private turnLedger = -1;
  private turnEntry = -1;

  protected override beginDispatch(): void {
    this.turn = undefined;
  }

  protected select(m: MessageRef): ConsumerState | undefined {
    const t = this.turn;
    // Permits only fall during a call, so the consumer of this entry is still on the best level
    // with permits while it has any.
    if (t !== undefined && t.permits > 0 && m.position.entryId === this.turnEntry && m.position.ledgerId === this.turnLedger) return t;
    const st = this.nextInTurn();
    this.turn = st;
    this.turnLedger = m.position.ledgerId;
    this.turnEntry = m.position.entryId;
    return st;
  }

  /** The next consumer in turn with permits, on the best level that has one; the turn moves past it. */
  private nextInTurn(): ConsumerState | undefined {
    for (let l = 0; l < this.levels.length; l++) {
      const level = this.levels[l]!;
      const start = this.cursors[l]!;
      for (let j = 0; j < level.length; j++) {
        const idx = (start + j) % level.length;
        const st = level[idx]!;
        if (st.permits > 0) {
          this.cursors[l] = (idx + 1) % level.length;
          this.cursorByPriority.set(st.slot.priority, this.cursors[l]!);
          return st;
        }
      }
    }
    return undefined;
  }
}
