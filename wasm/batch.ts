/**
 * Checking a {@link FrameBatch} and measuring its entry, shared by every framing path (JS reference,
 * WASM framer, client-side encodeInto) so that they accept the same batches and throw the same error for
 * the same first fault. Order: batch shape, message count, publish time (frame only), producer name,
 * then message by message: value, key, properties, eventTime, deliverAt, sequenceId; the size limit last.
 */
import { MillraceError } from '../core/errors.js';
import {
  ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, MAX_MESSAGES_PER_ENTRY, MAX_KEY_BYTES, MAX_PRODUCER_NAME_BYTES,
  MAX_SEQUENCE_DELTA,
} from './entry-format.js';
import { DEFAULT_MAX_ENTRY_BYTES, type FrameBatch } from './types.js';

/** What a checked batch needs for layout. */
export interface BatchPlan {
  /** Total entry bytes. */
  size: number;
  count: number;
  producerName: Uint8Array;
  /** First sequence ID, or -1 when the batch has none. */
  baseSequenceId: number;
}

const EMPTY: Uint8Array = new Uint8Array(0);
/** The entry length is a u32 field. */
const MAX_ENTRY_LIMIT = 0xffffffff;

function invalid(message: string): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', message);
}

/** A non-negative safe integer (publish, event and deliver-at times, sequence IDs). */
export function isTime(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/** Checks `maxEntryBytes` (undefined: the 5 MiB default) and returns the limit to apply. */
export function resolveMaxEntryBytes(maxEntryBytes: number | undefined): number {
  if (maxEntryBytes === undefined) return DEFAULT_MAX_ENTRY_BYTES;
  if (!Number.isSafeInteger(maxEntryBytes) || maxEntryBytes < ENTRY_HEADER_SIZE + MESSAGE_HEADER_SIZE
    || maxEntryBytes > MAX_ENTRY_LIMIT) {
    throw invalid(`maxEntryBytes must be an integer from ${ENTRY_HEADER_SIZE + MESSAGE_HEADER_SIZE} to ${MAX_ENTRY_LIMIT}, got ${String(maxEntryBytes)}`);
  }
  return maxEntryBytes;
}

/**
 * Checks `batch` and returns its layout plan; throws MillraceError on the first fault. `withPublishTime`
 * checks batch.publishTime (frame stamps it; encodeInto writes 0 and ignores it).
 */
export function planBatch(batch: FrameBatch, maxEntryBytes: number, withPublishTime: boolean): BatchPlan {
  if (batch === null || typeof batch !== 'object') throw invalid('batch must be an object { publishTime, producerName?, messages }');
  const messages = batch.messages;
  if (!Array.isArray(messages)) throw invalid('batch.messages must be an array of messages');
  const count = messages.length;
  if (count === 0) throw new MillraceError('BATCH_EMPTY', 'a batch needs at least one message');
  if (count > MAX_MESSAGES_PER_ENTRY) {
    throw invalid(`a batch holds at most ${MAX_MESSAGES_PER_ENTRY} messages, got ${count}`);
  }
  if (withPublishTime && !isTime(batch.publishTime)) {
    throw invalid(`batch.publishTime must be a non-negative safe integer (epoch ms), got ${String(batch.publishTime)}`);
  }
  let producerName = EMPTY;
  const pn = batch.producerName;
  if (pn !== undefined && pn !== null) {
    if (!(pn instanceof Uint8Array)) throw invalid('batch.producerName must be a Uint8Array (UTF-8) or null');
    if (pn.length > MAX_PRODUCER_NAME_BYTES) {
      throw invalid(`batch.producerName is ${pn.length} bytes; at most ${MAX_PRODUCER_NAME_BYTES} are allowed`);
    }
    producerName = pn;
  }
  let size = ENTRY_HEADER_SIZE + producerName.length;
  let hasSeq = false;
  let base = -1;
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const m = messages[i];
    if (m === null || typeof m !== 'object') throw invalid(`messages[${i}] must be an object { value, key?, ... }`);
    size += MESSAGE_HEADER_SIZE;
    const v = m.value;
    if (v !== null) {
      if (!(v instanceof Uint8Array)) throw invalid(`messages[${i}].value must be a Uint8Array or null`);
      size += v.length;
    }
    const k = m.key;
    if (k !== undefined && k !== null) {
      if (!(k instanceof Uint8Array)) throw invalid(`messages[${i}].key must be a Uint8Array, null or absent`);
      if (k.length > MAX_KEY_BYTES) throw invalid(`messages[${i}].key is ${k.length} bytes; at most ${MAX_KEY_BYTES} are allowed`);
      size += k.length;
    }
    const p = m.properties;
    if (p !== undefined && p !== null) {
      if (!(p instanceof Uint8Array)) throw invalid(`messages[${i}].properties must be a Uint8Array (msgpack), null or absent`);
      size += p.length;
    }
    const et = m.eventTime;
    if (et !== undefined) {
      if (!isTime(et)) throw invalid(`messages[${i}].eventTime must be a non-negative safe integer (epoch ms) or absent`);
      size += 8;
    }
    const da = m.deliverAt;
    if (da !== undefined) {
      if (!isTime(da)) throw invalid(`messages[${i}].deliverAt must be a non-negative safe integer (epoch ms) or absent`);
      size += 8;
    }
    const s = m.sequenceId;
    if (i === 0) hasSeq = s !== undefined;
    if ((s !== undefined) !== hasSeq) {
      throw new MillraceError('SEQUENCE_INVALID', `messages[${i}] ${hasSeq ? 'lacks' : 'has'} a sequenceId; give one for every message of a batch or for none`);
    }
    if (hasSeq) {
      if (!isTime(s)) throw new MillraceError('SEQUENCE_INVALID', `messages[${i}].sequenceId must be a non-negative safe integer, got ${String(s)}`);
      if (i === 0) base = s;
      else if (s <= prev) {
        throw new MillraceError('SEQUENCE_INVALID', `messages[${i}].sequenceId ${s} is not above the previous ${prev}; sequence IDs must strictly increase`);
      } else if (s - base > MAX_SEQUENCE_DELTA) {
        throw new MillraceError('SEQUENCE_INVALID', `messages[${i}].sequenceId ${s} is more than ${MAX_SEQUENCE_DELTA} above the batch's first ${base}`);
      }
      prev = s;
    }
  }
  if (size > maxEntryBytes) {
    throw new MillraceError('ENTRY_TOO_LARGE', `the batch frames to ${size} bytes; the maximum entry size is ${maxEntryBytes}`);
  }
  return { size, count, producerName, baseSequenceId: base };
}
