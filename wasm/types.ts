/** The framing contract shared by the JS reference and the WASM framer (see index.ts for the surface). */

/** One message of a producer batch, as the client hands it to the framer. */
export interface FrameMessage {
  /** The payload; `null` is a tombstone (stored with MSG_VALUE_NULL and no bytes). */
  value: Uint8Array | null;
  /** Routing / compaction key, at most 65535 bytes; `null` or absent: no key (an empty array is a key). */
  key?: Uint8Array | null;
  /** Pre-encoded properties (msgpack); `null`, absent or empty are all stored as length 0 (decoded as null). */
  properties?: Uint8Array | null;
  /** Producer-set event time, epoch ms, a non-negative safe integer. */
  eventTime?: number;
  /** Delayed delivery time, epoch ms, a non-negative safe integer. */
  deliverAt?: number;
  /** Producer sequence ID for deduplication: given for every message of a batch or for none. */
  sequenceId?: number;
}

/** One producer batch: it becomes one entry. */
export interface FrameBatch {
  /** Epoch ms stamped by the partition (`frame`); ignored by `encodedSize`/`encodeInto`, which write 0. */
  publishTime: number;
  /** Producer name bytes (UTF-8), at most 65535; `null`/absent: empty. */
  producerName?: Uint8Array | null;
  /** 1 to 65535 messages. */
  messages: readonly FrameMessage[];
}

/**
 * One producer batch as columns: the form a batching producer accumulates naturally (append each
 * message's bytes to one staging buffer, its lengths and times to typed arrays) and the form that lets
 * framing cost per batch rather than per message: no object per message, one payload copy.
 * It frames to exactly the bytes {@link Framer.frame} gives for the same messages ({@link toColumns}
 * converts). Every column may be longer than `count` (a reused buffer); only the first `count` slots
 * are read.
 */
export interface FrameColumns {
  /** Epoch ms stamped by the partition, as {@link FrameBatch.publishTime}. */
  publishTime: number;
  /** Producer name bytes (UTF-8), at most 65535; `null`/absent: empty. */
  producerName?: Uint8Array | null;
  /** Number of messages, 1 to 65535. */
  count: number;
  /**
   * Message after message, each message's key, then properties, then value bytes (the order a record
   * holds them); exactly as long as the lengths below add up to.
   */
  payload: Uint8Array;
  /** Key length per message, 0 to 65535, or -1: no key (an empty key is 0). */
  keyLengths: Int32Array;
  /** Properties (msgpack) length per message, 0 or more (0: none). */
  propertiesLengths: Int32Array;
  /** Value length per message, 0 or more, or -1: a null value (tombstone). */
  valueLengths: Int32Array;
  /** Sequence IDs (non-negative safe integers, strictly increasing, span below 2^32); `null`/absent: none. */
  sequenceIds?: Float64Array | null;
  /** Event time per message (epoch ms, a non-negative safe integer) or -1: none; `null`/absent: none at all. */
  eventTimes?: Float64Array | null;
  /** Deliver-at time per message (epoch ms, a non-negative safe integer) or -1: none; `null`/absent: none at all. */
  deliverAt?: Float64Array | null;
}

/** Frames, seals and validates entries; {@link jsFramer} and the WASM framer implement it identically. */
export interface Framer {
  /**
   * Full framing: layout + publish time + checksum, into a fresh ordinary (not SharedArrayBuffer-backed)
   * Uint8Array whose bytes no other call returns or writes. It may be a view into a larger ArrayBuffer
   * holding other entries (output-slab.ts): use byteOffset with `.buffer`, and copy it before posting
   * or transferring it to another thread. Throws MillraceError BATCH_EMPTY, SEQUENCE_INVALID, INVALID_ARGUMENT or ENTRY_TOO_LARGE
   * (over `maxEntryBytes`, default {@link DEFAULT_MAX_ENTRY_BYTES}).
   */
  frame(batch: FrameBatch, maxEntryBytes?: number): Uint8Array;
  /**
   * {@link frame} for a batch given as columns: the same checks, the same errors (for a column's
   * shape and the payload length too, INVALID_ARGUMENT) and, for the same messages, the same bytes.
   */
  frameColumns(columns: FrameColumns, maxEntryBytes?: number): Uint8Array;
  /**
   * Stamps `publishTime` into a laid-out entry and writes its checksum, after checking its structure
   * (the old checksum field is ignored). Returns EntryStatus.OK or a negative status and then leaves the
   * entry unchanged; never throws on bad bytes (only on a non-Uint8Array argument).
   */
  seal(entry: Uint8Array, publishTime: number): number;
  /** Full validation (length, version, checksum, records); EntryStatus.OK or a negative status, never throws on bad bytes. */
  validate(entry: Uint8Array): number;
  /** xxhash32 (seed 0) of bytes[start, end), an unsigned 32-bit integer. */
  checksum(bytes: Uint8Array, start: number, end: number): number;
}

/** Default maximum entry size: 5 MiB, Pulsar's default max message size. */
export const DEFAULT_MAX_ENTRY_BYTES = 5 * 1024 * 1024;
