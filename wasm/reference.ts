/**
 * The plain TypeScript framer: the reference the WASM framer is tested against byte for byte, and the
 * fallback for entries larger than the WASM entry region (10 MiB). Written for clarity first, but
 * without waste (one DataView, one u8.set per field), so the benchmark ratio is an honest one.
 */
import { MillraceError } from '../core/errors.js';
import { CHECKSUM_FROM, OFF_CHECKSUM, OFF_PUBLISH_TIME } from './entry-format.js';
import { STATUS_BAD_PUBLISH_TIME, STATUS_OK } from './entry-status.js';
import { planBatch, resolveMaxEntryBytes } from './batch.js';
import { planColumns, writeColumns } from './columns.js';
import { setU64, writeEntry } from './encode.js';
import { checkEntry, isPublishTime } from './validate.js';
import { xxhash32 } from './xxhash32.js';
import { outputSlab } from './output-slab.js';
import type { FrameBatch, FrameColumns, Framer } from './types.js';

/** Throws INVALID_ARGUMENT unless `bytes` is a Uint8Array (the only non-status failure of seal/validate). */
export function requireBytes(bytes: unknown, what: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', `${what} must be a Uint8Array`);
}

/** Throws INVALID_ARGUMENT unless 0 <= start <= end <= length, all integers. */
export function requireRange(bytes: Uint8Array, start: number, end: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start > end || end > bytes.length) {
    throw new MillraceError('INVALID_ARGUMENT', `checksum range must satisfy 0 <= start <= end <= ${bytes.length}, got [${String(start)}, ${String(end)})`);
  }
}

/** Writes the publish time and the checksum into a laid-out entry of `size` bytes; returns it. */
function stampAndSum(out: Uint8Array, size: number, publishTime: number): Uint8Array {
  const dv = new DataView(out.buffer, out.byteOffset, size);
  setU64(dv, OFF_PUBLISH_TIME, publishTime);
  dv.setUint32(OFF_CHECKSUM, xxhash32(out, CHECKSUM_FROM, size), true);
  return out;
}

/** The reference {@link Framer}. */
export const jsFramer: Framer = {
  frame(batch: FrameBatch, maxEntryBytes?: number): Uint8Array {
    const plan = planBatch(batch, resolveMaxEntryBytes(maxEntryBytes), true);
    const out = outputSlab.take(plan.size);
    writeEntry(batch, plan, out, 0);
    return stampAndSum(out, plan.size, batch.publishTime);
  },

  frameColumns(columns: FrameColumns, maxEntryBytes?: number): Uint8Array {
    const plan = planColumns(columns, resolveMaxEntryBytes(maxEntryBytes), true);
    const out = outputSlab.take(plan.size);
    writeColumns(columns, plan, out, 0);
    return stampAndSum(out, plan.size, columns.publishTime);
  },

  seal(entry: Uint8Array, publishTime: number): number {
    requireBytes(entry, 'seal entry');
    if (!isPublishTime(publishTime)) return STATUS_BAD_PUBLISH_TIME;
    const status = checkEntry(entry, false);
    if (status !== STATUS_OK) return status;
    const dv = new DataView(entry.buffer, entry.byteOffset, entry.length);
    setU64(dv, OFF_PUBLISH_TIME, publishTime);
    dv.setUint32(OFF_CHECKSUM, xxhash32(entry, CHECKSUM_FROM, entry.length), true);
    return STATUS_OK;
  },

  validate(entry: Uint8Array): number {
    requireBytes(entry, 'validate entry');
    return checkEntry(entry, true);
  },

  checksum(bytes: Uint8Array, start: number, end: number): number {
    requireBytes(bytes, 'checksum bytes');
    requireRange(bytes, start, end);
    return xxhash32(bytes, start, end);
  },
};
