/**
 * The buffers appended entries are copied into, out of their ring slot, reused once the append has
 * settled. lmdb-js stores a value from its own memory, not a copy (it keeps the buffer until the
 * write is done), so each append needs bytes of its own until then; a fresh buffer per entry
 * (`Buffer.from` of the ring slot: about 110 KiB for a batch of a thousand 100-byte messages) was
 * 6-7% of a host thread's profile under pub+sub, most of it allocating and zeroing the memory, not
 * copying it. One pool per thread (a host runs many partition actors, one at a time).
 */

// Entries from POOLED_MIN_BYTES up to POOLED_MAX_BYTES are pooled. Smaller ones get a buffer of their
// own without zeroing (Buffer.allocUnsafe, from Node's shared slab below 4 KiB): a pooled buffer
// each would tie up 256 KiB per entry in flight (unbatched sends, 10,000 in flight: 23-28k msg/s
// against 133-171k). Larger ones (up to maxEntryBytes) get their own too.
const POOLED_MIN_BYTES = 32 * 1024;
const POOLED_MAX_BYTES = 256 * 1024;
// Spare buffers kept: more than the appends a host has in flight under load (a commit's worth).
const MAX_SPARES = 16;

const spares: ArrayBuffer[] = [];
// Pooled buffers handed out and not yet back: only these are taken back, once each (a buffer in the
// pool twice would hold two entries at once). Weak: a buffer never released (its append failed) is
// left to the garbage collector, not kept here.
const out = new WeakSet<ArrayBuffer>();

/** A buffer of `n` bytes for an entry, pooled for batch-sized entries; hand it back with {@link releaseEntryBuffer}. */
export function takeEntryBuffer(n: number): Buffer {
  if (n >= POOLED_MIN_BYTES && n <= POOLED_MAX_BYTES) {
    const ab = spares.pop() ?? new ArrayBuffer(POOLED_MAX_BYTES);
    out.add(ab);
    return Buffer.from(ab, 0, n);
  }
  return Buffer.allocUnsafe(n);
}

/**
 * The entry's append has settled (stored or failed) and nothing reads its bytes any more: its
 * memory may hold the next entry. Buffers not from the pool are left to the garbage collector.
 */
export function releaseEntryBuffer(entry: Uint8Array): void {
  const ab = entry.buffer;
  if (!(ab instanceof ArrayBuffer) || !out.delete(ab)) return;
  if (spares.length < MAX_SPARES) spares.push(ab);
}
