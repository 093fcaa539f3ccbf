/**
 * Model-based test of messaging, for each subscription type: random sequences of send, receive,
 * ack, cumulative ack, nack, ack timeout, consumer join and leave, seek, producer restart with
 * resend and broker restart run against a real broker (real workers, real LMDB) beside a small
 * model of what the semantics determine. Exact delivery order to a consumer is not determined, so
 * the model checks what is:
 * - after each receive: the message is not held by another consumer right now (one consumer at a
 *   time), on key_shared no other consumer holds its key, and the recorded history so far has no
 *   anomaly (nothing unsent, nothing acked delivered again, first receipts in key order on
 *   exclusive, failover and key_shared, IDs never reused);
 * - an ack of a message the consumer surely holds resolves; a resend after a producer restart is
 *   acknowledged as a duplicate and stored once (G4); a second exclusive consumer is refused;
 * - at the end, a consumer drains the subscription: every sent message was received at least once
 *   (at-least-once of unacked messages) and no acked one came again.
 * Each type runs twice: with the default rings, and with 64 KiB rings and every third value 12 KB,
 * so sends and deliveries larger than a ring record (which travel in fragments) mix with small ones.
 * Commands print as a story, so a shrunk counterexample reads e.g.
 * `send(k1 x2), join(c1), receive(c1), broker-restart, receive(c0), ack(c0 newest)`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Broker, MessageId, MillraceError, type Message, type Producer } from '../../index.js';
import { checkHistory, HistoryRecorder, type RecordedConsumer, type RecordedProducer, type SubscriptionKind } from '../../testkit/index.js';
import type { SubscriptionType } from '../../core/dispatch/index.js';
import { runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

const ACK_TIMEOUT_MS = 400;
const NACK_DELAY_MS = 10;
const KEYS = ['k0', 'k1', 'k2'];
const MAX_CONSUMERS = 3;
const enc = new TextEncoder();

interface Held { msg: Message<Uint8Array>; value: string; key: string | undefined; at: number }
interface Slot { name: string; consumer: RecordedConsumer<Uint8Array>; held: Map<string, Held> }
interface Sent { value: string; key: string | undefined; seq: number; id: MessageId }

/** How a run's broker is opened: the default rings, or small ones with large values among the small. */
interface Variant {
  name: string;
  ringBytes?: number;
  /** Every third value is padded with spaces to this many bytes (receivers trim them). */
  largeValueBytes?: number;
  /** The consumers' receiverQueueSize (0: zero-queue consumers). @default 4 */
  receiverQueueSize?: number;
}

/** One run's world: the real broker and the model beside it. */
interface World {
  type: SubscriptionType;
  variant: Variant;
  dir: string;
  topic: string;
  broker: Broker;
  rec: HistoryRecorder;
  producer: RecordedProducer<Uint8Array>;
  slots: (Slot | undefined)[];
  sent: Sent[];
  nextValue: number;
  story: string[];
}

const SUB = 'm';

function openBroker(w: { dir: string; variant: Variant }): Promise<Broker> {
  return Broker.open({ dataDir: w.dir, workers: 1, policies: { retention: { timeMs: -1, sizeBytes: -1 } }, ...(w.variant.ringBytes ? { ringBytes: w.variant.ringBytes } : {}) });
}

/** A value's bytes: `v<n>`, padded in the large-value variant for every third n. */
function valueBytes(w: World, value: string): Uint8Array {
  const big = w.variant.largeValueBytes;
  return enc.encode(big !== undefined && Number(value.slice(1)) % 3 === 0 ? value.padEnd(big) : value);
}
const kindOf = (t: SubscriptionType): SubscriptionKind => t;

async function openProducer(w: World): Promise<RecordedProducer<Uint8Array>> {
  const p: Producer<Uint8Array> = await w.broker.createProducer({ topic: w.topic, name: 'model-producer', batching: { maxMessages: 4, maxDelayMs: 1 } });
  return w.rec.producer(p, 'model-producer');
}

async function subscribe(w: World, name: string): Promise<RecordedConsumer<Uint8Array>> {
  const c = await w.broker.subscribe({
    topic: w.topic, subscription: SUB, type: w.type, consumerName: name, initialPosition: 'earliest',
    receiverQueueSize: w.variant.receiverQueueSize ?? 4, ackTimeoutMs: ACK_TIMEOUT_MS, nackRedeliveryDelayMs: NACK_DELAY_MS,
  });
  return w.rec.consumer(c, { kind: kindOf(w.type), initialPosition: 'earliest', consumerName: name });
}

/** Held for sure: received, neither acked nor given back, and younger than the ack timeout. */
const surelyHeld = (h: Held, now: number): boolean => now - h.at < ACK_TIMEOUT_MS - 50;

function checkSoFar(w: World): void {
  const r = checkHistory(w.rec.history, { checkLost: false });
  assert.ok(r.valid, `${w.story.join(', ')}\n${r.format()}`);
}

abstract class Cmd implements fc.AsyncCommand<World, World> {
  check(_m: Readonly<World>): boolean {
    return true;
  }
  abstract run(m: World, r: World): Promise<void>;
  abstract toString(): string;
}

class Send extends Cmd {
  constructor(readonly key: number, readonly n: number) { super(); }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    const key = this.key < KEYS.length ? KEYS[this.key] : undefined;
    await Promise.all(Array.from({ length: this.n }, async () => {
      const value = `v${w.nextValue++}`;
      const id = await w.producer.send({ value: valueBytes(w, value), ...(key ? { key } : {}) });
      w.sent.push({ value, key, seq: w.producer.inner.lastSequenceId, id });
    }));
  }
  toString(): string {
    return `send(${this.key < KEYS.length ? KEYS[this.key] : 'nokey'} x${this.n})`;
  }
}

class Receive extends Cmd {
  constructor(readonly slot: number) { super(); }
  override check(m: Readonly<World>): boolean {
    return m.slots[this.slot] !== undefined;
  }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    const s = w.slots[this.slot]!;
    const msg = await s.consumer.receive({ timeoutMs: 30 });
    if (!msg) return;
    const value = new TextDecoder().decode(msg.data).trimEnd();
    const now = Date.now();
    for (const other of w.slots) {
      if (!other || other === s) continue;
      for (const h of other.held.values()) {
        if (!surelyHeld(h, now)) continue;
        assert.notEqual(h.value, value, `${w.story.join(', ')}\n${value} delivered to ${s.name} while ${other.name} holds it`);
        if (w.type === 'key_shared' && msg.key !== undefined) {
          assert.notEqual(h.key, msg.key, `${w.story.join(', ')}\nkey ${msg.key} (${value}) delivered to ${s.name} while ${other.name} holds ${h.value} of that key`);
        }
      }
    }
    s.held.set(value, { msg, value, key: msg.key, at: now });
    checkSoFar(w);
  }
  toString(): string {
    return `receive(c${this.slot})`;
  }
}

class Ack extends Cmd {
  constructor(readonly slot: number, readonly newest: boolean, readonly cumulative: boolean) { super(); }
  override check(m: Readonly<World>): boolean {
    return m.slots[this.slot] !== undefined && m.slots[this.slot]!.held.size > 0 && (!this.cumulative || m.type === 'exclusive' || m.type === 'failover');
  }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    const s = w.slots[this.slot]!;
    const all = [...s.held.values()];
    const h = this.newest ? all[all.length - 1]! : all[0]!;
    const sure = surelyHeld(h, Date.now());
    try {
      if (this.cumulative) await s.consumer.ackCumulative(h.msg);
      else await s.consumer.ack(h.msg);
    } catch (e) {
      // An ack timeout may have given it back meanwhile: then (only then) ACK_INVALID is right.
      assert.ok(!sure && e instanceof MillraceError && e.code === 'ACK_INVALID', `${w.story.join(', ')}\nack of ${h.value}, held for ${Date.now() - h.at} ms, failed: ${String(e)}`);
    }
    if (this.cumulative) {
      for (const [v, x] of s.held) if (x.msg.id.compare(h.msg.id) <= 0) s.held.delete(v);
    } else s.held.delete(h.value);
  }
  toString(): string {
    return `${this.cumulative ? 'ackCumulative' : 'ack'}(c${this.slot} ${this.newest ? 'newest' : 'oldest'})`;
  }
}

class Nack extends Cmd {
  constructor(readonly slot: number) { super(); }
  override check(m: Readonly<World>): boolean {
    return m.slots[this.slot] !== undefined && m.slots[this.slot]!.held.size > 0;
  }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    const s = w.slots[this.slot]!;
    const h = [...s.held.values()][0]!;
    try {
      s.consumer.nack(h.msg);
    } catch (e) {
      assert.ok(!surelyHeld(h, Date.now()) && e instanceof MillraceError && e.code === 'ACK_INVALID', `${w.story.join(', ')}\nnack of ${h.value} failed: ${String(e)}`);
    }
    s.held.delete(h.value);
  }
  toString(): string {
    return `nack(c${this.slot} oldest)`;
  }
}

class WaitAckTimeout extends Cmd {
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    await new Promise((r) => setTimeout(r, ACK_TIMEOUT_MS * 1.5));
    // Everything held was given back by the consumers' ack-timeout timers.
    for (const s of w.slots) s?.held.clear();
  }
  toString(): string {
    return 'wait(ackTimeout)';
  }
}

class Join extends Cmd {
  constructor(readonly slot: number) { super(); }
  override check(m: Readonly<World>): boolean {
    return m.slots[this.slot] === undefined;
  }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    const name = `c${this.slot}`;
    const busy = w.type === 'exclusive' && w.slots.some((s) => s !== undefined);
    try {
      const c = await subscribe(w, name);
      assert.ok(!busy, `${w.story.join(', ')}\na second exclusive consumer was accepted`);
      w.slots[this.slot] = { name, consumer: c, held: new Map() };
    } catch (e) {
      assert.ok(busy && e instanceof MillraceError && e.code === 'CONSUMER_BUSY', `${w.story.join(', ')}\njoin failed: ${String(e)}`);
    }
  }
  toString(): string {
    return `join(c${this.slot})`;
  }
}

class Leave extends Cmd {
  constructor(readonly slot: number) { super(); }
  override check(m: Readonly<World>): boolean {
    return m.slots[this.slot] !== undefined;
  }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    await w.slots[this.slot]!.consumer.close();
    w.slots[this.slot] = undefined;
  }
  toString(): string {
    return `leave(c${this.slot})`;
  }
}

class Seek extends Cmd {
  constructor(readonly slot: number) { super(); }
  override check(m: Readonly<World>): boolean {
    return m.slots[this.slot] !== undefined;
  }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    await w.slots[this.slot]!.consumer.seek(MessageId.earliest);
    // A seek resets every consumer of the subscription: nothing is held any more.
    for (const s of w.slots) s?.held.clear();
  }
  toString(): string {
    return `seek(c${this.slot} earliest)`;
  }
}

class ProducerRestart extends Cmd {
  constructor(readonly resend: number) { super(); }
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    await w.producer.close();
    w.producer = await openProducer(w);
    // The last sends again with their sequence IDs: each must be acknowledged as a duplicate.
    for (const s of w.sent.slice(-this.resend)) {
      const id = await w.producer.send({ value: valueBytes(w, s.value), sequenceId: s.seq, ...(s.key ? { key: s.key } : {}) });
      assert.equal(id.ledgerId, -1, `${w.story.join(', ')}\nthe resend of ${s.value} (sequence ID ${s.seq}) was stored again as ${id.toString()} (G4)`);
    }
  }
  toString(): string {
    return `producer-restart(resend ${this.resend})`;
  }
}

class BrokerRestart extends Cmd {
  async run(w: World): Promise<void> {
    w.story.push(this.toString());
    await w.broker.close();
    w.broker = await openBroker(w);
    w.producer = await openProducer(w);
    for (const [i, s] of w.slots.entries()) {
      if (!s) continue;
      w.slots[i] = { name: s.name, consumer: await subscribe(w, s.name), held: new Map() };
    }
  }
  toString(): string {
    return 'broker-restart';
  }
}

function commands(type: SubscriptionType): fc.Arbitrary<Iterable<fc.AsyncCommand<World, World>>> {
  const slot = fc.nat({ max: MAX_CONSUMERS - 1 });
  const cumulative = type === 'exclusive' || type === 'failover' ? fc.boolean() : fc.constant(false);
  const send = fc.tuple(fc.nat({ max: KEYS.length }), fc.integer({ min: 1, max: 6 })).map(([k, n]) => new Send(k, n));
  const arbs: fc.Arbitrary<fc.AsyncCommand<World, World>>[] = [
    send, send, send,
    slot.map((s) => new Receive(s)),
    slot.map((s) => new Receive(s)),
    slot.map((s) => new Receive(s)),
    fc.tuple(slot, fc.boolean(), cumulative).map(([s, n, c]) => new Ack(s, n, c)),
    fc.tuple(slot, fc.boolean(), cumulative).map(([s, n, c]) => new Ack(s, n, c)),
    slot.map((s) => new Nack(s)),
    fc.constant(new WaitAckTimeout()),
    slot.map((s) => new Join(s)),
    slot.map((s) => new Leave(s)),
    slot.map((s) => new Seek(s)),
    fc.integer({ min: 1, max: 3 }).map((n) => new ProducerRestart(n)),
    fc.constant(new BrokerRestart()),
  ];
  // size 'max': sequences up to maxCommands long (the default size makes them a handful).
  return fc.commands(arbs, { maxCommands: 30, size: 'max' });
}

/** Closes the consumers, then drains the subscription with a fresh consumer and checks everything. */
async function drainAndCheck(w: World): Promise<void> {
  for (const s of w.slots) await s?.consumer.close();
  w.slots = [];
  const c = await subscribe(w, 'drainer');
  // Quiet for 300 ms ends the drain only once the subscription has no backlog left: on a loaded
  // machine a redelivery can take longer than that, and stopping early looks like a lost message.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const m = await c.receive({ timeoutMs: 300 });
    if (m) {
      await c.ack(m);
      continue;
    }
    if ((await w.broker.admin.stats(w.topic)).subscriptions[SUB]?.msgBacklog === 0 || Date.now() > deadline) break;
  }
  const r = checkHistory(w.rec.history);
  assert.ok(r.valid, `${w.story.join(', ')}, drain\n${r.format()}`);
}

const VARIANTS: { variant: Variant; runs: number; soakRuns: number }[] = [
  { variant: { name: '' }, runs: 8, soakRuns: 400 },
  { variant: { name: ', large records', ringBytes: 2 ** 16, largeValueBytes: 12_000 }, runs: 3, soakRuns: 100 },
  { variant: { name: ', zero-queue consumers', receiverQueueSize: 0 }, runs: 3, soakRuns: 100 },
];

for (const { variant, runs: normalRuns, soakRuns } of VARIANTS) {
  for (const type of ['exclusive', 'failover', 'shared', 'key_shared'] as const) {
    test(`messaging model (${type}${variant.name}) - at-least-once of unacked messages, no redelivery after ack, one holder per message${type === 'key_shared' ? ' and per key' : ''}, order per key, dedup of resends, across consumer churn, seeks and restarts`, async () => {
      const seed = testSeed(20261202);
      await fc.assert(
        fc.asyncProperty(commands(type), async (cmds) => {
          const dir = tempDir('millrace-msg-model');
          const w: World = {
            type, variant, dir, topic: 'persistent://public/default/model', broker: await openBroker({ dir, variant }),
            rec: new HistoryRecorder(), producer: undefined as unknown as RecordedProducer<Uint8Array>, slots: [], sent: [], nextValue: 0, story: [],
          };
          try {
            w.producer = await openProducer(w);
            // One consumer from the start, so every subscription exists before the first send.
            await new Join(0).run(w);
            await fc.asyncModelRun(() => ({ model: w, real: w }), cmds);
            await drainAndCheck(w);
          } finally {
            await w.broker.close().catch(() => undefined);
            removeDir(dir);
          }
        }),
        { seed, numRuns: runs(normalRuns, soakRuns), verbose: 1 },
      ).catch((err: unknown) => {
        throw new Error(`messaging model (${type}${variant.name}) failed with seed ${seed} (rerun: MILLRACE_SEED=${seed})\n${String(err)}`);
      });
    });
  }
}
