/**
 * Layout of a checked batch in plain JS: the client side (encodedSize / encodeInto, which may write
 * into a SharedArrayBuffer ring slot) and the JS reference framer both use it. Layout: entry-format.ts.
 */
import { copyBytes } from './copy.js';
import { MillraceError } from '../core/errors.js';
import {
  ENTRY_VERSION, ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, OFF_LENGTH, OFF_CHECKSUM, OFF_VERSION, OFF_FLAGS,
  OFF_COUNT, OFF_PRODUCER_LEN, OFF_PUBLISH_TIME, OFF_BASE_SEQUENCE,
  MSG_HAS_KEY, MSG_HAS_EVENT_TIME, MSG_HAS_DELIVER_AT, MSG_VALUE_NULL,
} from './entry-format.js';
import { planBatch, resolveMaxEntryBytes, type BatchPlan } from './batch.js';
import type { FrameBatch } from './types.js';

const TWO_32 = 0x1_0000_0000;

/** Writes a non-negative safe integer as u64 LE, or -1 as all ones (the "no base sequence" value). */
export function setU64(dv: DataView, at: number, n: number): void {
  if (n < 0) {
    dv.setUint32(at, 0xffffffff, true);
    dv.setUint32(at + 4, 0xffffffff, true);
  } else {
    dv.setUint32(at, n >>> 0, true);
    dv.setUint32(at + 4, Math.floor(n / TWO_32), true);
  }
}

/** Lays out `batch` (already checked into `plan`) at `target[offset..]`; publish time and checksum left 0. */
export function writeEntry(batch: FrameBatch, plan: BatchPlan, target: Uint8Array, offset: number): void {
  const dv = new DataView(target.buffer, target.byteOffset, target.byteLength);
  const prodLen = plan.producerName.length;
  dv.setUint32(offset + OFF_LENGTH, plan.size, true);
  dv.setUint32(offset + OFF_CHECKSUM, 0, true);
  dv.setUint8(offset + OFF_VERSION, ENTRY_VERSION);
  dv.setUint8(offset + OFF_FLAGS, 0);
  dv.setUint16(offset + OFF_COUNT, plan.count, true);
  dv.setUint16(offset + OFF_PRODUCER_LEN, prodLen, true);
  dv.setUint16(offset + 14, 0, true);
  setU64(dv, offset + OFF_PUBLISH_TIME, 0);
  setU64(dv, offset + OFF_BASE_SEQUENCE, plan.baseSequenceId);
  target.set(plan.producerName, offset + ENTRY_HEADER_SIZE);
  const base = plan.baseSequenceId;
  const messages = batch.messages;
  let r = offset + ENTRY_HEADER_SIZE + prodLen;
  for (let i = 0; i < plan.count; i++) {
    const m = messages[i]!;
    r = writeRecord(dv, target, r, m, base < 0 ? 0 : m.sequenceId! - base);
  }
}

/** The parts of one message record (entry-format.ts); absent and null key or properties alike mean none. */
export interface RecordParts {
  value: Uint8Array | null;
  key?: Uint8Array | null | undefined;
  properties?: Uint8Array | null | undefined;
  eventTime?: number | undefined;
  deliverAt?: number | undefined;
}

/**
 * Lays out one message record at `target[r..]` (`dv` views the same bytes) with its sequence-ID
 * delta, and returns where the next record starts. The one place records are written in JS: the
 * reference framer, encodeInto and the producer's batch builder all call it.
 */
export function writeRecord(dv: DataView, target: Uint8Array, r: number, m: RecordParts, sequenceDelta: number): number {
  const k = m.key;
  const p = m.properties;
  const v = m.value;
  let flags = 0;
  let t = r + MESSAGE_HEADER_SIZE;
  if (m.eventTime !== undefined) {
    flags |= MSG_HAS_EVENT_TIME;
    setU64(dv, t, m.eventTime);
    t += 8;
  }
  if (m.deliverAt !== undefined) {
    flags |= MSG_HAS_DELIVER_AT;
    setU64(dv, t, m.deliverAt);
    t += 8;
  }
  let keyLen = 0;
  if (k !== undefined && k !== null) {
    flags |= MSG_HAS_KEY;
    keyLen = k.length;
    copyBytes(target, k, t);
    t += keyLen;
  }
  let propsLen = 0;
  if (p !== undefined && p !== null) {
    propsLen = p.length;
    copyBytes(target, p, t);
    t += propsLen;
  }
  if (v === null) flags |= MSG_VALUE_NULL;
  else {
    copyBytes(target, v, t);
    t += v.length;
  }
  dv.setUint32(r, t - r, true);
  dv.setUint8(r + 4, flags);
  dv.setUint8(r + 5, 0);
  dv.setUint16(r + 6, keyLen, true);
  dv.setUint32(r + 8, propsLen, true);
  dv.setUint32(r + 12, sequenceDelta, true);
  return t;
}

/**
 * Bytes the entry for `batch` takes (what {@link encodeInto} writes). Checks the batch as `frame` does,
 * except publishTime, which the partition stamps later; throws the same MillraceErrors.
 */
export function encodedSize(batch: FrameBatch, maxEntryBytes?: number): number {
  return planBatch(batch, resolveMaxEntryBytes(maxEntryBytes), false).size;
}

/**
 * Client-side layout: writes the entry for `batch` into `target` at `offset` with publish time 0 and
 * checksum 0 (the partition seals it), and returns the bytes written. `target` may be a view of a
 * SharedArrayBuffer (a ring slot). Throws as `frame` does, and INVALID_ARGUMENT when the entry does not
 * fit in `target` from `offset`.
 */
export function encodeInto(batch: FrameBatch, target: Uint8Array, offset: number, maxEntryBytes?: number): number {
  if (!(target instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'encodeInto target must be a Uint8Array');
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > target.length) {
    throw new MillraceError('INVALID_ARGUMENT', `encodeInto offset must be an integer from 0 to ${target.length}, got ${String(offset)}`);
  }
  const plan = planBatch(batch, resolveMaxEntryBytes(maxEntryBytes), false);
  if (plan.size > target.length - offset) {
    throw new MillraceError('INVALID_ARGUMENT', `the entry needs ${plan.size} bytes but the target has ${target.length - offset} from offset ${offset}`);
  }
  writeEntry(batch, plan, target, offset);
  return plan.size;
}
