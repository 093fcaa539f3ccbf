/**
 * The offloaded ledger: one immutable object per sealed ledger, written as one stream (header, the
 * entries back to back, an index, a fixed trailer) so neither side ever holds the whole ledger.
 *
 * ```
 * Ledger object, version 1 (all integers little-endian)
 *
 * Header (32 bytes, at 0)
 *  0               4       6       8                               16                              24              28              32
 *  +---------------+-------+-------+-------------------------------+-------------------------------+---------------+---------------+
 *  | magic 'MLOB'  | ver   | flags | ledgerId u64                  | firstEntryId u64              | hdr xxh32     | reserved u32  |
 *  +---------------+-------+-------+-------------------------------+-------------------------------+---------------+---------------+
 * Data region (at 32): the entries, back to back, each exactly as stored (wasm/entry-format.ts: its own
 *  length and checksum); entry i starts at 32 + sum of the lengths of entries 0..i-1.
 * Index (at indexOffset, indexLength = 16 + 16 * count bytes)
 *  0               4               8                               16
 *  +---------------+---------------+-------------------------------+
 *  | magic 'MLIX'  | count u32     | firstEntryId u64              |
 *  +---------------+---------------+-------------------------------+  then `count` records of 16 bytes:
 *  | idDelta u32   | length u32    | publishTime u64 (epoch ms)    |  entryId = firstEntryId + idDelta
 *  +---------------+---------------+-------------------------------+
 * Trailer (64 bytes, the object's last bytes)
 *  0                               8               12              16                              24
 *  +-------------------------------+---------------+---------------+-------------------------------+
 *  | indexOffset u64               | indexLength   | count u32     | firstEntryId u64              |
 *  +-------------------------------+---------------+---------------+-------------------------------+
 *  24                              32                              40              44              48
 *  | lastEntryId u64               | ledgerId u64                  | data xxh32    | index xxh32   |
 *  +-------------------------------+-------------------------------+---------------+---------------+
 *  48              52              56              60              64
 *  | trailer xxh32 | reserved u32  | version u32   | magic 'MLTR'  |
 *  +---------------+---------------+---------------+---------------+
 * ```
 *
 * Reading rule: a reader knows the object's size and index checksum from its own metadata; it reads
 * the tail, checks the trailer magic, version, trailer checksum (xxhash32 of trailer bytes [0, 48)),
 * that indexOffset + indexLength + 64 equals the size and indexOffset = 32 + the sum of the index's
 * lengths, the index checksum (xxhash32 of the index bytes) against both the trailer and its metadata,
 * and that entry IDs strictly increase. Entries are then read by ranged gets and each one validated by
 * its own checksum; the data checksum (xxhash32 of [32, indexOffset)) serves whole-object verification.
 * The header repeats the ledger and first entry IDs so a stray object can be identified from its start.
 * The counts live at the end because the object is streamed: they are known only once it is written.
 * Entry IDs may have gaps (idDelta < 2^32); publish times need not be monotonic.
 */
import { MillraceError } from '../errors.js';
import type { ObjectStore } from './object-store.js';
import { XxHash32Stream, xxhash32Of } from './xxhash32-stream.js';
import { OFF_LENGTH } from '../../wasm/entry-format.js';

export const LEDGER_OBJECT_VERSION = 1;
export const HEADER_MAGIC = 0x424f4c4d; // 'MLOB' as little-endian bytes
export const INDEX_MAGIC = 0x58494c4d; // 'MLIX'
export const TRAILER_MAGIC = 0x52544c4d; // 'MLTR'
export const HEADER_SIZE = 32;
export const INDEX_HEADER_SIZE = 16;
export const INDEX_RECORD_SIZE = 16;
export const TRAILER_SIZE = 64;
/** The trailer checksum covers trailer bytes [0, this). */
export const TRAILER_CHECKED_BYTES = 48;
const TWO_32 = 0x1_0000_0000;
/** Entries are gathered into chunks of this size before they go to the store: one write per MiB. */
const CHUNK_BYTES = 1024 * 1024;

/** One entry to offload: the stored entry bytes (already checksummed) and its publish time. */
export interface OffloadEntry { entryId: number; entry: Uint8Array; publishTime: number }

/** What was written; the caller keeps `size` and `indexChecksum` to open the object later. */
export interface LedgerObjectSummary {
  size: number;
  entries: number;
  firstEntryId: number;
  lastEntryId: number;
  dataChecksum: number;
  indexChecksum: number;
}

/** The decoded trailer. */
export interface LedgerObjectTrailer {
  indexOffset: number;
  indexLength: number;
  count: number;
  firstEntryId: number;
  lastEntryId: number;
  ledgerId: number;
  dataChecksum: number;
  indexChecksum: number;
}

/**
 * Streams `entries` (ascending entryId) into the store under `key`; returns the summary; verifies by
 * re-reading trailer + index (head size matches, checksums match) before resolving. Throws
 * INVALID_ARGUMENT for an empty ledger, unordered IDs or bad fields (the put is then abandoned: no
 * object appears), OBJECT_CORRUPT when the read-back differs, and the store's errors.
 */
export async function writeLedgerObject(store: ObjectStore, key: string, ledgerId: number, entries: AsyncIterable<OffloadEntry>): Promise<LedgerObjectSummary> {
  requireId('ledgerId', ledgerId);
  const w = new ObjectWriter(ledgerId);
  await store.put(key, w.stream(entries));
  const summary = w.summary();
  await verifyWritten(store, key, ledgerId, summary);
  return summary;
}

function requireId(what: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new MillraceError('INVALID_ARGUMENT', `${what} must be a non-negative safe integer, got ${String(v)}`);
}

/** Builds the object's bytes as a stream of fresh chunks while it gathers the index. */
class ObjectWriter {
  private count = 0;
  private firstEntryId = -1;
  private lastEntryId = -1;
  private deltas = new Uint32Array(1024);
  private lengths = new Uint32Array(1024);
  private times = new Float64Array(1024);
  private dataBytes = 0;
  private readonly dataHash = new XxHash32Stream();
  private result: LedgerObjectSummary | undefined;

  constructor(private readonly ledgerId: number) {}

  summary(): LedgerObjectSummary {
    if (this.result === undefined) throw new MillraceError('INVALID_ARGUMENT', 'ledger object stream was not consumed to its end');
    return this.result;
  }

  async *stream(entries: AsyncIterable<OffloadEntry>): AsyncGenerator<Uint8Array> {
    let chunk = new Uint8Array(CHUNK_BYTES);
    let fill = 0;
    // Hash each chunk once it is complete: one pass over big aligned buffers (xxhash32-stream.ts fast path).
    const emit = (): Uint8Array => {
      const out = fill === chunk.length ? chunk : chunk.subarray(0, fill);
      chunk = new Uint8Array(CHUNK_BYTES);
      fill = 0;
      return out;
    };
    for await (const e of entries) {
      this.add(e);
      if (this.count === 1) {
        chunk.set(this.header(), 0);
        fill = HEADER_SIZE;
      }
      const bytes = e.entry;
      let at = 0;
      while (at < bytes.length) {
        if (fill === chunk.length) {
          const out = emit();
          this.hashData(out);
          yield out;
        }
        const n = Math.min(bytes.length - at, chunk.length - fill);
        chunk.set(n === bytes.length ? bytes : bytes.subarray(at, at + n), fill);
        fill += n;
        at += n;
      }
    }
    if (this.count === 0) throw new MillraceError('INVALID_ARGUMENT', `ledger ${this.ledgerId} has no entries: nothing to offload`);
    if (fill > 0) {
      const out = emit();
      this.hashData(out);
      yield out;
    }
    yield this.tail();
  }

  private hashed = 0;
  /** Feeds the data-region part of an emitted chunk (the first chunk starts with the header) to the hash. */
  private hashData(out: Uint8Array): void {
    const skip = this.hashed === 0 ? HEADER_SIZE : 0;
    this.dataHash.update(skip === 0 ? out : out.subarray(skip));
    this.hashed += out.length;
  }

  private add(e: OffloadEntry): void {
    if (e === null || typeof e !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'offload entries must be { entryId, entry, publishTime } objects');
    const { entryId, entry, publishTime } = e;
    requireId('entryId', entryId);
    if (!(entry instanceof Uint8Array) || entry.length === 0 || entry.length >= TWO_32) {
      throw new MillraceError('INVALID_ARGUMENT', `entry ${entryId} must be a non-empty Uint8Array under 4 GiB`);
    }
    // Cheap structural check (the full checksum is the reader's job): the entry's own length field.
    if (entry.length < 4 || new DataView(entry.buffer, entry.byteOffset, 4).getUint32(OFF_LENGTH, true) !== entry.length) {
      throw new MillraceError('INVALID_ARGUMENT', `entry ${entryId} is not a framed entry: its length field does not match its ${entry.length} bytes`);
    }
    if (!Number.isSafeInteger(publishTime) || publishTime < 0) {
      throw new MillraceError('INVALID_ARGUMENT', `entry ${entryId} publishTime must be a non-negative safe integer, got ${String(publishTime)}`);
    }
    if (this.count === 0) {
      this.firstEntryId = entryId;
    } else if (entryId <= this.lastEntryId) {
      throw new MillraceError('INVALID_ARGUMENT', `offload entries must have ascending IDs: ${entryId} after ${this.lastEntryId}`);
    } else if (entryId - this.firstEntryId >= TWO_32) {
      throw new MillraceError('INVALID_ARGUMENT', `entry IDs of one ledger must span less than 2^32, got ${this.firstEntryId}..${entryId}`);
    }
    if (this.count === this.deltas.length) this.grow();
    const i = this.count++;
    this.deltas[i] = entryId - this.firstEntryId;
    this.lengths[i] = entry.length;
    this.times[i] = publishTime;
    this.lastEntryId = entryId;
    this.dataBytes += entry.length;
  }

  private grow(): void {
    const n = this.deltas.length * 2;
    const d = new Uint32Array(n); d.set(this.deltas); this.deltas = d;
    const l = new Uint32Array(n); l.set(this.lengths); this.lengths = l;
    const t = new Float64Array(n); t.set(this.times); this.times = t;
  }

  private header(): Uint8Array {
    const b = new Uint8Array(HEADER_SIZE);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, HEADER_MAGIC, true);
    dv.setUint16(4, LEDGER_OBJECT_VERSION, true);
    setU64(dv, 8, this.ledgerId);
    setU64(dv, 16, this.firstEntryId);
    dv.setUint32(24, xxhash32Of(b.subarray(0, 24)), true);
    return b;
  }

  /** Index + trailer, as one chunk; sets the summary. */
  private tail(): Uint8Array {
    const n = this.count;
    const indexLength = INDEX_HEADER_SIZE + INDEX_RECORD_SIZE * n;
    const indexOffset = HEADER_SIZE + this.dataBytes;
    const b = new Uint8Array(indexLength + TRAILER_SIZE);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, INDEX_MAGIC, true);
    dv.setUint32(4, n, true);
    setU64(dv, 8, this.firstEntryId);
    for (let i = 0, p = INDEX_HEADER_SIZE; i < n; i++, p += INDEX_RECORD_SIZE) {
      dv.setUint32(p, this.deltas[i]!, true);
      dv.setUint32(p + 4, this.lengths[i]!, true);
      setU64(dv, p + 8, this.times[i]!);
    }
    const indexChecksum = xxhash32Of(b.subarray(0, indexLength));
    const dataChecksum = this.dataHash.digest();
    const t = indexLength;
    setU64(dv, t, indexOffset);
    dv.setUint32(t + 8, indexLength, true);
    dv.setUint32(t + 12, n, true);
    setU64(dv, t + 16, this.firstEntryId);
    setU64(dv, t + 24, this.lastEntryId);
    setU64(dv, t + 32, this.ledgerId);
    dv.setUint32(t + 40, dataChecksum, true);
    dv.setUint32(t + 44, indexChecksum, true);
    dv.setUint32(t + 48, xxhash32Of(b.subarray(t, t + TRAILER_CHECKED_BYTES)), true);
    dv.setUint32(t + 56, LEDGER_OBJECT_VERSION, true);
    dv.setUint32(t + 60, TRAILER_MAGIC, true);
    this.result = {
      size: indexOffset + indexLength + TRAILER_SIZE, entries: n, firstEntryId: this.firstEntryId,
      lastEntryId: this.lastEntryId, dataChecksum, indexChecksum,
    };
    return b;
  }
}

async function verifyWritten(store: ObjectStore, key: string, ledgerId: number, s: LedgerObjectSummary): Promise<void> {
  const h = await store.head(key);
  if (h === undefined || h.size !== s.size) {
    throw new MillraceError('OBJECT_CORRUPT', `ledger object ${key}: written ${s.size} bytes but the store holds ${h === undefined ? 'nothing' : `${h.size} bytes`}`);
  }
  const indexLength = INDEX_HEADER_SIZE + INDEX_RECORD_SIZE * s.entries;
  const tail = await store.get(key, { offset: s.size - indexLength - TRAILER_SIZE, length: indexLength + TRAILER_SIZE });
  const parsed = parseTail(tail, s.size, key, { ledgerId, indexChecksum: s.indexChecksum });
  const t = parsed.trailer;
  if (t.dataChecksum !== s.dataChecksum || t.count !== s.entries || t.firstEntryId !== s.firstEntryId || t.lastEntryId !== s.lastEntryId) {
    throw new MillraceError('OBJECT_CORRUPT', `ledger object ${key}: the stored trailer differs from what was written`);
  }
}

/** The index, decoded into typed arrays (offsets are absolute object offsets). */
export interface LedgerObjectIndex {
  trailer: LedgerObjectTrailer;
  entryIds: Float64Array;
  offsets: Float64Array;
  lengths: Uint32Array;
  publishTimes: Float64Array;
}

function corrupt(key: string, why: string): MillraceError {
  return new MillraceError('OBJECT_CORRUPT', `ledger object ${key}: ${why}`);
}

/** Decodes and checks the trailer from the object's last TRAILER_SIZE bytes. */
export function parseTrailer(b: Uint8Array, size: number, key: string): LedgerObjectTrailer {
  if (b.length !== TRAILER_SIZE) throw corrupt(key, `trailer is ${b.length} bytes, expected ${TRAILER_SIZE} (truncated object?)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.length);
  if (dv.getUint32(60, true) !== TRAILER_MAGIC) throw corrupt(key, 'bad trailer magic (truncated or not a ledger object)');
  const version = dv.getUint32(56, true);
  if (version !== LEDGER_OBJECT_VERSION) throw corrupt(key, `unsupported ledger object version ${version} (this build reads ${LEDGER_OBJECT_VERSION})`);
  if (xxhash32Of(b.subarray(0, TRAILER_CHECKED_BYTES)) !== dv.getUint32(48, true)) throw corrupt(key, 'trailer checksum mismatch');
  const t: LedgerObjectTrailer = {
    indexOffset: getU64(dv, 0), indexLength: dv.getUint32(8, true), count: dv.getUint32(12, true),
    firstEntryId: getU64(dv, 16), lastEntryId: getU64(dv, 24), ledgerId: getU64(dv, 32),
    dataChecksum: dv.getUint32(40, true), indexChecksum: dv.getUint32(44, true),
  };
  if (t.count === 0 || t.indexLength !== INDEX_HEADER_SIZE + INDEX_RECORD_SIZE * t.count
    || t.indexOffset + t.indexLength + TRAILER_SIZE !== size || t.indexOffset < HEADER_SIZE + t.count) {
    throw corrupt(key, 'trailer sizes do not add up to the object size');
  }
  return t;
}

/**
 * Decodes and checks `tail` = the index followed by the trailer (the object's last
 * indexLength + TRAILER_SIZE bytes, or more: only the end is used).
 */
export function parseTail(tail: Uint8Array, size: number, key: string, expect: { ledgerId: number; indexChecksum: number }): LedgerObjectIndex {
  if (tail.length < TRAILER_SIZE) throw corrupt(key, 'object is shorter than its trailer');
  const trailer = parseTrailer(tail.subarray(tail.length - TRAILER_SIZE), size, key);
  if (trailer.ledgerId !== expect.ledgerId) throw corrupt(key, `holds ledger ${trailer.ledgerId}, expected ${expect.ledgerId}`);
  if (trailer.indexChecksum !== expect.indexChecksum) throw corrupt(key, 'index checksum differs from the one recorded at offload');
  const start = tail.length - TRAILER_SIZE - trailer.indexLength;
  if (start < 0) throw corrupt(key, 'tail read does not cover the index');
  const ix = tail.subarray(start, start + trailer.indexLength);
  if (xxhash32Of(ix) !== trailer.indexChecksum) throw corrupt(key, 'index checksum mismatch');
  const dv = new DataView(ix.buffer, ix.byteOffset, ix.length);
  const n = trailer.count;
  if (dv.getUint32(0, true) !== INDEX_MAGIC || dv.getUint32(4, true) !== n || getU64(dv, 8) !== trailer.firstEntryId) {
    throw corrupt(key, 'index header does not match the trailer');
  }
  const entryIds = new Float64Array(n);
  const offsets = new Float64Array(n);
  const lengths = new Uint32Array(n);
  const publishTimes = new Float64Array(n);
  let off = HEADER_SIZE;
  let prev = -1;
  for (let i = 0, p = INDEX_HEADER_SIZE; i < n; i++, p += INDEX_RECORD_SIZE) {
    const id = trailer.firstEntryId + dv.getUint32(p, true);
    const len = dv.getUint32(p + 4, true);
    if (id <= prev || len === 0) throw corrupt(key, `index record ${i} is out of order or empty`);
    entryIds[i] = id;
    offsets[i] = off;
    lengths[i] = len;
    publishTimes[i] = getU64(dv, p + 8);
    off += len;
    prev = id;
  }
  if (off !== trailer.indexOffset) throw corrupt(key, 'index lengths do not cover the data region exactly');
  if (entryIds[0] !== trailer.firstEntryId || prev !== trailer.lastEntryId) throw corrupt(key, 'index entry IDs do not match the trailer');
  return { trailer, entryIds, offsets, lengths, publishTimes };
}

function setU64(dv: DataView, at: number, v: number): void {
  dv.setUint32(at, v % TWO_32, true);
  dv.setUint32(at + 4, Math.floor(v / TWO_32), true);
}

function getU64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * TWO_32 + dv.getUint32(at, true);
}
