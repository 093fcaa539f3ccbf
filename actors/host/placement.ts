/**
 * Placing an actor on a host worker: the live host with the fewest actors, ties broken by
 * rendezvous (highest random weight) hashing of the actor's name. Rendezvous hashing alone is stable
 * but uneven at the sizes that matter here: it put the 4 partitions of a topic 1:3 or 0:4 on two
 * hosts (a topic named `events` all on one), so one host did three times the work while the other
 * idled. Counting actors spreads a topic's partitions evenly, as Pulsar's load manager places
 * bundles on the least loaded broker. An actor stays where it was placed: only the actors of a host
 * that dies are placed again, so a host leaving moves nothing else.
 */
import { murmur3_32 } from '../../core/topic/murmur3.js';
const utf8 = new TextEncoder();

/** A host's weight for a name: Murmur3-32 of the name, seeded per host. */
function hash32(s: string, seed: number): number {
  return murmur3_32(utf8.encode(s), seed >>> 0);
}

/**
 * The host (from `live`, a list of host indexes) that `name` goes on: the one with the fewest
 * actors in `load` (host index -> actors on it; absent means none), the name's rendezvous weight
 * deciding between equally loaded ones.
 */
export function placeActor(name: string, live: readonly number[], load?: ReadonlyMap<number, number>): number {
  let best = -1;
  let bestLoad = Infinity;
  let bestWeight = -1;
  for (const host of live) {
    const l = load?.get(host) ?? 0;
    const w = hash32(name, host * 0x9e3779b1);
    if (l < bestLoad || (l === bestLoad && w > bestWeight)) {
      best = host;
      bestLoad = l;
      bestWeight = w;
    }
  }
  return best;
}
