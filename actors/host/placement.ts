/**
 * Placing an actor on a host worker by rendezvous (highest random weight) hashing of its name: the
 * same name always lands on the same live host, and when a host leaves only its own actors move.
 */
function hash32(s: string, seed: number): number {
  // FNV-1a with a seed, then a murmur3 finaliser for avalanche.
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
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
