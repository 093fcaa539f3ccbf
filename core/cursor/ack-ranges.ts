/**
 * The individually acked whole entries after a cursor's mark-delete position, as a sorted array of
 * ranges (Pulsar's individuallyDeletedMessages). A range never spans two ledgers: entry IDs of
 * different ledgers are not adjacent, so a range is [from, to] of entry IDs inside one ledger.
 * Lookup and insertion find their place by binary search (O(log n) in the number of ranges); an
 * insertion that does not merge shifts the array (a memmove), which stays cheap for the few thousand
 * ranges a badly fragmented subscription holds.
 */
import type { Position } from '../log/position.js';

export interface AckRange {
  ledgerId: number;
  from: number;
  to: number;
  /**
   * Messages in the range's entries, or -1 when not known (a range cut by a cumulative ack, or read
   * back from storage): backlog() counts those from the stored entries, once, and caches the figure
   * here. Never persisted.
   */
  messages: number;
}

export class AckRanges {
  private ranges: AckRange[] = [];

  get size(): number {
    return this.ranges.length;
  }

  /** The ranges in order. Callers must not mutate the array (they may fill in `messages`). */
  all(): readonly AckRange[] {
    return this.ranges;
  }

  /** Index of the last range starting at or before (ledgerId, entryId), or -1. */
  private floor(ledgerId: number, entryId: number): number {
    const r = this.ranges;
    let lo = 0;
    let hi = r.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const m = r[mid]!;
      if (m.ledgerId < ledgerId || (m.ledgerId === ledgerId && m.from <= entryId)) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    return found;
  }

  /** The range holding the entry, if any. */
  find(ledgerId: number, entryId: number): AckRange | undefined {
    const i = this.floor(ledgerId, entryId);
    if (i < 0) return undefined;
    const r = this.ranges[i]!;
    return r.ledgerId === ledgerId && r.to >= entryId ? r : undefined;
  }

  has(ledgerId: number, entryId: number): boolean {
    return this.find(ledgerId, entryId) !== undefined;
  }

  /**
   * Adds one entry of `messages` messages (it must not be in a range yet), merging it with the
   * ranges either side when adjacent.
   */
  add(ledgerId: number, entryId: number, messages: number): void {
    const r = this.ranges;
    const i = this.floor(ledgerId, entryId);
    const left = i >= 0 ? r[i]! : undefined;
    const right = r[i + 1];
    const joinsLeft = left !== undefined && left.ledgerId === ledgerId && left.to === entryId - 1;
    const joinsRight = right !== undefined && right.ledgerId === ledgerId && right.from === entryId + 1;
    if (joinsLeft && joinsRight) {
      left.to = right.to;
      left.messages = sumKnown(sumKnown(left.messages, messages), right.messages);
      r.splice(i + 1, 1);
    } else if (joinsLeft) {
      left.to = entryId;
      left.messages = sumKnown(left.messages, messages);
    } else if (joinsRight) {
      right.from = entryId;
      right.messages = sumKnown(right.messages, messages);
    } else {
      r.splice(i + 1, 0, { ledgerId, from: entryId, to: entryId, messages });
    }
  }

  /** Appends a range known to sort after every range held (loading the stored form). */
  push(range: AckRange): void {
    this.ranges.push(range);
  }

  /** Drops everything at or before `p` (a range straddling it is cut, its message count forgotten). */
  dropThrough(p: Position): void {
    const r = this.ranges;
    let n = 0;
    while (n < r.length) {
      const x = r[n]!;
      if (x.ledgerId > p.ledgerId || (x.ledgerId === p.ledgerId && x.from > p.entryId)) break;
      if (x.ledgerId === p.ledgerId && x.to > p.entryId) {
        x.from = p.entryId + 1;
        x.messages = -1;
        break;
      }
      n++;
    }
    if (n > 0) r.splice(0, n);
  }

  /** The first range, if any. */
  first(): AckRange | undefined {
    return this.ranges[0];
  }

  clear(): void {
    this.ranges = [];
  }
}

function sumKnown(a: number, b: number): number {
  return a < 0 || b < 0 ? -1 : a + b;
}
