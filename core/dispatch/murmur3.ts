/**
 * Murmur3 x86 32-bit (Austin Appleby's public-domain algorithm), the hash Pulsar uses for sticky keys
 * (`Murmur3_32Hash`) and for placing consumers on the Key_Shared ring. Over bytes; little-endian blocks.
 */
import { MillraceError } from '../errors.js';

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

export function murmur3_32(bytes: Uint8Array, length = bytes.length, seed = 0): number {
  let h = seed >>> 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  // Tail of 1..3 bytes (written without switch fallthrough, which the compiler settings forbid).
  const rest = length & 3;
  if (rest > 0) {
    let k = bytes[blocks]!;
    if (rest > 1) k ^= bytes[blocks + 1]! << 8;
    if (rest > 2) k ^= bytes[blocks + 2]! << 16;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// One scratch buffer for latin1 keys: dispatch is single-threaded and keys are short, so hashing a key
// allocates nothing after the first long key.
let scratch = new Uint8Array(256);

/** Murmur3-32 of a latin1 string's bytes; a char above U+00FF -> INVALID_ARGUMENT. */
export function murmur3_32Latin1(s: string, seed = 0): number {
  if (s.length > scratch.length) scratch = new Uint8Array(Math.max(s.length, scratch.length * 2));
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) {
      throw new MillraceError('INVALID_ARGUMENT',
        `message key has char U+${c.toString(16).padStart(4, '0')} at ${i}; keys are latin1 strings (one char per byte, 0..255)`);
    }
    scratch[i] = c;
  }
  return murmur3_32(scratch, s.length, seed);
}

const utf8 = new TextEncoder();

/** Murmur3-32 of a string's UTF-8 bytes (consumer names: any Unicode). */
export function murmur3_32Utf8(s: string, seed = 0): number {
  return murmur3_32(utf8.encode(s), undefined, seed);
}

/**
 * A key's sticky hash in [0, rangeSize): Murmur3-32 masked to 31 bits (as Pulsar's `Murmur3_32Hash`
 * returns it) modulo the range size.
 */
export function stickyKeyHash(key: string | null, rangeSize: number): number {
  return ((murmur3_32Latin1(key ?? '') & 0x7fffffff) % rangeSize);
}
