/**
 * Placing an actor on a host worker by rendezvous (highest random weight) hashing of its name: the
 * same name always lands on the same live host, and when a host leaves only its own actors move.
 */
import { murmur3_32 } from '../../core/topic/murmur3.js';
const utf8 = new TextEncoder();

/** A host's weight for a name: Murmur3-32 of the name, seeded per host. */
function hash32(s: string, seed: number): number {
  return murmur3_32(utf8.encode(s), seed >>> 0);
}

/** The host (from `live`, a list of host indexes) that `name` belongs on. */
export function placeActor(name: string, live: readonly number[]): number {
  let best = -1;
  let bestWeight = -1;
  for (const host of live) {
    const w = hash32(name, host * 0x9e3779b1);
    if (w > bestWeight) {
      bestWeight = w;
      best = host;
    }
  }
  return best;
}
