/**
 * A map keyed by message identity (ledgerId, entryId, batchIndex) without building a key per lookup.
 *
 * Why not `Map<string, V>` with `ledger:entry:batch` keys: building that string per message per
 * operation (offer, assign, ack) was the largest constant cost of dispatch (a 100-byte-message queue
 * ran at 50-75k msg/s with string keys in the profile's top frames). A single number key does not work
 * either: ledger and entry IDs are each safe integers, so `ledgerId * 2^k + entryId` can overflow 2^53.
 * Instead: ledger -> entry -> a slot array indexed by batch index (u16), so a lookup is two numeric Map
 * lookups and an array index, and the entries of one ledger share one inner map. The last ledger
 * looked up is cached: consecutive operations nearly always touch the same ledger.
 */
import type { MessageRef } from './types.js';

/** The messages of one entry that are in the map, by batch index. */
class EntrySlots<V> {
  n = 0;
  readonly slots: (V | undefined)[] = [];
}

export class RefMap<V> {
  private readonly ledgers = new Map<number, Map<number, EntrySlots<V>>>();
  private cachedId = -1;
  private cached: Map<number, EntrySlots<V>> | undefined;
  private count = 0;

  get size(): number {
    return this.count;
  }

  private ledger(ledgerId: number, create: boolean): Map<number, EntrySlots<V>> | undefined {
    if (ledgerId === this.cachedId && this.cached !== undefined) return this.cached;
    let l = this.ledgers.get(ledgerId);
    if (l === undefined) {
      if (!create) return undefined;
      this.ledgers.set(ledgerId, (l = new Map()));
    }
    this.cachedId = ledgerId;
    this.cached = l;
    return l;
  }

  get(m: MessageRef): V | undefined {
    const l = this.ledger(m.position.ledgerId, false);
    if (l === undefined) return undefined;
    const e = l.get(m.position.entryId);
    return e === undefined ? undefined : e.slots[m.batchIndex];
  }

  /** Sets the value of `m`; `v` must not be undefined. */
  set(m: MessageRef, v: V): void {
    const l = this.ledger(m.position.ledgerId, true)!;
    let e = l.get(m.position.entryId);
    if (e === undefined) l.set(m.position.entryId, (e = new EntrySlots<V>()));
    // Fill holes up to the index so the slot array stays packed (V8 keeps a packed array fast).
    const slots = e.slots;
    while (slots.length < m.batchIndex) slots.push(undefined);
    if (slots[m.batchIndex] === undefined) {
      e.n++;
      this.count++;
    }
    slots[m.batchIndex] = v;
  }

  /** Removes `m`; returns whether it was there. */
  delete(m: MessageRef): boolean {
    const l = this.ledger(m.position.ledgerId, false);
    if (l === undefined) return false;
    const e = l.get(m.position.entryId);
    if (e === undefined || e.slots[m.batchIndex] === undefined) return false;
    e.slots[m.batchIndex] = undefined;
    this.count--;
    if (--e.n === 0) {
      l.delete(m.position.entryId);
      if (l.size === 0) {
        this.ledgers.delete(m.position.ledgerId);
        if (this.cached === l) this.cached = undefined;
      }
    }
    return true;
  }

  /** Every value, in no particular order. */
  *values(): IterableIterator<V> {
    for (const l of this.ledgers.values()) {
      for (const e of l.values()) {
        for (const v of e.slots) if (v !== undefined) yield v;
      }
    }
  }
}
