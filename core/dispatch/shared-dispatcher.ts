/**
 * Shared: each message goes to one consumer at a time, round-robin over the consumers that have
 * permits (Pulsar's AbstractDispatcherMultipleConsumers.getNextConsumer with ConsumerPrioritySelector).
 * Priority levels are served in order: a lower level (higher value) gets messages only while every
 * consumer of the levels above has no permits. Within a level, consumers take turns in the order they
 * connected, resuming after the last one served. Pulsar's own example: C1..C3 at level 0 with 2, 1, 1
 * permits and C4, C5 at level 1 with 2, 1 permits are served C1, C2, C3, C1, C4, C5, C4.
 * Pulsar hands a consumer a run of entries at a time; one message per turn is the same rule at the
 * finest grain. No cumulative ack (base class refuses it).
 */
import { BaseDispatcher, type ConsumerState } from './base-dispatcher.js';

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

  protected select(): ConsumerState | undefined {
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
