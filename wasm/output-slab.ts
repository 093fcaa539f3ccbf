/**
 * Where framed entries are written: both framers' `frame()` take their result from here instead of
 * allocating a fresh ArrayBuffer per entry (~1.3 us of a 100-message batch's ~13 KB entry, most of it
 * the allocator and its zero fill). Entries are carved, 8-byte aligned, out of a large slab, bump-pointer
 * style; when the current slab cannot hold the next entry a NEW slab is started and the old one is left
 * to the garbage collector.
 *
 * Rules, because lmdb-js keeps a pointer to a put value until the transaction commits (reusing the bytes
 * corrupts the stored entry, with no error):
 * - a region is handed out once and never handed out, written or cleared again: a slab is never reset
 *   or recycled, only dropped;
 * - every slab is an ordinary ArrayBuffer (never a SharedArrayBuffer, which lmdb-js stores as garbage);
 * - entries larger than a quarter of the slab get their own buffer (the waste at a slab's end stays
 *   below a quarter of it, and a huge entry does not start a slab of its own);
 * - slabs are zero-filled at allocation, so the bytes around and between entries that `entry.buffer`
 *   exposes are zeros or other framed entries of this thread, never stale process memory.
 *
 * Memory trade-off: a slab is garbage-collected only once every entry carved from it is unreachable, so
 * one retained small entry keeps its whole slab alive (the same trade Node makes with Buffer's pool).
 * Entries are normally dropped once lmdb-js has committed them, so the overhead is the current slab plus
 * the few slabs whose entries are still in flight. Hence a moderate slab: 1 MiB holds ~75 entries of a
 * 100 x 100-byte batch (amortizing the allocation to well under 0.1 us per entry) while bounding what a
 * stray retained entry can pin. A caller that keeps entries for long (a cache) should copy them out
 * (`entry.slice()`), and anything that posts an entry to another thread must copy it first: cloning or
 * transferring a subarray sends or detaches its whole buffer, i.e. the slab.
 *
 * One allocator per thread (module state is per isolate), shared by the JS reference and the WASM framer.
 */

/** Default slab size: see the memory trade-off above. */
export const DEFAULT_SLAB_BYTES = 1024 * 1024;

/** Bump allocator over write-once slabs; see the module comment. */
export class OutputSlab {
  /** Bytes per slab. */
  readonly slabBytes: number;
  /** Largest entry carved from a slab; larger ones get their own buffer. */
  readonly maxCarve: number;
  #slab: ArrayBuffer;
  #pos: number;

  constructor(slabBytes: number = DEFAULT_SLAB_BYTES) {
    if (!Number.isSafeInteger(slabBytes) || slabBytes < 64 || slabBytes > 2 ** 30 || slabBytes % 8 !== 0) {
      throw new RangeError(`slabBytes must be a multiple of 8 from 64 to 2^30, got ${String(slabBytes)}`);
    }
    this.slabBytes = slabBytes;
    this.maxCarve = slabBytes >>> 2;
    // Started lazily: a thread that never frames never allocates a slab.
    this.#slab = new ArrayBuffer(0);
    this.#pos = 0;
  }

  /**
   * A fresh, writable, ordinary-ArrayBuffer-backed Uint8Array of exactly `n` bytes that no earlier or
   * later call of any OutputSlab ever hands out again. Its contents are unspecified (zeros today): the
   * framers overwrite every byte.
   */
  take(n: number): Uint8Array {
    if (n > this.maxCarve) return new Uint8Array(n);
    let pos = this.#pos;
    if (n > this.#slab.byteLength - pos) {
      this.#slab = new ArrayBuffer(this.slabBytes);
      pos = 0;
    }
    // Next start rounded up to 8; a slab's size is a multiple of 8, so this never passes its end.
    this.#pos = (pos + n + 7) & ~7;
    return new Uint8Array(this.#slab, pos, n);
  }
}

/** This thread's allocator for framed entries. */
export const outputSlab: OutputSlab = new OutputSlab();
