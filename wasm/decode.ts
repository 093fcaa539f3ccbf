/**
 * Zero-copy reading of entries: header readers (no validation, for ledger bookkeeping) and
 * {@link decodeEntry}, which returns views into the entry's own bytes. Call decodeEntry only on an
 * entry that validate() accepted; it still refuses (ENTRY_CORRUPT) a record walk that leaves bounds
 * rather than return views of the wrong bytes.
 */
import { MillraceError } from '../core/errors.js';
import {
  ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, OFF_LENGTH, OFF_COUNT, OFF_PRODUCER_LEN, OFF_PUBLISH_TIME,
  OFF_BASE_SEQUENCE, MSG_HAS_KEY, MSG_HAS_EVENT_TIME, MSG_HAS_DELIVER_AT, MSG_VALUE_NULL,
} from './entry-format.js';
import { getBase, getU64 } from './validate.js';

/** One message of a decoded entry; byte fields are subarray views of the entry (copy to keep them). */
export interface DecodedMessage {
  /** Position in the batch (the message ID's batch index). */
  index: number;
  /** null when the message has no key (an empty key decodes as an empty array). */
  key: Uint8Array | null;
  /** null when the properties are empty or absent. */
  properties: Uint8Array | null;
  /** null for a tombstone (MSG_VALUE_NULL). */
  value: Uint8Array | null;
  eventTime: number | undefined;
  deliverAt: number | undefined;
  sequenceId: number | undefined;
}

/** A decoded entry; producerName and the messages' bytes are views of the entry. */
export interface DecodedEntry {
  length: number;
  publishTime: number;
  /** The first message's sequence ID, or -1 when the batch has none. */
  baseSequenceId: number;
  producerName: Uint8Array;
  count: number;
  messages: DecodedMessage[];
}

function view(entry: Uint8Array): DataView {
  return new DataView(entry.buffer, entry.byteOffset, entry.length);
}

/** The length field (no validation). */
export function entryLength(entry: Uint8Array): number {
  return view(entry).getUint32(OFF_LENGTH, true);
}

/** The message count field (no validation). */
export function entryCount(entry: Uint8Array): number {
  return view(entry).getUint16(OFF_COUNT, true);
}

/** The publish time field, epoch ms (no validation). */
export function entryPublishTime(entry: Uint8Array): number {
  return getU64(view(entry), OFF_PUBLISH_TIME);
}

/** The first message's sequence ID, or -1 when the batch has none (no validation). */
export function entryBaseSequenceId(entry: Uint8Array): number {
  return getBase(view(entry), OFF_BASE_SEQUENCE);
}

/**
 * The last message's sequence ID (the highest, as they strictly increase), or -1 when the batch has
 * none. Walks the record headers (count steps, no payload reads); expects a validated entry and throws
 * RangeError if the walk leaves the bytes.
 */
export function entryLastSequenceId(entry: Uint8Array): number {
  const dv = view(entry);
  const base = getBase(dv, OFF_BASE_SEQUENCE);
  if (base < 0) return -1;
  const count = dv.getUint16(OFF_COUNT, true);
  let pos = ENTRY_HEADER_SIZE + dv.getUint16(OFF_PRODUCER_LEN, true);
  for (let i = 1; i < count; i++) pos += dv.getUint32(pos, true);
  return base + dv.getUint32(pos + 12, true);
}

function corrupt(message: string): MillraceError {
  return new MillraceError('ENTRY_CORRUPT', `${message}; validate entries before decoding them`);
}

/** Reads a validated entry into views of its bytes. Throws ENTRY_CORRUPT if the records leave bounds. */
export function decodeEntry(entry: Uint8Array): DecodedEntry {
  const len = entry.length;
  if (len < ENTRY_HEADER_SIZE) throw corrupt(`entry is ${len} bytes, shorter than its header`);
  const dv = view(entry);
  const base = getBase(dv, OFF_BASE_SEQUENCE);
  const count = dv.getUint16(OFF_COUNT, true);
  const prodLen = dv.getUint16(OFF_PRODUCER_LEN, true);
  let pos = ENTRY_HEADER_SIZE + prodLen;
  if (pos > len) throw corrupt('producer name runs past the entry end');
  const producerName = entry.subarray(ENTRY_HEADER_SIZE, pos);
  const messages: DecodedMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    if (pos + MESSAGE_HEADER_SIZE > len) throw corrupt(`record ${i} header runs past the entry end`);
    const size = dv.getUint32(pos, true);
    const flags = dv.getUint8(pos + 4);
    const keyLen = dv.getUint16(pos + 6, true);
    const propsLen = dv.getUint32(pos + 8, true);
    const end = pos + size;
    let t = pos + MESSAGE_HEADER_SIZE;
    let eventTime: number | undefined;
    let deliverAt: number | undefined;
    if (flags & MSG_HAS_EVENT_TIME) {
      eventTime = getU64(dv, t);
      t += 8;
    }
    if (flags & MSG_HAS_DELIVER_AT) {
      deliverAt = getU64(dv, t);
      t += 8;
    }
    if (end > len || t + keyLen + propsLen > end) throw corrupt(`record ${i} runs past its size or the entry end`);
    const key = flags & MSG_HAS_KEY ? entry.subarray(t, t + keyLen) : null;
    t += keyLen;
    const properties = propsLen > 0 ? entry.subarray(t, t + propsLen) : null;
    t += propsLen;
    const value = flags & MSG_VALUE_NULL ? null : entry.subarray(t, end);
    messages[i] = {
      index: i, key, properties, value, eventTime, deliverAt,
      sequenceId: base < 0 ? undefined : base + dv.getUint32(pos + 12, true),
    };
    pos = end;
  }
  return {
    length: dv.getUint32(OFF_LENGTH, true),
    publishTime: getU64(dv, OFF_PUBLISH_TIME),
    baseSequenceId: base,
    producerName,
    count,
    messages,
  };
}
