/**
 * The byte layout of a Millrace ring: data region, record header and trailer. Every offset used by
 * the reader and the writer comes from here, so a change of layout is a change of this one file and
 * of {@link RING_LAYOUT_VERSION}.
 *
 * Ring, version 1 (all integers little-endian int32, as Int32Array sees them on x86/arm)
 *
 * ```
 *  SharedArrayBuffer
 *  0                                  capacity (a power of two, 1 KiB .. 1 GiB)
 *  +----------------------------------+----------------------------------------------------+
 *  | data: records, back to back      | trailer, TRAILER_LENGTH = 5 lines of 128 bytes      |
 *  +----------------------------------+----------------------------------------------------+
 *
 *  Trailer (offsets from `capacity`); one 128-byte line per word that changes, so the writer's
 *  tail and the reader's head never share a cache line (Aeron keeps them 128 bytes apart too:
 *  two 64-byte lines, against the adjacent-line prefetcher).
 *   +0    tail      int32  next free position; written by the writer only
 *   +128  head      int32  position of the next record to read; written by the reader only
 *   +256  dataWait  int32  1 = the reader is parked (or about to) on `tail`; the writer notifies
 *   +384  spaceWait int32  1 = the writer is parked (or about to) on `head`; the reader notifies
 *   +512  magic     int32  0x4d524e47 ('MRNG'), then version int32, then capacity int32
 *
 *  Record (at data index = position & (capacity - 1), every record starts 8-byte aligned)
 *  0               4               8
 *  +---------------+---------------+------------------------------+------------+
 *  | length int32  | type int32    | payload (length - 8 bytes)   | pad to 8   |
 *  +---------------+---------------+------------------------------+------------+
 * ```
 *
 * Reading rule: the reader loads `tail` (an atomic load: everything the writer stored before it
 * published `tail` is visible) and walks records from `head` while `position != tail`:
 * - `length > 0`: committed; `length` includes the 8-byte header; the record occupies
 *   `align8(length)` bytes. `type == PADDING_TYPE` (-1) marks filler to the end of the data region
 *   (written when a record would not fit before the wrap) and is skipped, not delivered.
 * - `length < 0`: claimed (tryClaim published it, commit has not happened yet); the reader stops
 *   there. commit turns `-length` into `+length` with a compare-and-swap, so a commit and the
 *   reader's unblock of an abandoned claim cannot both win.
 * - `length == 0` never appears between head and tail.
 *
 * Positions are int32 counters that wrap at 2^32 (not indexes): `used = (tail - head) | 0` is
 * exact while capacity < 2^31, and `index = position & mask`. This keeps every position word an
 * Int32Array element (plain Atomics, no BigInt64Array boxing on the hot path) and never overflows.
 */

/** Record header: length int32, type int32. */
export const HEADER_LENGTH = 8;
/** Records start on 8-byte boundaries (Aeron's RecordDescriptor.ALIGNMENT). */
export const RECORD_ALIGNMENT = 8;
/** Type of a padding record (filler at the wrap, or an aborted / unblocked claim). */
export const PADDING_TYPE = -1;

/** 128 bytes between words written by different threads: no false sharing. */
export const LINE = 128;
export const TAIL_OFFSET = 0;
export const HEAD_OFFSET = LINE;
export const DATA_WAIT_OFFSET = 2 * LINE;
export const SPACE_WAIT_OFFSET = 3 * LINE;
export const META_OFFSET = 4 * LINE;
export const TRAILER_LENGTH = 5 * LINE;

export const RING_MAGIC = 0x4d524e47; // 'MRNG'
export const RING_LAYOUT_VERSION = 1;

export const MIN_CAPACITY = 1024;
/** 1 GiB: keeps `tail - head` exact in int32 arithmetic (needs capacity < 2^31). */
export const MAX_CAPACITY = 2 ** 30;

/** Largest payload a ring of this capacity accepts: capacity / 8, so one record never starves the others. */
export function maxPayloadLength(capacity: number): number {
  return capacity / 8;
}

/** Int32Array indexes of the trailer words for a ring of `capacity` bytes. */
export interface TrailerIndexes {
  readonly tail: number;
  readonly head: number;
  readonly dataWait: number;
  readonly spaceWait: number;
  readonly magic: number;
  readonly version: number;
  readonly capacity: number;
}

export function trailerIndexes(capacity: number): TrailerIndexes {
  const base = capacity >> 2;
  return {
    tail: base + (TAIL_OFFSET >> 2),
    head: base + (HEAD_OFFSET >> 2),
    dataWait: base + (DATA_WAIT_OFFSET >> 2),
    spaceWait: base + (SPACE_WAIT_OFFSET >> 2),
    magic: base + (META_OFFSET >> 2),
    version: base + (META_OFFSET >> 2) + 1,
    capacity: base + (META_OFFSET >> 2) + 2,
  };
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
