/**
 * Structural validation of the entry in the ENTRY region, and sealing (publish time + checksum). The
 * TypeScript reference (wasm/validate.ts) runs the same checks in the same order; the differential
 * tests hold them together. Every load below is preceded by a bounds check against `len`, so no input
 * reads outside [ENTRY_BASE, ENTRY_BASE + len) (and the region is inside the fixed memory anyway).
 */
import {
  ENTRY_VERSION, ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, OFF_LENGTH, OFF_CHECKSUM, OFF_VERSION, OFF_FLAGS,
  OFF_COUNT, OFF_PRODUCER_LEN, OFF_PUBLISH_TIME, OFF_BASE_SEQUENCE, CHECKSUM_FROM,
  MSG_HAS_KEY, MSG_HAS_EVENT_TIME, MSG_HAS_DELIVER_AT, MSG_VALUE_NULL,
} from '../entry-format';
import {
  STATUS_OK, STATUS_TOO_SHORT, STATUS_LENGTH_MISMATCH, STATUS_BAD_VERSION, STATUS_CHECKSUM_MISMATCH,
  STATUS_RECORD_OUT_OF_BOUNDS, STATUS_COUNT_MISMATCH, STATUS_BAD_FLAGS, STATUS_SEQUENCE_INVALID,
  STATUS_FIELD_OUT_OF_RANGE, STATUS_BAD_PUBLISH_TIME,
} from '../entry-status';
import { ENTRY_BASE, MAX_SAFE } from './memory';
import { xxh32 } from './xxhash32';

const KNOWN_MSG_FLAGS: u32 = MSG_HAS_KEY | MSG_HAS_EVENT_TIME | MSG_HAS_DELIVER_AT | MSG_VALUE_NULL;

/** Checks the `len`-byte entry at ENTRY_BASE; the checksum only when `withChecksum`. */
export function checkEntry(len: u32, withChecksum: bool): i32 {
  const e = ENTRY_BASE;
  if (len < <u32>ENTRY_HEADER_SIZE) return STATUS_TOO_SHORT;
  if (load<u32>(e + OFF_LENGTH) != len) return STATUS_LENGTH_MISMATCH;
  if (<i32>load<u8>(e + OFF_VERSION) != ENTRY_VERSION) return STATUS_BAD_VERSION;
  if (withChecksum) {
    if (xxh32(e + CHECKSUM_FROM, len - CHECKSUM_FROM, 0) != load<u32>(e + OFF_CHECKSUM)) return STATUS_CHECKSUM_MISMATCH;
  }
  // Entry flags (u8) and reserved (u16): version 1 defines none.
  if (load<u8>(e + OFF_FLAGS) != 0 || load<u16>(e + 14) != 0) return STATUS_BAD_FLAGS;
  if (load<u64>(e + OFF_PUBLISH_TIME) > MAX_SAFE) return STATUS_FIELD_OUT_OF_RANGE;
  const base = load<i64>(e + OFF_BASE_SEQUENCE);
  if (base < -1 || base > <i64>MAX_SAFE) return STATUS_SEQUENCE_INVALID;
  const count = <u32>load<u16>(e + OFF_COUNT);
  let pos = <u64>ENTRY_HEADER_SIZE + <u64>load<u16>(e + OFF_PRODUCER_LEN);
  const end = <u64>len;
  if (pos > end) return STATUS_TOO_SHORT;
  if (count == 0) return STATUS_COUNT_MISMATCH;
  let prevDelta: u64 = 0;
  for (let i: u32 = 0; i < count; i++) {
    if (pos + <u64>MESSAGE_HEADER_SIZE > end) return STATUS_RECORD_OUT_OF_BOUNDS;
    const r = e + <usize>pos;
    const size = <u64>load<u32>(r);
    const flags = <u32>load<u8>(r, 4);
    const keyLen = <u64>load<u16>(r, 6);
    if ((flags & ~KNOWN_MSG_FLAGS) != 0 || load<u8>(r, 5) != 0) return STATUS_BAD_FLAGS;
    if ((flags & MSG_HAS_KEY) == 0 && keyLen != 0) return STATUS_BAD_FLAGS;
    let hdr: u64 = <u64>MESSAGE_HEADER_SIZE;
    if (flags & MSG_HAS_EVENT_TIME) hdr += 8;
    if (flags & MSG_HAS_DELIVER_AT) hdr += 8;
    const need = hdr + keyLen + <u64>load<u32>(r, 8);
    if (size < need || pos + size > end) return STATUS_RECORD_OUT_OF_BOUNDS;
    if ((flags & MSG_VALUE_NULL) != 0 && size != need) return STATUS_BAD_FLAGS;
    let t = r + MESSAGE_HEADER_SIZE;
    if (flags & MSG_HAS_EVENT_TIME) {
      if (load<u64>(t) > MAX_SAFE) return STATUS_FIELD_OUT_OF_RANGE;
      t += 8;
    }
    if (flags & MSG_HAS_DELIVER_AT) {
      if (load<u64>(t) > MAX_SAFE) return STATUS_FIELD_OUT_OF_RANGE;
    }
    const delta = <u64>load<u32>(r, 12);
    if (base < 0) {
      if (delta != 0) return STATUS_SEQUENCE_INVALID;
    } else {
      if (i == 0 ? delta != 0 : delta <= prevDelta) return STATUS_SEQUENCE_INVALID;
      if (<u64>base + delta > MAX_SAFE) return STATUS_SEQUENCE_INVALID;
    }
    prevDelta = delta;
    pos += size;
  }
  if (pos != end) return STATUS_COUNT_MISMATCH;
  return STATUS_OK;
}

/** Full validation of the `len`-byte entry at ENTRY_BASE. */
export function validateEntry(len: u32): i32 {
  return checkEntry(len, true);
}

/**
 * Seals the `len`-byte entry at ENTRY_BASE: checks its structure (the checksum field is ignored), then
 * writes `publishTime` and the checksum in place. The loader copies those 12 bytes back to the caller's
 * entry, so the entry is copied into WASM memory once and never copied out whole.
 */
export function sealEntry(len: u32, publishTime: f64): i32 {
  // Written this way so NaN fails too.
  if (!(publishTime >= 0 && publishTime <= <f64>MAX_SAFE) || publishTime != Math.floor(publishTime)) {
    return STATUS_BAD_PUBLISH_TIME;
  }
  const status = checkEntry(len, false);
  if (status != STATUS_OK) return status;
  const e = ENTRY_BASE;
  store<u64>(e + OFF_PUBLISH_TIME, <u64>publishTime);
  store<u32>(e + OFF_CHECKSUM, xxh32(e + CHECKSUM_FROM, len - CHECKSUM_FROM, 0));
  return STATUS_OK;
}
