/**
 * Murmur3 x86 32-bit (Austin Appleby's public-domain algorithm), the hash Pulsar uses for sticky keys
 * (`Murmur3_32Hash`) and for placing consumers on the Key_Shared ring. Over bytes; little-endian blocks.
 */
import { MillraceError } from '../errors.js';
import { murmur3_32 as murmur3Bytes } from '../topic/murmur3.js';

/** Murmur3-32 of `bytes[0, length)`; the one implementation lives in core/topic (Pulsar's hash). */
export function murmur3_32(bytes: Uint8Array, length = bytes.length, seed = 0): number {
  return murmur3Bytes(length === bytes.length ? bytes : bytes.subarray(0, length), seed);
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
