/**
 * MurmurHash3 x86_32 (Austin Appleby's reference `MurmurHash3_x86_32`), the hash behind Pulsar's
 * key routing: the Java client's `Murmur3Hash32` calls `org.apache.pulsar.common.util.Murmur3_32Hash`
 * (seed 0, little-endian 4-byte blocks) and masks the result with `& Integer.MAX_VALUE`. This function
 * returns the unmasked hash as an unsigned 32-bit number; {@link keyHash} applies Pulsar's mask.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86_32 of `bytes` with `seed`, as an unsigned 32-bit integer. */
export function murmur3_32(bytes: Uint8Array, seed = 0): number {
  const len = bytes.length;
  const tail = len & ~3;
  let h = seed | 0;
  for (let i = 0; i < tail; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  // The 1-3 trailing bytes, as the reference's fall-through switch (written as ifs because the
  // build forbids switch fall-through); with no tail there is nothing to mix.
  const rem = len & 3;
  if (rem !== 0) {
    let k = bytes[tail]!;
    if (rem > 1) k ^= bytes[tail + 1]! << 8;
    if (rem > 2) k ^= bytes[tail + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Pulsar's key hash: `murmur3_32(key) & 0x7fffffff`, as the Java client's `Murmur3Hash32.makeHash`
 * (and the Go client's `Murmur3_32Hash`, "for compatibility with values used in Java client").
 * For a UTF-8 string key this picks the same partition as a Pulsar client would.
 */
export function keyHash(key: Uint8Array): number {
  return murmur3_32(key, 0) & 0x7fffffff;
}
