/**
 * Records longer than a ring's `maxRecordLength`, carried through the ring as a run of fragment
 * records (Aeron's fragmentation and reassembly). Going through the ring keeps them in order with
 * everything else its producer writes: a side channel (postMessage) let a large request overtake,
 * or be overtaken by, the small ones around it.
 *
 * The producer writes one record's fragments back to back, nothing of its own between them (a ring
 * has one producer), so the reader assembles one record at a time.
 *
 * ```
 * Fragment payload (little-endian)
 *  0               4               8               12
 *  +---------------+---------------+---------------+-------------------
 *  | total u32     | offset u32    | type u32      | bytes [offset, offset + chunk) of the record
 *  +---------------+---------------+---------------+-------------------
 * ```
 * `total` is the whole record's length and `type` its ring record type; `offset` 0 starts a record.
 */
import { MillraceError } from '../../core/errors.js';
import type { RingBuffer } from './ring-buffer.js';

export const FRAGMENT_HEADER = 12;

/** Bytes of a record one fragment carries, for a ring whose maxRecordLength is `maxRecordLength`. */
function chunkLength(maxRecordLength: number): number {
  return maxRecordLength - FRAGMENT_HEADER;
}

/**
 * A record given as parts to concatenate (a header and the bodies after it): a writer of a large
 * reply need not first copy them all into one buffer.
 */
export type RecordParts = Uint8Array | readonly Uint8Array[];

/** The length of a record given as parts. */
export function recordLength(record: RecordParts): number {
  if (record instanceof Uint8Array) return record.length;
  let n = 0;
  for (const p of record) n += p.length;
  return n;
}

/**
 * Reads a record given as parts front to back, copying its bytes out in order. Fragments ask for
 * consecutive ranges, so the cursor only moves forward.
 */
class PartsCursor {
  private part = 0;
  private inPart = 0;
  /** The record offset the cursor is at. */
  private offset = 0;

  constructor(private readonly parts: readonly Uint8Array[]) {}

  /** Moves to record offset `to` (at or after the current one). */
  skipTo(to: number): void {
    let left = to - this.offset;
    while (left > 0) {
      const p = this.parts[this.part]!;
      const n = Math.min(left, p.length - this.inPart);
      this.advance(n, p.length);
      left -= n;
    }
  }

  /** Copies the next `n` bytes of the record to `dest` at `at`. */
  copy(dest: Uint8Array, at: number, n: number): void {
    while (n > 0) {
      const p = this.parts[this.part]!;
      const k = Math.min(n, p.length - this.inPart);
      dest.set(k === p.length ? p : p.subarray(this.inPart, this.inPart + k), at);
      this.advance(k, p.length);
      at += k;
      n -= k;
    }
  }

  private advance(n: number, partLength: number): void {
    this.inPart += n;
    this.offset += n;
    if (this.inPart === partLength) {
      this.part++;
      this.inPart = 0;
      // Empty parts take no bytes: step over them so the next copy starts on bytes.
      while (this.part < this.parts.length && this.parts[this.part]!.length === 0) this.part++;
    }
  }
}

/** A cursor over `record` at offset `from`. */
function cursorAt(record: RecordParts, from: number): PartsCursor {
  const c = new PartsCursor(record instanceof Uint8Array ? [record] : record);
  c.skipTo(from);
  return c;
}

/**
 * Copies `record`'s bytes into `dest` at `at` (a whole record, e.g. into one ring record).
 */
export function copyRecord(record: RecordParts, dest: Uint8Array, at: number): void {
  if (record instanceof Uint8Array) {
    dest.set(record, at);
    return;
  }
  for (const p of record) {
    dest.set(p, at);
    at += p.length;
  }
}

/**
 * Writes the fragments of `record` (ring record type `type`) from byte `from` on, as record type
 * `fragmentType`, while `ring` has room. Returns the offset reached: the record's length once all
 * of it is written; call again with that offset when the reader has made room. Writer side.
 */
export function writeFragments(ring: RingBuffer, fragmentType: number, type: number, record: RecordParts, from: number): number {
  const chunk = chunkLength(ring.maxRecordLength);
  const view = new DataView(ring.buffer);
  const total = recordLength(record);
  const cursor = cursorAt(record, from);
  let offset = from;
  while (offset < total) {
    const n = Math.min(chunk, total - offset);
    const at = ring.tryClaim(fragmentType, FRAGMENT_HEADER + n);
    if (at < 0) break;
    fillHeader(view, at, total, offset, type);
    cursor.copy(ring.bytes, at + FRAGMENT_HEADER, n);
    ring.commit(at);
    offset += n;
  }
  return offset;
}

/**
 * The fragment payloads of `record` from byte `from` on, as separate buffers: for a writer that
 * queues what the ring has no room for yet, to write in order later.
 */
export function splitFragments(maxRecordLength: number, type: number, record: RecordParts, from = 0): Uint8Array[] {
  const chunk = chunkLength(maxRecordLength);
  const total = recordLength(record);
  const cursor = cursorAt(record, from);
  const out: Uint8Array[] = [];
  for (let offset = from; offset < total; offset += chunk) {
    const n = Math.min(chunk, total - offset);
    const f = new Uint8Array(FRAGMENT_HEADER + n);
    fillHeader(new DataView(f.buffer), 0, total, offset, type);
    cursor.copy(f, FRAGMENT_HEADER, n);
    out.push(f);
  }
  return out;
}

function fillHeader(view: DataView, at: number, total: number, offset: number, type: number): void {
  view.setUint32(at, total, true);
  view.setUint32(at + 4, offset, true);
  view.setUint32(at + 8, type, true);
}

/** Reader side: rebuilds records from their fragments, one record at a time. */
export class FragmentAssembler {
  private record: Uint8Array | undefined;
  private filled = 0;
  /** The ring record type of the record {@link add} last completed. */
  type = 0;

  /**
   * Takes one fragment payload (`bytes[offset, offset + length)`, copied before this returns).
   * Returns the whole record once its last fragment is in, else undefined. Throws
   * INVALID_ARGUMENT for a fragment out of sequence (a writer bug: nothing is guessed).
   */
  add(bytes: Uint8Array, offset: number, length: number): Uint8Array | undefined {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, FRAGMENT_HEADER);
    const total = view.getUint32(0, true);
    const at = view.getUint32(4, true);
    const type = view.getUint32(8, true);
    const n = length - FRAGMENT_HEADER;
    if (at === 0 && this.record === undefined) {
      // Not zero-filled: every byte is written before the record is returned (fragments must
      // arrive contiguous, from offset 0 to `total`, or this throws).
      this.record = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
      this.filled = 0;
      this.type = type;
    }
    const record = this.record;
    if (!record || at !== this.filled || total !== record.length || type !== this.type || n <= 0 || at + n > total) {
      this.record = undefined;
      throw new MillraceError('INVALID_ARGUMENT', `ring fragment out of sequence: offset ${at} of ${total} (type ${type}), expected offset ${this.filled}`);
    }
    record.set(bytes.subarray(offset + FRAGMENT_HEADER, offset + length), at);
    this.filled += n;
    if (this.filled < total) return undefined;
    this.record = undefined;
    return record;
  }
}
