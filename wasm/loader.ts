/**
 * Loads dist/wasm/millrace.wasm synchronously (it is 3 KB: compiling it blocks for well under a
 * millisecond) and wraps it as a {@link Framer}. One instance per thread: the module-level cache is per
 * isolate, so every worker thread that imports this file gets its own instance and its own memory.
 *
 * Memory is fixed at 16 MiB (no growth, so the views made here are never detached); the module works in
 * fixed regions (wasm/assembly/memory.ts). Per batch the JS side copies each payload into its final
 * place in the entry region once (u8.set), checking it on the way (no separate pass over the batch),
 * writes one 40-byte descriptor per message, and makes one
 * call that writes all headers and the checksum; the result leaves with one copy into a region of the
 * thread's output slab (output-slab.ts).
 *
 * `frameColumns` does no per-message work in JS at all: the payload (every message's bytes, back to
 * back) goes in with one copy, each column with one copy, and one call checks, lays out and checksums
 * the batch (wasm/assembly/columns.ts). The per-message JS work of `frame` (reading each message
 * object, three small copies) is most of its time, so this is the form that lets WASM pay off.
 */
import { copyBytes } from './copy.js';
import { readFileSync } from 'node:fs';
import { MillraceError } from '../core/errors.js';
import {
  ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, MSG_HAS_KEY, MSG_HAS_EVENT_TIME, MSG_HAS_DELIVER_AT, MSG_VALUE_NULL,
  OFF_CHECKSUM, OFF_PUBLISH_TIME, MAX_MESSAGES_PER_ENTRY, MAX_KEY_BYTES, MAX_PRODUCER_NAME_BYTES, MAX_SEQUENCE_DELTA,
} from './entry-format.js';
import { STATUS_BAD_PUBLISH_TIME } from './entry-status.js';
import { isTime, resolveMaxEntryBytes } from './batch.js';
import { isPublishTime } from './validate.js';
import { jsFramer, requireBytes, requireRange } from './reference.js';
import { outputSlab } from './output-slab.js';
import type { FrameBatch, FrameColumns, FrameMessage, Framer } from './types.js';

/**
 * The few WebAssembly JS API members used here: this project's lib settings (ES2022, no DOM) carry no
 * WebAssembly typings, so they are declared locally rather than pulling in the DOM lib.
 */
interface WasmMemory { readonly buffer: ArrayBuffer }
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The module's exports (wasm/assembly/index.ts). u32 results arrive as signed i32: use `>>> 0`. */
interface MillraceWasm {
  memory: WasmMemory;
  frameEntry(count: number, producerLen: number, publishTime: number, baseSeq: number): number;
  frameColumns(count: number, producerLen: number, publishTime: number, payloadLen: number, limit: number, opt: number): number;
  columnBase(which: number): number;
  validateEntry(len: number): number;
  sealEntry(len: number, publishTime: number): number;
  checksumEntryRegion(len: number): number;
  indexFloorByEntry(count: number, target: number): number;
  indexFloorByTime(count: number, t: number): number;
  entryBase(): number;
  entryCap(): number;
  descBase(): number;
  descStride(): number;
  descCap(): number;
  indexBase(): number;
  indexCap(): number;
  heapBase(): number;
}

/** The WASM framer, plus sparse index search over its index region (used by tests and the bench). */
export interface WasmFramer extends Framer {
  /** Copies `slots` (SparseIndex body words, 4 per slot) into the index region; false if they do not fit. */
  loadIndex(slots: Uint32Array, count: number): boolean;
  /** Slot of the last loaded index entry with entryId <= target, or -1. */
  indexFloorByEntry(count: number, target: number): number;
  /** Slot of the last loaded index entry with publishTime < t, else 0; -1 when count is 0. */
  indexFloorByTime(count: number, t: number): number;
  /**
   * How many batches `frame` and `frameColumns` have handed to the JS reference so far (a fault, for
   * the reference's error, or an entry too large for the WASM region). For tests and diagnostics: a
   * valid batch of ordinary size should never be handed over.
   */
  referenceFallbacks(): number;
}

let cached: WasmFramer | undefined;

/** Slots per column in the module's column arrays (wasm/assembly/memory.ts COL_SLOTS). */
const COL_SLOTS = 65536;

function isColumn(a: unknown, count: number): a is Int32Array {
  return a instanceof Int32Array && a.length >= count;
}

function isOptionalColumn(a: unknown, count: number): a is Float64Array | null | undefined {
  return a === undefined || a === null || (a instanceof Float64Array && a.length >= count);
}

/**
 * The WASM {@link Framer} of this thread, instantiated on first call (synchronously). Throws
 * MillraceError INVALID_ARGUMENT if dist/wasm/millrace.wasm is missing (run `npm run build:wasm`).
 */
export function loadWasmFramer(): WasmFramer {
  return (cached ??= instantiate());
}

function instantiate(): WasmFramer {
  let bytes: Buffer;
  const url = new URL('./millrace.wasm', import.meta.url);
  try {
    bytes = readFileSync(url);
  } catch (err) {
    throw new MillraceError('INVALID_ARGUMENT', `cannot read ${url.pathname}; build it with npm run build:wasm`, { cause: err });
  }
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {
    env: {
      // Nothing in the module should reach abort (it is built with --noAssert and never allocates).
      abort() { throw new Error('millrace.wasm aborted'); },
    },
  });
  const ex = instance.exports as unknown as MillraceWasm;
  const E = ex.entryBase();
  const ENTRY_CAP = ex.entryCap();
  const D = ex.descBase();
  const DESC_STRIDE = ex.descStride();
  const IDX = ex.indexBase();
  const INDEX_CAP = ex.indexCap();
  if (ex.heapBase() > E || DESC_STRIDE !== 40 || D % 8 !== 0 || IDX % 16 !== 0) {
    throw new Error('millrace.wasm: region layout does not match this loader (rebuild both)');
  }
  // Typed-array views assume little-endian, as the entry format does.
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) throw new Error('Millrace needs a little-endian host');

  let buffer = ex.memory.buffer;
  let u8 = new Uint8Array(buffer);
  let d32 = new Uint32Array(buffer, D, ex.descCap() / 4);
  let d64 = new Float64Array(buffer, D, ex.descCap() / 8);
  let idx32 = new Uint32Array(buffer, IDX, INDEX_CAP / 4);
  const COL = [0, 1, 2, 3, 4, 5].map((w) => ex.columnBase(w));
  if (COL.some((c) => c % 8 !== 0) || COL[5]! + 8 * COL_SLOTS > D + ex.descCap()) {
    throw new Error('millrace.wasm: column layout does not match this loader (rebuild both)');
  }
  let colKey = new Int32Array(buffer, COL[0], COL_SLOTS);
  let colProps = new Int32Array(buffer, COL[1], COL_SLOTS);
  let colValue = new Int32Array(buffer, COL[2], COL_SLOTS);
  let colSeq = new Float64Array(buffer, COL[3], COL_SLOTS);
  let colEt = new Float64Array(buffer, COL[4], COL_SLOTS);
  let colDa = new Float64Array(buffer, COL[5], COL_SLOTS);
  /** Re-creates the views if the memory was ever replaced (growth detaches them); a no-op in practice. */
  function views(): Uint8Array {
    if (ex.memory.buffer !== buffer) {
      buffer = ex.memory.buffer;
      u8 = new Uint8Array(buffer);
      d32 = new Uint32Array(buffer, D, ex.descCap() / 4);
      d64 = new Float64Array(buffer, D, ex.descCap() / 8);
      idx32 = new Uint32Array(buffer, IDX, INDEX_CAP / 4);
      colKey = new Int32Array(buffer, COL[0], COL_SLOTS);
      colProps = new Int32Array(buffer, COL[1], COL_SLOTS);
      colValue = new Int32Array(buffer, COL[2], COL_SLOTS);
      colSeq = new Float64Array(buffer, COL[3], COL_SLOTS);
      colEt = new Float64Array(buffer, COL[4], COL_SLOTS);
      colDa = new Float64Array(buffer, COL[5], COL_SLOTS);
    }
    return u8;
  }

  let fallbacks = 0;
  function toReference(batch: FrameBatch, maxEntryBytes: number | undefined): Uint8Array {
    fallbacks++;
    return jsFramer.frame(batch, maxEntryBytes);
  }
  function columnsToReference(c: FrameColumns, maxEntryBytes: number | undefined): Uint8Array {
    fallbacks++;
    return jsFramer.frameColumns(c, maxEntryBytes);
  }

  return {
    frame(batch: FrameBatch, maxEntryBytes?: number): Uint8Array {
      // One pass checks each message and copies it into place (batch.ts's planBatch would walk the
      // batch once more first). The pass accepts only what planBatch accepts; at anything else (a fault,
      // or an entry over maxEntryBytes or the WASM region) it hands the whole batch to the JS
      // reference, which throws planBatch's error for the first fault or frames the large entry, so
      // errors and bytes are exactly the reference's. What was copied so far is scratch.
      const max = resolveMaxEntryBytes(maxEntryBytes);
      if (batch === null || typeof batch !== 'object') return toReference(batch, maxEntryBytes);
      const messages = batch.messages;
      if (!Array.isArray(messages)) return toReference(batch, maxEntryBytes);
      const count = messages.length;
      const publishTime = batch.publishTime;
      const pn = batch.producerName;
      const prodLen = pn === undefined || pn === null ? 0 : pn instanceof Uint8Array ? pn.length : -1;
      if (count === 0 || count > MAX_MESSAGES_PER_ENTRY || !isTime(publishTime) || prodLen < 0
        || prodLen > MAX_PRODUCER_NAME_BYTES) {
        return toReference(batch, maxEntryBytes);
      }
      const mem = views();
      /** End of the bytes this entry may take: the size limit or the WASM region, whichever is less. */
      const end = E + (max < ENTRY_CAP ? max : ENTRY_CAP);
      let r = E + ENTRY_HEADER_SIZE + prodLen;
      if (r > end) return toReference(batch, maxEntryBytes);
      if (prodLen > 0) mem.set(pn!, E + ENTRY_HEADER_SIZE);
      let hasSeq = false;
      let base = -1;
      let prev = -1;
      let di = 0; // descriptor index in 32-bit words (10 per descriptor)
      for (let i = 0; i < count; i++, di += 10) {
        const m = messages[i] as FrameMessage | null | undefined;
        if (m === null || typeof m !== 'object') return toReference(batch, maxEntryBytes);
        const v = m.value;
        const k = m.key;
        const p = m.properties;
        const et = m.eventTime;
        const da = m.deliverAt;
        const s = m.sequenceId;
        if (i === 0) hasSeq = s !== undefined;
        let flags = 0;
        let t = r + MESSAGE_HEADER_SIZE;
        if (et !== undefined) {
          if (!isTime(et)) return toReference(batch, maxEntryBytes);
          flags |= MSG_HAS_EVENT_TIME;
          d64[(di >> 1) + 3] = et;
          t += 8;
        }
        if (da !== undefined) {
          if (!isTime(da)) return toReference(batch, maxEntryBytes);
          flags |= MSG_HAS_DELIVER_AT;
          d64[(di >> 1) + 4] = da;
          t += 8;
        }
        let keyLen = 0;
        if (k !== undefined && k !== null) {
          if (!(k instanceof Uint8Array) || k.length > MAX_KEY_BYTES) return toReference(batch, maxEntryBytes);
          flags |= MSG_HAS_KEY;
          keyLen = k.length;
        }
        let propsLen = 0;
        if (p !== undefined && p !== null) {
          if (!(p instanceof Uint8Array)) return toReference(batch, maxEntryBytes);
          propsLen = p.length;
        }
        let valueLen = 0;
        if (v === null) flags |= MSG_VALUE_NULL;
        else if (v instanceof Uint8Array) valueLen = v.length;
        else return toReference(batch, maxEntryBytes);
        if (hasSeq) {
          if (!isTime(s) || (i > 0 && (s <= prev || s - base > MAX_SEQUENCE_DELTA))) return toReference(batch, maxEntryBytes);
          if (i === 0) base = s;
          prev = s;
        } else if (s !== undefined) {
          return toReference(batch, maxEntryBytes);
        }
        // Checked before any copy, so nothing is written past the region.
        if (t + keyLen + propsLen + valueLen > end) return toReference(batch, maxEntryBytes);
        if (keyLen > 0) copyBytes(mem, k!, t);
        t += keyLen;
        if (propsLen > 0) copyBytes(mem, p!, t);
        t += propsLen;
        if (valueLen > 0) copyBytes(mem, v!, t);
        t += valueLen;
        d32[di] = flags;
        d32[di + 1] = keyLen;
        d32[di + 2] = propsLen;
        d32[di + 3] = valueLen;
        d32[di + 4] = hasSeq ? s! - base : 0;
        r = t;
      }
      const len = ex.frameEntry(count, prodLen, publishTime, base) >>> 0;
      const out = outputSlab.take(len);
      out.set(mem.subarray(E, E + len));
      return out;
    },

    frameColumns(c: FrameColumns, maxEntryBytes?: number): Uint8Array {
      // Only the O(1) shape is checked here; the module checks every message. Anything either refuses
      // goes to the reference, which throws planColumns' error (or frames an entry too large for the
      // region), so errors and bytes are exactly the reference's.
      const max = resolveMaxEntryBytes(maxEntryBytes);
      if (c === null || typeof c !== 'object') return columnsToReference(c, maxEntryBytes);
      const count = c.count;
      const publishTime = c.publishTime;
      const pn = c.producerName;
      const payload = c.payload;
      const keys = c.keyLengths;
      const props = c.propertiesLengths;
      const values = c.valueLengths;
      const seqs = c.sequenceIds;
      const ets = c.eventTimes;
      const das = c.deliverAt;
      const prodLen = pn === undefined || pn === null ? 0 : pn instanceof Uint8Array ? pn.length : -1;
      if (!Number.isSafeInteger(count) || count < 1 || count > MAX_MESSAGES_PER_ENTRY || !isTime(publishTime)
        || prodLen < 0 || prodLen > MAX_PRODUCER_NAME_BYTES || !(payload instanceof Uint8Array)
        || !isColumn(keys, count) || !isColumn(props, count) || !isColumn(values, count)
        || !isOptionalColumn(seqs, count) || !isOptionalColumn(ets, count) || !isOptionalColumn(das, count)) {
        return columnsToReference(c, maxEntryBytes);
      }
      const limit = max < ENTRY_CAP ? max : ENTRY_CAP;
      const payloadLen = payload.length;
      // Also what keeps the staged payload (at the region's end) clear of the headers being written.
      if (ENTRY_HEADER_SIZE + prodLen + count * MESSAGE_HEADER_SIZE + payloadLen > limit) return columnsToReference(c, maxEntryBytes);
      const mem = views();
      if (prodLen > 0) mem.set(pn!, E + ENTRY_HEADER_SIZE);
      mem.set(payload, E + ENTRY_CAP - payloadLen);
      colKey.set(keys.length === count ? keys : keys.subarray(0, count));
      colProps.set(props.length === count ? props : props.subarray(0, count));
      colValue.set(values.length === count ? values : values.subarray(0, count));
      let opt = 0;
      if (seqs) {
        opt |= 1;
        colSeq.set(seqs.length === count ? seqs : seqs.subarray(0, count));
      }
      if (ets) {
        opt |= 2;
        colEt.set(ets.length === count ? ets : ets.subarray(0, count));
      }
      if (das) {
        opt |= 4;
        colDa.set(das.length === count ? das : das.subarray(0, count));
      }
      const len = ex.frameColumns(count, prodLen, publishTime, payloadLen, limit, opt);
      if (len < 0) return columnsToReference(c, maxEntryBytes);
      const out = outputSlab.take(len);
      out.set(mem.subarray(E, E + len));
      return out;
    },

    seal(entry: Uint8Array, publishTime: number): number {
      requireBytes(entry, 'seal entry');
      if (!isPublishTime(publishTime)) return STATUS_BAD_PUBLISH_TIME;
      if (entry.length > ENTRY_CAP) return jsFramer.seal(entry, publishTime);
      const mem = views();
      mem.set(entry, E);
      const status = ex.sealEntry(entry.length, publishTime);
      if (status === 0) {
        // Only the checksum and publish time changed: copy those 12 bytes back, not the entry.
        entry.set(mem.subarray(E + OFF_CHECKSUM, E + OFF_CHECKSUM + 4), OFF_CHECKSUM);
        entry.set(mem.subarray(E + OFF_PUBLISH_TIME, E + OFF_PUBLISH_TIME + 8), OFF_PUBLISH_TIME);
      }
      return status;
    },

    validate(entry: Uint8Array): number {
      requireBytes(entry, 'validate entry');
      if (entry.length > ENTRY_CAP) return jsFramer.validate(entry);
      views().set(entry, E);
      return ex.validateEntry(entry.length);
    },

    checksum(bytes: Uint8Array, start: number, end: number): number {
      requireBytes(bytes, 'checksum bytes');
      requireRange(bytes, start, end);
      if (end - start > ENTRY_CAP) return jsFramer.checksum(bytes, start, end);
      views().set(bytes.subarray(start, end), E);
      return ex.checksumEntryRegion(end - start) >>> 0;
    },

    loadIndex(slots: Uint32Array, count: number): boolean {
      if (count * 16 > INDEX_CAP) return false;
      views();
      idx32.set(slots.subarray(0, count * 4), 0);
      return true;
    },

    indexFloorByEntry(count: number, target: number): number {
      return ex.indexFloorByEntry(count, target);
    },

    indexFloorByTime(count: number, t: number): number {
      return ex.indexFloorByTime(count, t);
    },

    referenceFallbacks(): number {
      return fallbacks;
    },
  };
}
