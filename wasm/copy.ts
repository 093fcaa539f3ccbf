/**
 * Copies a small byte array into place. TypedArray#set pays a call into C++ and bounds checks
 * (~10 ns) whatever the size; for keys and properties (a few to a few dozen bytes) a plain loop is
 * several times faster. Both framers use it, so they copy the same way (measured in bench/frame.ts).
 */
const LOOP_MAX = 32;

export function copyBytes(dst: Uint8Array, src: Uint8Array, at: number): void {
  const n = src.length;
  if (n <= LOOP_MAX) {
    for (let i = 0; i < n; i++) dst[at + i] = src[i]!;
  } else {
    dst.set(src, at);
  }
}
