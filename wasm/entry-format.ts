/**
 * The entry: one producer batch as it is stored in a ledger (LMDB value, offloaded object) and as it
 * travels through the rings. This file is the one place the layout is defined; the AssemblyScript
 * framer (`assembly/frame.ts`) and the TypeScript reference (`reference.ts`) both follow it.
 *
 * ```
 * Entry, version 1 (all integers little-endian)
 *  0               4               8       9       10              12              14              16
 *  +---------------+---------------+-------+-------+---------------+---------------+---------------+
 *  | length u32    | checksum u32  | ver u8|flags u8| count u16     | prodLen u16   | reserved u16  |
 *  +---------------+---------------+-------+-------+---------------+---------------+---------------+
 *  16                              24                              32
 *  | publish time u64 (epoch ms)   | base sequence ID i64 (-1: none)| producer name (prodLen bytes, UTF-8)
 *  +-------------------------------+-------------------------------+------------------------------------
 *  then `count` message records, back to back (no padding):
 *
 * Message record
 *  0               4       5       6               8               12              16
 *  +---------------+-------+-------+---------------+---------------+---------------+
 *  | size u32      |flags u8| rsv u8| keyLen u16    | propsLen u32  | seqDelta u32  |
 *  +---------------+-------+-------+---------------+---------------+---------------+
 *  16: [event time u64 if flags & HAS_EVENT_TIME] [deliver-at u64 if flags & HAS_DELIVER_AT]
 *  then key (keyLen), properties (propsLen, msgpack), value (the rest of `size`)
 * ```
 *
 * Reading rule: `length` covers the whole entry and must equal the stored value's length; `checksum` is
 * xxhash32 (seed 0) of bytes [8, length); `ver` must be {@link ENTRY_VERSION} (a reader refuses newer
 * versions rather than guess); the records must fill [32 + prodLen, length) exactly, each `size` at
 * least its header plus keyLen plus propsLen. A message's sequence ID is `base + seqDelta` (only when
 * base >= 0). A value is absent (a tombstone, for compaction) when flags & VALUE_NULL, and then empty.
 * `publish time` is stamped by the partition when the entry is appended, not by the producer.
 */

/** Format version written by this build; readers refuse anything else. */
export const ENTRY_VERSION = 1;
/** Bytes of the fixed entry header, before the producer name. */
export const ENTRY_HEADER_SIZE = 32;
/** Bytes of the fixed message record header, before the optional times. */
export const MESSAGE_HEADER_SIZE = 16;

// Entry header offsets.
export const OFF_LENGTH = 0;
export const OFF_CHECKSUM = 4;
export const OFF_VERSION = 8;
export const OFF_FLAGS = 9;
export const OFF_COUNT = 10;
export const OFF_PRODUCER_LEN = 12;
export const OFF_PUBLISH_TIME = 16;
export const OFF_BASE_SEQUENCE = 24;
/** The checksum covers the entry from here to its end. */
export const CHECKSUM_FROM = 8;

// Message record flags.
export const MSG_HAS_KEY = 1;
export const MSG_HAS_EVENT_TIME = 2;
export const MSG_HAS_DELIVER_AT = 4;
export const MSG_VALUE_NULL = 8;

/** Limits of the format itself (configurable limits, such as the max entry size, live in options). */
export const MAX_MESSAGES_PER_ENTRY = 0xffff;
export const MAX_KEY_BYTES = 0xffff;
export const MAX_PRODUCER_NAME_BYTES = 0xffff;
export const MAX_SEQUENCE_DELTA = 0xffffffff;
