/**
 * A driver for model-based dispatch tests: it plays the partition actor (keeps the backlog of held and
 * returned messages, offers it again in log order after every step, acks what consumers hold) and
 * checks the invariants every subscription type shares after each command:
 * - conservation: every sent message is exactly one of: waiting in the backlog, pending at exactly one
 *   consumer, acked. (So no message is held by two consumers and none is lost.)
 * - permits: no consumer was ever assigned more messages than it was granted.
 * Type-specific checks hook in through `onDeliver` and `check`. Commands print as a story:
 * `send(k1),join(c2),ack(c1,k1#0),...` where `k1#0` is the first message sent with key k1.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compareRefs, createDispatcher, refKey, type Dispatcher, type MessageRef, type SubscriptionType } from '../../core/dispatch/index.js';

export interface World {
  d: Dispatcher;
  sent: MessageRef[];
  labels: Map<string, string>;
  perKeyCount: Map<string, number>;
  backlog: MessageRef[];
  /** Nacked messages whose redelivery delay has not passed: not offered until `redeliver()`. */
  delayed: MessageRef[];
  acked: Set<string>;
  ids: Map<string, number>; // consumer name -> id of its current connection
  nextId: number;
  granted: Map<number, number>;
  assigned: Map<number, number>;
  /** Type-specific check when `m` is delivered to consumer `id` (before the world records it). */
  onDeliver: (w: World, id: number, m: MessageRef) => void;
  /** Type-specific invariant checked after every command. */
  check: (w: World) => void;
}

export interface Model { joined: Set<string>; type: SubscriptionType }

export type Cmd = fc.Command<Model, World>;

export function newWorld(type: SubscriptionType, hooks: Partial<Pick<World, 'onDeliver' | 'check'>> = {}): World {
  return {
    d: createDispatcher(type), sent: [], labels: new Map(), perKeyCount: new Map(), backlog: [], delayed: [], acked: new Set(),
    ids: new Map(), nextId: 1, granted: new Map(), assigned: new Map(),
    onDeliver: hooks.onDeliver ?? (() => {}), check: hooks.check ?? (() => {}),
  };
}

export function label(w: World, m: MessageRef): string {
  return w.labels.get(refKey(m)) ?? refKey(m);
}

/** Offers the whole backlog (log order) and records what was assigned. */
export function pump(w: World): void {
  const r = w.d.dispatch(w.backlog);
  for (const [id, ms] of r.assigned) {
    for (const m of ms) w.onDeliver(w, id, m);
    w.assigned.set(id, (w.assigned.get(id) ?? 0) + ms.length);
  }
  w.backlog = r.held;
}

function giveBack(w: World, ms: MessageRef[]): void {
  w.backlog = [...w.backlog, ...ms].sort(compareRefs);
}

/** The invariants every type shares, then the type's own. */
export function checkAll(w: World): void {
  const where = new Map<string, string>();
  const put = (m: MessageRef, place: string) => {
    const k = refKey(m);
    const prev = where.get(k);
    assert.equal(prev, undefined, `${label(w, m)} is both ${prev} and ${place}`);
    where.set(k, place);
  };
  for (const m of w.backlog) put(m, 'waiting');
  for (const m of w.delayed) put(m, 'waiting out its nack delay');
  for (const c of w.d.consumers()) for (const m of w.d.pending(c.id)) put(m, `held by consumer ${c.id}`);
  for (const k of w.acked) put(w.sent.find((m) => refKey(m) === k)!, 'acked');
  for (const m of w.sent) assert.ok(where.has(refKey(m)), `${label(w, m)} was lost: not waiting, held or acked`);
  assert.equal(where.size, w.sent.length);
  for (const [id, n] of w.assigned) assert.ok(n <= (w.granted.get(id) ?? 0), `consumer ${id} got ${n} messages for ${w.granted.get(id)} permits`);
  w.check(w);
}

function ack(w: World, id: number, m: MessageRef): void {
  w.d.onAck(id, m);
  w.acked.add(refKey(m));
}

/** Drives to quiescence: permits for everyone, ack everything held, until every message is acked. */
export function quiesce(w: World): void {
  if (w.ids.size === 0) {
    const id = w.nextId++;
    w.d.addConsumer({ id, name: 'cq', priority: 0 });
    w.ids.set('cq', id);
  }
  giveBack(w, w.delayed);
  w.delayed = [];
  for (let round = 0; round < 100 && w.acked.size < w.sent.length; round++) {
    for (const id of w.ids.values()) grant(w, id, 1000);
    pump(w);
    checkAll(w);
    for (const id of w.ids.values()) {
      for (const m of w.d.pending(id)) {
        ack(w, id, m);
        pump(w);
        checkAll(w);
      }
    }
  }
  assert.equal(w.acked.size, w.sent.length, `not every message was acked; still waiting: ${w.backlog.map((m) => label(w, m)).join(',')}`);
}

function grant(w: World, id: number, n: number): void {
  w.d.addPermits(id, n);
  w.granted.set(id, (w.granted.get(id) ?? 0) + n);
}

function pick(ms: MessageRef[], which: 'oldest' | number): MessageRef | undefined {
  if (ms.length === 0) return undefined;
  return which === 'oldest' ? ms[0] : ms[which % ms.length];
}

// ---- commands ----------------------------------------------------------------------------------------

export class Send implements Cmd {
  constructor(readonly key: string | null) {}
  check(): boolean { return true; }
  run(_m: Model, w: World): void {
    const k = this.key ?? '_';
    const n = w.perKeyCount.get(k) ?? 0;
    w.perKeyCount.set(k, n + 1);
    const m: MessageRef = { position: { ledgerId: 1, entryId: w.sent.length }, batchIndex: 0, key: this.key };
    w.sent.push(m);
    w.labels.set(refKey(m), `${k}#${n}`);
    w.backlog.push(m);
    pump(w);
    checkAll(w);
  }
  toString(): string { return `send(${this.key ?? '_'})`; }
}

export class Join implements Cmd {
  constructor(readonly name: string, readonly priority = 0, readonly exclusive = false) {}
  check(m: Model): boolean { return !m.joined.has(this.name) && !(this.exclusive && m.joined.size > 0); }
  run(m: Model, w: World): void {
    const id = w.nextId++;
    w.d.addConsumer({ id, name: this.name, priority: this.priority });
    w.ids.set(this.name, id);
    m.joined.add(this.name);
    pump(w);
    checkAll(w);
  }
  toString(): string { return this.priority === 0 ? `join(${this.name})` : `join(${this.name},p${this.priority})`; }
}

export class Leave implements Cmd {
  constructor(readonly name: string) {}
  check(m: Model): boolean { return m.joined.has(this.name); }
  run(m: Model, w: World): void {
    const back = w.d.removeConsumer(w.ids.get(this.name)!);
    w.ids.delete(this.name);
    m.joined.delete(this.name);
    giveBack(w, back);
    pump(w);
    checkAll(w);
  }
  toString(): string { return `leave(${this.name})`; }
}

export class Ack implements Cmd {
  private done = '';
  constructor(readonly name: string, readonly which: 'oldest' | number) {}
  check(m: Model): boolean { return m.joined.has(this.name); }
  run(_m: Model, w: World): void {
    const id = w.ids.get(this.name)!;
    const m = pick(w.d.pending(id), this.which);
    this.done = m === undefined ? 'nothing' : label(w, m);
    if (m !== undefined) ack(w, id, m);
    pump(w);
    checkAll(w);
  }
  toString(): string { return `ack(${this.name},${this.done || this.which})`; }
}

export class AckCumulative implements Cmd {
  private done = '';
  constructor(readonly name: string, readonly which: number) {}
  check(m: Model): boolean { return m.joined.has(this.name); }
  run(_m: Model, w: World): void {
    const id = w.ids.get(this.name)!;
    const held = w.d.pending(id);
    const upTo = pick(held, this.which);
    this.done = upTo === undefined ? 'nothing' : label(w, upTo);
    if (upTo !== undefined) {
      w.d.onAckCumulative(id, upTo);
      for (const m of held) if (compareRefs(m, upTo) <= 0) w.acked.add(refKey(m));
    }
    pump(w);
    checkAll(w);
  }
  toString(): string { return `ackCumulative(${this.name},${this.done || this.which})`; }
}

export class Nack implements Cmd {
  private done = '';
  constructor(readonly name: string, readonly which: 'oldest' | number) {}
  check(m: Model): boolean { return m.joined.has(this.name); }
  run(_m: Model, w: World): void {
    const id = w.ids.get(this.name)!;
    const m = pick(w.d.pending(id), this.which);
    this.done = m === undefined ? 'nothing' : label(w, m);
    // The redelivery waits for a later redeliver(): meanwhile later messages are offered without it.
    if (m !== undefined) w.delayed.push(...w.d.release(id, [m]));
    pump(w);
    checkAll(w);
  }
  toString(): string { return `nack(${this.name},${this.done || this.which})`; }
}

/** The nack delay passes: every delayed message is offered again. */
export class Redeliver implements Cmd {
  check(): boolean { return true; }
  run(_m: Model, w: World): void {
    giveBack(w, w.delayed);
    w.delayed = [];
    pump(w);
    checkAll(w);
  }
  toString(): string { return 'redeliver()'; }
}

export class Grant implements Cmd {
  constructor(readonly name: string, readonly n: number) {}
  check(m: Model): boolean { return m.joined.has(this.name); }
  run(_m: Model, w: World): void {
    grant(w, w.ids.get(this.name)!, this.n);
    pump(w);
    checkAll(w);
  }
  toString(): string { return `grantPermits(${this.name},${this.n})`; }
}

export const consumerName = fc.constantFrom('c1', 'c2', 'c3');
export const ackPick = fc.oneof(fc.constant<'oldest'>('oldest'), fc.nat(20));
export const permitCount = fc.integer({ min: 1, max: 4 });
