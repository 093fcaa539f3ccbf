/**
 * The sparse ledger index: Iggy's `.index` entries (16 bytes: relative entry ID, byte position,
 * publish time) kept at Redpanda's step (one entry about every 32 KiB of data, and always the first
 * entry), so a seek reads at most about 32 KiB past the index hit. Positions are u32: a ledger rolls
 * over long before 4 GiB.
 *
 * Serialized form, version 1 (all integers little-endian):
 * ```
 *  0               4               8       10      12              16              20
 *  +---------------+---------------+-------+-------+---------------+---------------+
 *  | magic "MRIX"  | checksum u32  | ver u16| rsv u16| count u32    | interval u32  |
 *  +---------------+---------------+-------+-------+---------------+---------------+
 *  20              24              28              32                              40
 *  | pending u32   | lastId u32    | lastPos u32   | last publish time u64         |
 *  +---------------+---------------+---------------+-------------------------------+
 *  40: `count` slots of 16 bytes:
 *  | entryId u32 (relative to the ledger's first entry) | position u32 | publishTime u64 |
 * ```
 * Reading rule: magic and version must match; length must be 40 + 16 * count; checksum is xxhash32
 * (seed 0) of bytes [8, length); slots have strictly increasing entry IDs and positions and
 * non-decreasing publish times (each a safe integer). `pending` (bytes offered since the last indexed
 * entry, saturating) and the last offered entry (lastId = 0xFFFFFFFF: none yet) let `add` carry on
 * after a reload exactly as if the index had stayed in memory.
 *
 * Search runs in JS. Measured on the bench machine (bench/frame.ts, `*.index.floorByTime`, 65,536
 * slots = 1 MiB): JS 9.2M searches/s (including the hit object), WASM with the index already resident in
 * WASM memory 12.5M/s (1.36x, returning only a slot number), WASM copying the index in per search 55k/s
 * (160x slower). A seek is a cold-path operation (once per seek / subscription start), ~100 ns either
 * way, and a worker hosts many ledgers while the WASM module has one fixed index region; keeping every
 * open ledger's index resident there would need a region allocator for a 30% gain on a 100 ns call.
 * So SparseIndex keeps its slots in a JS Uint32Array and searches there; the WASM search (loader.ts
 * `indexFloorBy*`) stays, held to it by a differential test, for a future batch-seek path.
 */
import { MillraceError } from '../core/errors.js';
import { xxhash32 } from './xxhash32.js';

/** One indexed entry: where a scan for an entry ID or a time should start. */
export interface IndexHit {
  /** Entry ID relative to the ledger's first entry. */
  entryId: number;
  /** Byte offset of the entry in the ledger's concatenated data. */
  position: number;
  publishTime: number;
}

/** Options of {@link SparseIndex}. */
export interface SparseIndexOptions {
  /**
   * Bytes of data between index entries. Smaller: a bigger index, shorter scans after a hit.
   * @default 32768 (Redpanda's step: one disk read finds any entry)
   */
  intervalBytes?: number;
}

const MAGIC = 0x5849524d; // "MRIX" read as a little-endian u32
const VERSION = 1;
const HEADER = 40;
const SLOT = 16;
const NONE = 0xffffffff;
const TWO_32 = 0x1_0000_0000;
const SAFE_HI = 0x1fffff;

function corrupt(message: string): MillraceError {
  return new MillraceError('ENTRY_CORRUPT', `sparse index: ${message}`);
}

function isU32(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff;
}

/** A sparse index over one ledger's entries; see the file comment for its stored form. */
export class SparseIndex {
  readonly intervalBytes: number;
  /** Slots as u32 words, 4 per slot in the serialized slot layout: entryId, position, time lo, time hi. */
  #slots: Uint32Array;
  #count = 0;
  /** Bytes offered since the last indexed entry, including it. */
  #pending = 0;
  #lastId = -1;
  #lastPos = -1;
  #lastTime = -1;

  constructor(options: SparseIndexOptions = {}) {
    const interval = options.intervalBytes ?? 32 * 1024;
    if (!Number.isInteger(interval) || interval < 1 || interval > 0x7fffffff) {
      throw new MillraceError('INVALID_ARGUMENT', `intervalBytes must be an integer from 1 to ${0x7fffffff}, got ${String(interval)}`);
    }
    this.intervalBytes = interval;
    this.#slots = new Uint32Array(64 * 4);
  }

  /** Number of indexed entries. */
  get count(): number {
    return this.#count;
  }

  /** The slot words (4 per slot, first `count` slots valid); for the WASM search and its tests. */
  get slots(): Uint32Array {
    return this.#slots;
  }

  /**
   * Offers the next appended entry (in order). It is indexed when it is the first, or when at least
   * `intervalBytes` were offered since the last indexed entry. Throws INVALID_ARGUMENT on a value out of
   * range or out of order (entry IDs and positions strictly increasing, publish times non-decreasing).
   */
  add(entryId: number, position: number, publishTime: number, entryBytes: number): void {
    if (!isU32(entryId) || entryId === NONE || !isU32(position) || !isU32(entryBytes)
      || !Number.isSafeInteger(publishTime) || publishTime < 0) {
      throw new MillraceError('INVALID_ARGUMENT', `sparse index add: entryId (u32 < 2^32-1), position and entryBytes (u32) and publishTime (non-negative safe integer) are required, got ${entryId}, ${position}, ${publishTime}, ${entryBytes}`);
    }
    if (entryId <= this.#lastId || position <= this.#lastPos || publishTime < this.#lastTime) {
      throw new MillraceError('INVALID_ARGUMENT', `sparse index add: entries must come in order (entryId and position increasing, publishTime not decreasing); got (${entryId}, ${position}, ${publishTime}) after (${this.#lastId}, ${this.#lastPos}, ${this.#lastTime})`);
    }
    this.#lastId = entryId;
    this.#lastPos = position;
    this.#lastTime = publishTime;
    if (this.#count === 0 || this.#pending >= this.intervalBytes) {
      this.#push(entryId, position, publishTime);
      this.#pending = entryBytes;
    } else {
      // Saturate at u32 so the stored form holds it; anything >= intervalBytes means the same.
      this.#pending = Math.min(this.#pending + entryBytes, NONE);
    }
  }

  #push(entryId: number, position: number, publishTime: number): void {
    let s = this.#slots;
    const w = this.#count * 4;
    if (w + 4 > s.length) {
      const grown = new Uint32Array(s.length * 2);
      grown.set(s);
      this.#slots = s = grown;
    }
    s[w] = entryId;
    s[w + 1] = position;
    s[w + 2] = publishTime >>> 0;
    s[w + 3] = Math.floor(publishTime / TWO_32);
    this.#count++;
  }

  #hit(slot: number): IndexHit {
    const s = this.#slots;
    const w = slot * 4;
    return { entryId: s[w]!, position: s[w + 1]!, publishTime: s[w + 3]! * TWO_32 + s[w + 2]! };
  }

  /** The last indexed entry with entryId <= `entryId`, or undefined if there is none. */
  floorByEntry(entryId: number): IndexHit | undefined {
    const s = this.#slots;
    let lo = 0;
    let hi = this.#count - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid * 4]! <= entryId) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found < 0 ? undefined : this.#hit(found);
  }

  /**
   * The last indexed entry with publishTime < `t` (scan from it for the first entry with publishTime
   * >= t: an entry just before the next slot may already have time t), else the first indexed entry;
   * undefined when the index is empty.
   */
  floorByTime(t: number): IndexHit | undefined {
    if (this.#count === 0) return undefined;
    const s = this.#slots;
    let lo = 0;
    let hi = this.#count - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (s[mid * 4 + 3]! * TWO_32 + s[mid * 4 + 2]! < t) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return this.#hit(found);
  }

  /** The serialized form (file comment): a fresh ordinary Uint8Array. */
  toBytes(): Uint8Array {
    const n = this.#count;
    const out = new Uint8Array(HEADER + n * SLOT);
    const dv = new DataView(out.buffer);
    dv.setUint32(0, MAGIC, true);
    dv.setUint16(8, VERSION, true);
    dv.setUint32(12, n, true);
    dv.setUint32(16, this.intervalBytes, true);
    dv.setUint32(20, this.#pending, true);
    const none = this.#lastId < 0;
    dv.setUint32(24, none ? NONE : this.#lastId, true);
    dv.setUint32(28, none ? 0 : this.#lastPos, true);
    dv.setUint32(32, none ? 0 : this.#lastTime >>> 0, true);
    dv.setUint32(36, none ? 0 : Math.floor(this.#lastTime / TWO_32), true);
    out.set(new Uint8Array(this.#slots.buffer, this.#slots.byteOffset, n * SLOT), HEADER);
    dv.setUint32(4, xxhash32(out, 8, out.length), true);
    return out;
  }

  /** Reads a serialized index; throws MillraceError ENTRY_CORRUPT on anything but a valid one. */
  static fromBytes(bytes: Uint8Array): SparseIndex {
    if (!(bytes instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'SparseIndex.fromBytes needs a Uint8Array');
    if (bytes.length < HEADER) throw corrupt(`${bytes.length} bytes is shorter than the ${HEADER}-byte header`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    if (dv.getUint32(0, true) !== MAGIC) throw corrupt('bad magic (not a Millrace sparse index)');
    if (dv.getUint16(8, true) !== VERSION) throw corrupt(`version ${dv.getUint16(8, true)} is not ${VERSION}`);
    const n = dv.getUint32(12, true);
    if (bytes.length !== HEADER + n * SLOT) throw corrupt(`length ${bytes.length} does not match ${n} slots`);
    if (xxhash32(bytes, 8, bytes.length) !== dv.getUint32(4, true)) throw corrupt('checksum mismatch');
    const interval = dv.getUint32(16, true);
    if (dv.getUint16(10, true) !== 0 || interval < 1 || interval > 0x7fffffff) throw corrupt('bad reserved field or interval');
    const index = new SparseIndex({ intervalBytes: interval });
    let prevId = -1;
    let prevPos = -1;
    let prevTime = -1;
    for (let i = 0; i < n; i++) {
      const at = HEADER + i * SLOT;
      const id = dv.getUint32(at, true);
      const pos = dv.getUint32(at + 4, true);
      const hi = dv.getUint32(at + 12, true);
      const time = hi * TWO_32 + dv.getUint32(at + 8, true);
      if (hi > SAFE_HI || id === NONE || id <= prevId || pos <= prevPos || time < prevTime) throw corrupt(`slot ${i} is out of order or range`);
      index.#push(id, pos, time);
      prevId = id;
      prevPos = pos;
      prevTime = time;
    }
    const lastId = dv.getUint32(24, true);
    const lastPos = dv.getUint32(28, true);
    const lastHi = dv.getUint32(36, true);
    const lastTime = lastHi * TWO_32 + dv.getUint32(32, true);
    if (lastId === NONE) {
      if (n !== 0 || lastPos !== 0 || lastTime !== 0) throw corrupt('no last entry but slots or last fields set');
    } else if (n === 0 || lastHi > SAFE_HI || lastId < prevId || lastPos < prevPos || lastTime < prevTime) {
      throw corrupt('last offered entry is before the last slot');
    } else {
      index.#lastId = lastId;
      index.#lastPos = lastPos;
      index.#lastTime = lastTime;
    }
    index.#pending = dv.getUint32(20, true);
    return index;
  }
}
