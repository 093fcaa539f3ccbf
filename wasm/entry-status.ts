/**
 * Status codes of entry validation, shared by the AssemblyScript module (which imports this file) and
 * the TypeScript reference, so both report the same number for the same fault. Plain numeric
 * constants only: this file must stay valid AssemblyScript.
 *
 * Checks run in one fixed order (both implementations), and the first fault found is reported:
 * TOO_SHORT (header) -> LENGTH_MISMATCH -> BAD_VERSION -> CHECKSUM_MISMATCH (validate only) ->
 * BAD_FLAGS (entry) -> FIELD_OUT_OF_RANGE (publish time) -> SEQUENCE_INVALID (base) -> TOO_SHORT
 * (producer name) -> COUNT_MISMATCH (count 0) -> per record in order: RECORD_OUT_OF_BOUNDS (header),
 * BAD_FLAGS, RECORD_OUT_OF_BOUNDS (size), BAD_FLAGS (null value with bytes), FIELD_OUT_OF_RANGE (times),
 * SEQUENCE_INVALID -> COUNT_MISMATCH (bytes left after `count` records).
 */

/** The entry is well formed (and, for validate, its checksum matches). */
export const STATUS_OK = 0;
/** Fewer bytes than the 32-byte header, or than the header plus the producer name. */
export const STATUS_TOO_SHORT = -1;
/** The length field differs from the number of bytes given. */
export const STATUS_LENGTH_MISMATCH = -2;
/** The version byte is not ENTRY_VERSION (a reader refuses newer versions rather than guess). */
export const STATUS_BAD_VERSION = -3;
/** xxhash32 of bytes [8, length) differs from the checksum field. */
export const STATUS_CHECKSUM_MISMATCH = -4;
/** A record header, or a record's key/properties/times, runs past the entry end or past its `size`. */
export const STATUS_RECORD_OUT_OF_BOUNDS = -5;
/** `count` is 0, or bytes are left over after `count` records (records must fill the entry exactly). */
export const STATUS_COUNT_MISMATCH = -6;
/**
 * A flag or reserved field version 1 does not define is set (entry flags, entry reserved, record flags
 * beyond the four known, record reserved byte), a key length without MSG_HAS_KEY, or a value with
 * bytes while MSG_VALUE_NULL is set.
 */
export const STATUS_BAD_FLAGS = -7;
/**
 * Base sequence ID below -1 or above 2^53 - 1; with no base (-1), a non-zero delta; with a base, a first
 * delta other than 0, deltas not strictly increasing, or base + delta above 2^53 - 1.
 */
export const STATUS_SEQUENCE_INVALID = -8;
/** A publish time, event time or deliver-at time above 2^53 - 1 (a JS number could not hold it exactly). */
export const STATUS_FIELD_OUT_OF_RANGE = -9;
/** seal() only: the publish time argument is not a non-negative safe integer. The entry is unchanged. */
export const STATUS_BAD_PUBLISH_TIME = -10;
