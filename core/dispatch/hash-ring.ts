/**
 * The Key_Shared consistent-hash ring (Pulsar's ConsistentHashingStickyKeyConsumerSelector, AUTO_SPLIT
 * mode). Each consumer puts POINTS_PER_CONSUMER points at Murmur3(`name` NUL `i`) mod rangeSize; a hash
 * belongs to the consumer of the first point at or after it, wrapping to the first point. Points depend
 * only on the name, so a consumer that reconnects under its name gets its keys back, and a join or a
 * leave moves only the hashes next to that consumer's points (about 1/n of them).
 *
 * Colliding points (two consumers, same point) go to the lowest priority value, then the smallest name
 * (UTF-16 order, as Java's compareTo). Consumers sharing a name share every point; point `i` then goes
 * to the `i mod k`-th of those k consumers in id order, so same-named instances split the keys instead
 * of one taking all (Pulsar balances them with selection counters; this is the deterministic version).
 * Pulsar orders colliding priorities the other way round (its comparator is reversed); we keep "lower
 * value = higher priority" everywhere.
 *
 * Kept as parallel arrays (point hashes, owner ids) sorted by hash: rebuilt on each membership change
 * (rare), searched by bisection on each message.
 */
import type { ConsumerSlot } from './types.js';
import { murmur3_32Utf8 } from './murmur3.js';

/** 100 points per consumer, Pulsar's default (subscriptionKeySharedConsistentHashingReplicaPoints). */
export const POINTS_PER_CONSUMER = 100;

interface Candidate { slot: ConsumerSlot; point: number }

export class HashRing {
  private readonly hashes: Int32Array;
  private readonly owners: number[];

  constructor(slots: readonly ConsumerSlot[], readonly rangeSize: number, pointsPerConsumer = POINTS_PER_CONSUMER) {
    const byHash = new Map<number, Candidate[]>();
    for (const slot of slots) {
      for (let i = 0; i < pointsPerConsumer; i++) {
        const h = (murmur3_32Utf8(`${slot.name}\u0000${i}`) & 0x7fffffff) % rangeSize;
        let list = byHash.get(h);
        if (list === undefined) byHash.set(h, (list = []));
        list.push({ slot, point: i });
      }
    }
    const sorted = [...byHash.keys()].sort((a, b) => a - b);
    this.hashes = Int32Array.from(sorted);
    this.owners = sorted.map((h) => pickOwner(byHash.get(h)!));
  }

  /** The consumer id owning `hash`, or undefined when the ring is empty. */
  owner(hash: number): number | undefined {
    const n = this.hashes.length;
    if (n === 0) return undefined;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.hashes[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === n ? 0 : lo];
  }

  /** Number of distinct points (tests). */
  get size(): number {
    return this.hashes.length;
  }
}

function pickOwner(cands: Candidate[]): number {
  if (cands.length === 1) return cands[0]!.slot.id;
  let best = cands[0]!.slot;
  for (const c of cands) {
    const s = c.slot;
    if (s.priority < best.priority || (s.priority === best.priority && s.name < best.name)) best = s;
  }
  const twins = cands.filter((c) => c.slot.priority === best.priority && c.slot.name === best.name);
  if (twins.length === 1) return twins[0]!.slot.id;
  twins.sort((a, b) => a.slot.id - b.slot.id);
  return twins[twins[0]!.point % twins.length]!.slot.id;
}
