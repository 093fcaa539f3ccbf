/**
 * The stored form of a cursor: one LMDB value per cursor in the `cursors` database, under
 * [mlId, subscription name]. This file is the one place the layout is defined.
 *
 * ```
 * Cursor state, version 1 (fixed header little-endian, then unsigned LEB128 varints)
 *  0       1        2                6
 *  +-------+--------+----------------+----------------------------------------------------------
 *  | ver u8|flags u8| checksum u32   | body: varints, in this order
 *  +-------+--------+----------------+----------------------------------------------------------
 *  markDelete:   ledgerId, entryId + 1                     (entryId -1, "before the ledger", is 0)
 *  ranges:       n, then n x [dLedger, entry, length]      whole acked entries [from, from + length]
 *  partials:     n, then n x [dLedger, entry, batchSize, ceil(batchSize / 8) bitset bytes]
 *  counts:       n, then n x [dLedger, entry, batchIndex, count]   redelivery counts >= 1
 * ```
 *
 * Reading rule: `ver` must be {@link CURSOR_FORMAT_VERSION} (a newer version is refused, never
 * guessed at) and `flags` 0; `checksum` is xxhash32 (seed 0) of bytes [6, end); the body must end
 * exactly at the value's end. Each list is sorted and delta-coded so it stays small and cannot
 * describe overlapping items: `dLedger` is the ledger ID minus the previous item's (the first item's
 * is relative to markDelete's ledger). When dLedger is 0, `entry` is relative to the previous item
 * (ranges: entry - (previous to + 1); partials: entry - (previous entry + 1); counts: entry -
 * previous entry, where the first item's "previous" is markDelete's entry, and for ranges and
 * partials markDelete's entry + 1); otherwise `entry` is the absolute entry ID. Bit i of a bitset
 * (byte i >> 3, bit i & 7) is set when batch index i is acked; a partial entry has at least one bit
 * and not all bits set, and bits at or past batchSize are 0. Counts are keyed by (ledger, entry,
 * batch index), strictly increasing. Every integer is at most 2^53 - 1 (a varint takes at most 8 bytes).
 */
import { xxhash32 } from '../../wasm/index.js';
import type { Position } from '../log/position.js';

/** Format version written by this build; readers refuse anything else. */
export const CURSOR_FORMAT_VERSION = 1;
const HEADER_SIZE = 6;
const OFF_CHECKSUM = 2;
/** Largest batch an entry holds: the entry header's message count is a u16. */
export const MAX_BATCH_SIZE = 0xffff;

export interface StoredRange { ledgerId: number; from: number; to: number }
export interface StoredPartial { ledgerId: number; entryId: number; batchSize: number; bits: Uint8Array }
export interface StoredCount { ledgerId: number; entryId: number; batchIndex: number; count: number }

/** A cursor's state, as written and read: every list sorted, everything after markDelete. */
export interface CursorState {
  markDelete: Position;
  ranges: StoredRange[];
  partials: StoredPartial[];
  counts: StoredCount[];
}

/** Why a stored value was refused. */
export class CursorFormatError extends Error {}

class Writer {
  private bytes: number[] = [];
  varint(v: number): void {
    // Arithmetic rather than bit operations: values go up to 2^53, past JS's 32-bit shifts.
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }
  raw(b: Uint8Array): void {
    for (const x of b) this.bytes.push(x);
  }
  /**
   * A fresh Buffer of its own (Buffer.alloc, never the shared pool): lmdb-js keeps a pointer to a
   * value until the put commits, so a value must never be reused or share memory that is.
   */
  finish(): Buffer {
    const out = Buffer.alloc(HEADER_SIZE + this.bytes.length);
    out[0] = CURSOR_FORMAT_VERSION;
    out[1] = 0;
    out.set(this.bytes, HEADER_SIZE);
    out.writeUInt32LE(xxhash32(out, HEADER_SIZE, out.length), OFF_CHECKSUM);
    return out;
  }
}

class Reader {
  private p = HEADER_SIZE;
  constructor(private readonly b: Uint8Array) {}
  varint(what: string): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (this.p >= this.b.length) throw new CursorFormatError(`value ends inside ${what}`);
      const x = this.b[this.p++]!;
      v += (x & 0x7f) * mul;
      if ((x & 0x80) === 0) {
        if (v > Number.MAX_SAFE_INTEGER) throw new CursorFormatError(`${what} is past 2^53`);
        return v;
      }
      mul *= 0x80;
    }
    throw new CursorFormatError(`${what} is longer than 8 bytes`);
  }
  raw(n: number, what: string): Uint8Array {
    if (this.p + n > this.b.length) throw new CursorFormatError(`value ends inside ${what}`);
    const out = this.b.slice(this.p, this.p + n);
    this.p += n;
    return out;
  }
  /** A list length, bounded by the bytes left (each item takes at least 3) so garbage cannot allocate. */
  count(what: string): number {
    const n = this.varint(what);
    if (n * 3 > this.b.length - this.p) throw new CursorFormatError(`${what} ${n} is more than the value can hold`);
    return n;
  }
  end(): void {
    if (this.p !== this.b.length) throw new CursorFormatError(`${this.b.length - this.p} bytes follow the cursor state`);
  }
}

export function encodeCursorState(s: CursorState): Buffer {
  const w = new Writer();
  const md = s.markDelete;
  w.varint(md.ledgerId);
  w.varint(md.entryId + 1);

  w.varint(s.ranges.length);
  let ledger = md.ledgerId;
  let next = md.entryId + 1;
  for (const r of s.ranges) {
    w.varint(r.ledgerId - ledger);
    w.varint(r.ledgerId === ledger ? r.from - next : r.from);
    w.varint(r.to - r.from);
    ledger = r.ledgerId;
    next = r.to + 1;
  }

  w.varint(s.partials.length);
  ledger = md.ledgerId;
  next = md.entryId + 1;
  for (const p of s.partials) {
    w.varint(p.ledgerId - ledger);
    w.varint(p.ledgerId === ledger ? p.entryId - next : p.entryId);
    w.varint(p.batchSize);
    w.raw(p.bits.subarray(0, bitsetBytes(p.batchSize)));
    ledger = p.ledgerId;
    next = p.entryId + 1;
  }

  w.varint(s.counts.length);
  ledger = md.ledgerId;
  let prev = md.entryId;
  for (const c of s.counts) {
    w.varint(c.ledgerId - ledger);
    w.varint(c.ledgerId === ledger ? c.entryId - prev : c.entryId);
    w.varint(c.batchIndex);
    w.varint(c.count);
    ledger = c.ledgerId;
    prev = c.entryId;
  }
  return w.finish();
}

/** Decodes and checks a stored value; throws {@link CursorFormatError} saying what is wrong. */
export function decodeCursorState(b: Uint8Array): CursorState {
  if (!(b instanceof Uint8Array) || b.length < HEADER_SIZE) throw new CursorFormatError('value is shorter than the header');
  if (b[0] !== CURSOR_FORMAT_VERSION) {
    throw new CursorFormatError(b[0]! > CURSOR_FORMAT_VERSION
      ? `format version ${b[0]} is newer than this build reads (${CURSOR_FORMAT_VERSION})`
      : `format version ${b[0]} is unknown`);
  }
  if (b[1] !== 0) throw new CursorFormatError(`unknown flags ${b[1]}`);
  const stored = (b[2]! | (b[3]! << 8) | (b[4]! << 16) | (b[5]! << 24)) >>> 0;
  if (stored !== xxhash32(b, HEADER_SIZE, b.length)) throw new CursorFormatError('checksum mismatch');
  const r = new Reader(b);
  const mdLedger = r.varint('markDelete ledger');
  const md: Position = { ledgerId: mdLedger, entryId: r.varint('markDelete entry') - 1 };

  const ranges: StoredRange[] = [];
  let ledger = md.ledgerId;
  let next = md.entryId + 1;
  for (let n = r.count('range count'); n > 0; n--) {
    const dl = r.varint('range ledger');
    const e = r.varint('range entry');
    const from = dl === 0 ? next + e : e;
    const to = from + r.varint('range length');
    ledger += dl;
    if (to > Number.MAX_SAFE_INTEGER || ledger > Number.MAX_SAFE_INTEGER) throw new CursorFormatError('range is past 2^53');
    ranges.push({ ledgerId: ledger, from, to });
    next = to + 1;
  }

  const partials: StoredPartial[] = [];
  ledger = md.ledgerId;
  next = md.entryId + 1;
  for (let n = r.count('partial count'); n > 0; n--) {
    const dl = r.varint('partial ledger');
    const e = r.varint('partial entry');
    const entryId = dl === 0 ? next + e : e;
    ledger += dl;
    const batchSize = r.varint('batch size');
    if (batchSize < 2 || batchSize > MAX_BATCH_SIZE) throw new CursorFormatError(`partial entry has batch size ${batchSize}`);
    const bits = r.raw(bitsetBytes(batchSize), 'bitset');
    const set = popcount(bits);
    if (set === 0 || set >= batchSize) throw new CursorFormatError(`partial entry ${ledger}:${entryId} has ${set} of ${batchSize} indexes acked`);
    if (batchSize % 8 !== 0 && (bits[bits.length - 1]! >> (batchSize % 8)) !== 0) {
      throw new CursorFormatError(`partial entry ${ledger}:${entryId} has bits past its batch size`);
    }
    if (entryId > Number.MAX_SAFE_INTEGER || ledger > Number.MAX_SAFE_INTEGER) throw new CursorFormatError('partial entry is past 2^53');
    partials.push({ ledgerId: ledger, entryId, batchSize, bits });
    next = entryId + 1;
  }

  const counts: StoredCount[] = [];
  ledger = md.ledgerId;
  let prev = md.entryId;
  let prevIndex = -1;
  for (let n = r.count('redelivery count'); n > 0; n--) {
    const dl = r.varint('count ledger');
    const e = r.varint('count entry');
    const entryId = dl === 0 ? prev + e : e;
    ledger += dl;
    const batchIndex = r.varint('batch index');
    const count = r.varint('count');
    // The first count must lie after markDelete; later ones may share an entry, in index order.
    const outOfOrder = counts.length === 0 ? dl === 0 && e === 0 : dl === 0 && e === 0 && batchIndex <= prevIndex;
    if (outOfOrder) throw new CursorFormatError('redelivery counts are out of order');
    if (count < 1 || batchIndex >= MAX_BATCH_SIZE) throw new CursorFormatError(`redelivery count ${count} at index ${batchIndex} is out of range`);
    counts.push({ ledgerId: ledger, entryId, batchIndex, count });
    prev = entryId;
    prevIndex = batchIndex;
  }
  r.end();
  return { markDelete: md, ranges, partials, counts };
}

export function bitsetBytes(batchSize: number): number {
  return (batchSize + 7) >>> 3;
}

export function popcount(bits: Uint8Array): number {
  let n = 0;
  for (let x of bits) {
    while (x !== 0) {
      x &= x - 1;
      n++;
    }
  }
  return n;
}
