/**
 * Reads an offloaded ledger (ledger-object.ts) back: opens it with one HEAD and one ranged GET of its
 * tail (trailer + index, checked against the caller's recorded size and index checksum), then serves
 * entries from whole blocks fetched through a shared {@link BlockCache}. Every entry handed out has
 * passed its own length and checksum validation (wasm/): a mismatch throws OBJECT_CORRUPT, never bytes.
 */
import { MillraceError } from '../errors.js';
import { EntryStatus, entryStatusMessage, jsFramer, loadWasmFramer, type Framer } from '../../wasm/index.js';
import type { ObjectStore } from './object-store.js';
import { BlockCache } from './block-cache.js';
import { parseTail, TRAILER_SIZE, INDEX_HEADER_SIZE, INDEX_RECORD_SIZE, type LedgerObjectIndex } from './ledger-object.js';

export { BlockCache, DEFAULT_BLOCK_BYTES, type BlockCacheOptions, type BlockCacheStats } from './block-cache.js';

/** The first tail read: the trailer plus the index of up to ~16k entries in one GET; larger indexes take a second. */
const FIRST_TAIL_BYTES = 256 * 1024;
/** Blocks fetched ahead of a readRange: enough to hide one GET's latency behind the consumer's work. */
const READ_AHEAD_BLOCKS = 2;

let framer: Framer | undefined;
function validator(): Framer {
  if (framer === undefined) {
    try { framer = loadWasmFramer(); } catch { framer = jsFramer; }
  }
  return framer;
}

export class OffloadedLedgerReader {
  readonly entries: number;
  readonly firstEntryId: number;
  readonly lastEntryId: number;
  readonly ledgerId: number;
  /** The object's size in bytes. */
  readonly size: number;
  private readonly maxTimes: Float64Array;
  private readonly cacheId: string;

  private constructor(
    private readonly store: ObjectStore,
    readonly key: string,
    private readonly index: LedgerObjectIndex,
    private readonly cache: BlockCache,
    size: number,
  ) {
    const t = index.trailer;
    this.entries = t.count;
    this.firstEntryId = t.firstEntryId;
    this.lastEntryId = t.lastEntryId;
    this.ledgerId = t.ledgerId;
    this.size = size;
    this.cacheId = `${store.description}\n${key}\n${t.indexChecksum}\n`;
    // Running maximum of publish times: the first index where it reaches t is the first entry with
    // publishTime >= t, found by binary search even when clocks stepped back within the ledger.
    const m = new Float64Array(t.count);
    let max = -1;
    for (let i = 0; i < t.count; i++) {
      max = Math.max(max, index.publishTimes[i]!);
      m[i] = max;
    }
    this.maxTimes = m;
  }

  /**
   * Opens the object under `key`, checking it against what was recorded when it was written: the
   * ledger ID, the size and the index checksum. Throws OBJECT_NOT_FOUND, OBJECT_CORRUPT (size,
   * trailer or index mismatch) or the store's errors.
   */
  static async open(store: ObjectStore, key: string, expect: { ledgerId: number; size: number; indexChecksum: number }, cache: BlockCache): Promise<OffloadedLedgerReader> {
    if (!(cache instanceof BlockCache)) throw new MillraceError('INVALID_ARGUMENT', 'OffloadedLedgerReader.open needs a BlockCache');
    if (expect === null || typeof expect !== 'object' || !Number.isSafeInteger(expect.size) || expect.size < 0
      || !Number.isSafeInteger(expect.ledgerId) || !Number.isInteger(expect.indexChecksum)) {
      throw new MillraceError('INVALID_ARGUMENT', 'expect must be { ledgerId, size, indexChecksum } with integers');
    }
    const size = expect.size;
    const first = Math.min(size, FIRST_TAIL_BYTES);
    const [head, firstTail] = await Promise.all([
      store.head(key),
      store.get(key, { offset: size - first, length: first }),
    ]);
    if (head === undefined) throw new MillraceError('OBJECT_NOT_FOUND', `ledger object ${key} does not exist in ${store.description}`);
    if (head.size !== size) {
      throw new MillraceError('OBJECT_CORRUPT', `ledger object ${key} is ${head.size} bytes, expected ${size} (truncated or replaced)`);
    }
    if (firstTail.length !== first) throw new MillraceError('OBJECT_CORRUPT', `ledger object ${key}: short read of its tail`);
    let tail = firstTail;
    // Peek at the trailer's index length; parseTail checks everything properly afterwards.
    if (tail.length >= TRAILER_SIZE) {
      const dv = new DataView(tail.buffer, tail.byteOffset + tail.length - TRAILER_SIZE, TRAILER_SIZE);
      const need = dv.getUint32(8, true) + TRAILER_SIZE;
      const count = dv.getUint32(12, true);
      if (need > tail.length && need <= size && need === INDEX_HEADER_SIZE + INDEX_RECORD_SIZE * count + TRAILER_SIZE) {
        const rest = await store.get(key, { offset: size - need, length: need - tail.length });
        if (rest.length !== need - tail.length) throw new MillraceError('OBJECT_CORRUPT', `ledger object ${key}: short read of its index`);
        const whole = new Uint8Array(need);
        whole.set(rest, 0);
        whole.set(tail, rest.length);
        tail = whole;
      }
    }
    const index = parseTail(tail, size, key, expect);
    return new OffloadedLedgerReader(store, key, index, cache, size);
  }

  /** The entry with this ID, or undefined if the ledger has none (a gap, or outside the ledger). */
  async read(entryId: number): Promise<Uint8Array | undefined> {
    const i = this.indexOf(entryId);
    if (i < 0) return undefined;
    const [out] = await this.readAt(i, i, false);
    return out!.entry;
  }

  /**
   * Entries from the first one with ID >= fromEntryId, in order: at most `maxEntries`, and no more
   * than `maxBytes` in total except that one entry is always returned when any remains. Fetches the
   * blocks after the last one read ahead of time, for the next call.
   */
  async readRange(fromEntryId: number, opts: { maxEntries: number; maxBytes: number }): Promise<Array<{ entryId: number; entry: Uint8Array }>> {
    if (!Number.isSafeInteger(fromEntryId)) throw new MillraceError('INVALID_ARGUMENT', `fromEntryId must be an integer, got ${String(fromEntryId)}`);
    const { maxEntries, maxBytes } = opts ?? {};
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1 || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
      throw new MillraceError('INVALID_ARGUMENT', 'readRange needs positive integer maxEntries and maxBytes');
    }
    const ix = this.index;
    const from = this.lowerBound(fromEntryId);
    if (from >= this.entries) return [];
    let to = from;
    let bytes = ix.lengths[from]!;
    while (to + 1 < this.entries && to + 1 - from < maxEntries && bytes + ix.lengths[to + 1]! <= maxBytes) {
      to++;
      bytes += ix.lengths[to]!;
    }
    return this.readAt(from, to, true);
  }

  /** The ID of the first entry with publishTime >= `publishTimeMs`, or undefined if there is none. */
  findByTime(publishTimeMs: number): number | undefined {
    const m = this.maxTimes;
    let lo = 0;
    let hi = m.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (m[mid]! >= publishTimeMs) hi = mid;
      else lo = mid + 1;
    }
    return lo < m.length ? this.index.entryIds[lo] : undefined;
  }

  /** The publish time recorded for an entry, or undefined if there is no such entry. */
  publishTimeOf(entryId: number): number | undefined {
    const i = this.indexOf(entryId);
    return i < 0 ? undefined : this.index.publishTimes[i];
  }

  /** Index of the first entry with ID >= id. */
  private lowerBound(id: number): number {
    const ids = this.index.entryIds;
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private indexOf(id: number): number {
    if (!Number.isSafeInteger(id)) return -1;
    const i = this.lowerBound(id);
    return i < this.entries && this.index.entryIds[i] === id ? i : -1;
  }

  /** Entries i..j (index positions), each copied out of the blocks and validated. */
  private async readAt(i: number, j: number, readAhead: boolean): Promise<Array<{ entryId: number; entry: Uint8Array }>> {
    const ix = this.index;
    const B = this.cache.blockBytes;
    const start = ix.offsets[i]!;
    const end = ix.offsets[j]! + ix.lengths[j]!;
    const b0 = Math.floor(start / B);
    const b1 = Math.floor((end - 1) / B);
    const want: Promise<Uint8Array>[] = [];
    for (let b = b0; b <= b1; b++) want.push(this.block(b));
    if (readAhead && this.cache.maxBytes > 0) {
      const dataEnd = ix.trailer.indexOffset;
      for (let b = b1 + 1; b <= b1 + READ_AHEAD_BLOCKS && b * B < dataEnd; b++) {
        if (!this.cache.has(this.cacheId + b)) this.block(b).catch(() => undefined); // a real read will report it
      }
    }
    const blocks = await Promise.all(want);
    const v = validator();
    const out: Array<{ entryId: number; entry: Uint8Array }> = [];
    for (let k = i; k <= j; k++) {
      const off = ix.offsets[k]!;
      const len = ix.lengths[k]!;
      let entry: Uint8Array;
      const first = Math.floor(off / B) - b0;
      const at = off - (first + b0) * B;
      if (at + len <= blocks[first]!.length) {
        entry = blocks[first]!.slice(at, at + len);
      } else {
        entry = new Uint8Array(len);
        let done = 0;
        for (let bi = first, from = at; done < len; bi++, from = 0) {
          const blk = blocks[bi]!;
          const n = Math.min(len - done, blk.length - from);
          entry.set(blk.subarray(from, from + n), done);
          done += n;
        }
      }
      const status = v.validate(entry);
      if (status !== EntryStatus.OK) {
        throw new MillraceError('OBJECT_CORRUPT', `ledger object ${this.key}: entry ${ix.entryIds[k]} failed validation (${entryStatusMessage(status)})`);
      }
      out.push({ entryId: ix.entryIds[k]!, entry });
    }
    return out;
  }

  /** Block `b` of the object, whole (the last one up to the object's end), through the cache. */
  private block(b: number): Promise<Uint8Array> {
    const B = this.cache.blockBytes;
    const offset = b * B;
    const length = Math.min(B, this.size - offset);
    return this.cache.get(this.cacheId + b, async () => {
      const got = await this.store.get(this.key, { offset, length });
      if (got.length !== length) {
        throw new MillraceError('OBJECT_CORRUPT', `ledger object ${this.key}: block ${b} is ${got.length} bytes, expected ${length} (truncated since it was opened?)`);
      }
      return got;
    });
  }
}
