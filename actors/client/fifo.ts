/**
 * A first-in first-out queue on a ring of slots that doubles when full. A consumer's buffer takes a
 * message in and out per message: Array#shift moves every element, and an array with a moving head
 * index must be compacted now and then (a copy of what is buffered). Here a push and a shift each
 * touch one slot, and nothing is allocated while the buffer stays within its size.
 */
export class Fifo<T> {
  private slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor(capacity = 16) {
    let n = 16;
    while (n < capacity) n *= 2;
    this.slots = new Array<T | undefined>(n).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  push(x: T): void {
    if (this.count === this.slots.length) this.grow();
    this.slots[(this.head + this.count) & (this.slots.length - 1)] = x;
    this.count++;
  }

  /** The oldest item, left in place; undefined when empty. */
  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  /** The oldest item, removed; undefined when empty. */
  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const x = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & (this.slots.length - 1);
    this.count--;
    return x;
  }

  /** Keeps only the items `keep` accepts, in order. */
  retain(keep: (x: T) => boolean): void {
    const kept: T[] = [];
    for (let i = 0; i < this.count; i++) {
      const x = this.slots[(this.head + i) & (this.slots.length - 1)]!;
      if (keep(x)) kept.push(x);
    }
    this.clear();
    for (const x of kept) this.push(x);
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.count = 0;
  }

  private grow(): void {
    const old = this.slots;
    const next = new Array<T | undefined>(old.length * 2).fill(undefined);
    for (let i = 0; i < this.count; i++) next[i] = old[(this.head + i) & (old.length - 1)];
    this.slots = next;
    this.head = 0;
  }
}
