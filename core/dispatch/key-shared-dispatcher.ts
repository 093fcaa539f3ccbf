/**
 * Key_Shared (Pulsar's PersistentStickyKeyDispatcherMultipleConsumers in AUTO_SPLIT mode with
 * consistent hashing, and PIP-379 "draining hashes").
 *
 * A message's sticky hash is Murmur3-32 of its key bytes mod the hash range size (no key: the empty
 * key); the hash ring (hash-ring.ts) names the consumer that owns the hash. While membership is stable
 * every message of a key goes to that one owner.
 *
 * The invariant (PIP-379's contract): messages of one hash are pending at one consumer at a time. A
 * message goes to its owner only if no other consumer holds a pending message of its hash. When a join
 * moves a hash to the new consumer, the previous owner's pending messages of that hash make the hash
 * "draining": its messages are held until the previous owner has acked or released every one of them
 * (or left). Pulsar registers draining hashes at the join; here a hash is draining exactly when it has
 * a holder other than its owner, so the same rule also covers leaves, reconnects under the same name
 * and a hash moving back to its holder (it simply stops being blocked).
 *
 * Order (G3). A message is also held while an earlier message of its hash waits for redelivery: given
 * back by removeConsumer (a leave) or by release (nack, ack timeout) and not yet assigned again. So a
 * leaving consumer's messages go out before any later message of their keys, whichever consumer the
 * keys move to; and a nacked message is redelivered before later messages of its key. That is stronger
 * than Pulsar, which keeps no key order across nacks (PIP-379 leaves it to future work): a nack with a
 * redelivery delay here pauses its key for that delay, and only that key. Within one dispatch call,
 * once a hash is held every later message of it is held too. The caller's part: offer held and
 * returned messages again, in log order; report messages it drops (DLQ, TTL) with onAck.
 */
import { BaseDispatcher, type ConsumerState, type Tracked, invalid } from './base-dispatcher.js';
import { HashRing } from './hash-ring.js';
import { stickyKeyHash } from './murmur3.js';
import { compareRefs } from './position.js';
import type { MessageRef } from './types.js';

/** 2^16 hashes, Pulsar 4's range since PIP-379 (bounded draining-state memory, spread unaffected). */
export const DEFAULT_HASH_RANGE_SIZE = 65536;

interface HashHolder { consumer: ConsumerState; count: number }

export class KeySharedDispatcher extends BaseDispatcher {
  readonly type = 'key_shared' as const;
  private ring: HashRing;
  /** Hash -> the one consumer holding pending messages of it, and how many. */
  private readonly holders = new Map<number, HashHolder>();
  /** Hash -> returned messages of that hash waiting to be assigned again, in position order. */
  private readonly awaiting = new Map<number, MessageRef[]>();
  // Per dispatch call.
  private hashes: number[] = [];
  private readonly heldHashes = new Set<number>();

  constructor(readonly rangeSize: number) {
    super();
    if (!Number.isSafeInteger(rangeSize) || rangeSize < 1 || rangeSize > 0x7fffffff) {
      throw invalid(`keySharedHashRangeSize must be an integer in [1, 2^31 - 1], got ${String(rangeSize)}`);
    }
    this.ring = new HashRing([], rangeSize);
  }

  /** The sticky hash of a key, in [0, rangeSize). */
  hashOf(key: string | null): number {
    return stickyKeyHash(key, this.rangeSize);
  }

  /** The consumer id that owns `key` now (ignoring draining), or undefined with no consumers. */
  ownerOf(key: string | null): number | undefined {
    return this.ring.owner(this.hashOf(key));
  }

  /** Hashes whose messages are pending at a consumer other than their owner (stats: "draining"). */
  drainingHashes(): number[] {
    const out: number[] = [];
    for (const [h, holder] of this.holders) if (this.ring.owner(h) !== holder.consumer.slot.id) out.push(h);
    return out.sort((a, b) => a - b);
  }

  protected membershipChanged(): void {
    this.ring = new HashRing([...this.states.values()].map((s) => s.slot), this.rangeSize);
  }

  protected override beginDispatch(ms: readonly MessageRef[]): void {
    // Hash (and validate keys) before anything is assigned: a bad key refuses the whole call.
    this.hashes = ms.map((m) => this.hashOf(m.key));
    this.heldHashes.clear();
  }

  protected override hashAt(i: number): number {
    return this.hashes[i]!;
  }

  protected select(m: MessageRef, i: number): ConsumerState | undefined {
    const h = this.hashes[i]!;
    if (this.heldHashes.has(h)) return undefined;
    const c = this.pick(m, h);
    if (c === undefined) this.heldHashes.add(h);
    return c;
  }

  private pick(m: MessageRef, h: number): ConsumerState | undefined {
    const id = this.ring.owner(h);
    if (id === undefined) return undefined;
    const owner = this.states.get(id)!;
    const waiting = this.awaiting.get(h);
    if (waiting !== undefined && compareRefs(waiting[0]!, m) < 0) return undefined; // earlier redelivery first
    const holder = this.holders.get(h);
    if (holder !== undefined && holder.consumer !== owner) return undefined; // draining
    return owner.permits > 0 ? owner : undefined;
  }

  protected override onAssigned(c: ConsumerState, t: Tracked): void {
    const holder = this.holders.get(t.hash);
    if (holder === undefined) this.holders.set(t.hash, { consumer: c, count: 1 });
    else holder.count++;
  }

  protected override onUnassigned(_c: ConsumerState, t: Tracked): void {
    const holder = this.holders.get(t.hash)!;
    if (--holder.count === 0) this.holders.delete(t.hash);
  }

  protected override onReturned(t: Tracked): void {
    let list = this.awaiting.get(t.hash);
    if (list === undefined) this.awaiting.set(t.hash, (list = []));
    let i = list.length;
    while (i > 0 && compareRefs(list[i - 1]!, t.ref) > 0) i--;
    list.splice(i, 0, t.ref);
  }

  protected override onReturnCleared(t: Tracked): void {
    const list = this.awaiting.get(t.hash);
    if (list === undefined) return;
    const i = list.findIndex((r) => compareRefs(r, t.ref) === 0);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.awaiting.delete(t.hash);
  }
}
