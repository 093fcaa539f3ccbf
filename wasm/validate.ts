/**
 * Entry validation in plain JS: the reference for wasm/assembly/validate.ts, same checks in the same
 * order (entry-status.ts lists it). Reads only through a bounds-checked DataView after explicit length
 * checks, and every loop advances by at least 16 bytes, so no input throws, hangs or reads outside.
 */
import {
  ENTRY_VERSION, ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, OFF_LENGTH, OFF_CHECKSUM, OFF_VERSION, OFF_FLAGS,
  OFF_COUNT, OFF_PRODUCER_LEN, OFF_PUBLISH_TIME, OFF_BASE_SEQUENCE, CHECKSUM_FROM,
  MSG_HAS_KEY, MSG_HAS_EVENT_TIME, MSG_HAS_DELIVER_AT, MSG_VALUE_NULL,
} from './entry-format.js';
import * as S from './entry-status.js';
import { xxhash32 } from './xxhash32.js';

const KNOWN_MSG_FLAGS = MSG_HAS_KEY | MSG_HAS_EVENT_TIME | MSG_HAS_DELIVER_AT | MSG_VALUE_NULL;
/** High word of 2^53 - 1: a u64 is a safe integer iff its high u32 is at most this. */
const SAFE_HI = 0x1fffff;
const TWO_32 = 0x1_0000_0000;

/** A u64 field as a number; only exact when the field passed the SAFE_HI check. */
export function getU64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * TWO_32 + dv.getUint32(at, true);
}

/** The base sequence ID field: -1 (all ones) or a number (exact when valid). */
export function getBase(dv: DataView, at: number): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  return lo === 0xffffffff && hi === 0xffffffff ? -1 : hi * TWO_32 + lo;
}

/** Checks the structure of `entry` (and its checksum when `withChecksum`); an EntryStatus value. */
export function checkEntry(entry: Uint8Array, withChecksum: boolean): number {
  const len = entry.length;
  if (len < ENTRY_HEADER_SIZE) return S.STATUS_TOO_SHORT;
  const dv = new DataView(entry.buffer, entry.byteOffset, len);
  if (dv.getUint32(OFF_LENGTH, true) !== len) return S.STATUS_LENGTH_MISMATCH;
  if (dv.getUint8(OFF_VERSION) !== ENTRY_VERSION) return S.STATUS_BAD_VERSION;
  if (withChecksum && xxhash32(entry, CHECKSUM_FROM, len) !== dv.getUint32(OFF_CHECKSUM, true)) {
    return S.STATUS_CHECKSUM_MISMATCH;
  }
  if (dv.getUint8(OFF_FLAGS) !== 0 || dv.getUint16(14, true) !== 0) return S.STATUS_BAD_FLAGS;
  if (dv.getUint32(OFF_PUBLISH_TIME + 4, true) > SAFE_HI) return S.STATUS_FIELD_OUT_OF_RANGE;
  const baseLo = dv.getUint32(OFF_BASE_SEQUENCE, true);
  const baseHi = dv.getUint32(OFF_BASE_SEQUENCE + 4, true);
  const noBase = baseLo === 0xffffffff && baseHi === 0xffffffff;
  if (!noBase && baseHi > SAFE_HI) return S.STATUS_SEQUENCE_INVALID;
  const base = noBase ? -1 : baseHi * TWO_32 + baseLo;
  const count = dv.getUint16(OFF_COUNT, true);
  let pos = ENTRY_HEADER_SIZE + dv.getUint16(OFF_PRODUCER_LEN, true);
  if (pos > len) return S.STATUS_TOO_SHORT;
  if (count === 0) return S.STATUS_COUNT_MISMATCH;
  let prevDelta = 0;
  for (let i = 0; i < count; i++) {
    if (pos + MESSAGE_HEADER_SIZE > len) return S.STATUS_RECORD_OUT_OF_BOUNDS;
    const size = dv.getUint32(pos, true);
    const flags = dv.getUint8(pos + 4);
    const keyLen = dv.getUint16(pos + 6, true);
    if ((flags & ~KNOWN_MSG_FLAGS) !== 0 || dv.getUint8(pos + 5) !== 0) return S.STATUS_BAD_FLAGS;
    if ((flags & MSG_HAS_KEY) === 0 && keyLen !== 0) return S.STATUS_BAD_FLAGS;
    let hdr = MESSAGE_HEADER_SIZE;
    if (flags & MSG_HAS_EVENT_TIME) hdr += 8;
    if (flags & MSG_HAS_DELIVER_AT) hdr += 8;
    const need = hdr + keyLen + dv.getUint32(pos + 8, true);
    if (size < need || pos + size > len) return S.STATUS_RECORD_OUT_OF_BOUNDS;
    if ((flags & MSG_VALUE_NULL) !== 0 && size !== need) return S.STATUS_BAD_FLAGS;
    let t = pos + MESSAGE_HEADER_SIZE;
    if (flags & MSG_HAS_EVENT_TIME) {
      if (dv.getUint32(t + 4, true) > SAFE_HI) return S.STATUS_FIELD_OUT_OF_RANGE;
      t += 8;
    }
    if (flags & MSG_HAS_DELIVER_AT) {
      if (dv.getUint32(t + 4, true) > SAFE_HI) return S.STATUS_FIELD_OUT_OF_RANGE;
    }
    const delta = dv.getUint32(pos + 12, true);
    if (base < 0) {
      if (delta !== 0) return S.STATUS_SEQUENCE_INVALID;
    } else {
      if (i === 0 ? delta !== 0 : delta <= prevDelta) return S.STATUS_SEQUENCE_INVALID;
      if (base + delta > Number.MAX_SAFE_INTEGER) return S.STATUS_SEQUENCE_INVALID;
    }
    prevDelta = delta;
    pos += size;
  }
  if (pos !== len) return S.STATUS_COUNT_MISMATCH;
  return S.STATUS_OK;
}

/** True when `t` is a valid publish time for seal: a non-negative safe integer. */
export function isPublishTime(t: unknown): t is number {
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 0;
}
