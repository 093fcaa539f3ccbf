/** Entry validation status codes (values defined in entry-status.ts, which the WASM module shares). */
import * as S from './entry-status.js';

/**
 * What validate/seal return: OK (0) or a negative code. Each code is documented in entry-status.ts;
 * {@link entryStatusMessage} turns one into a sentence for logs and errors.
 */
export const EntryStatus = {
  OK: S.STATUS_OK,
  TOO_SHORT: S.STATUS_TOO_SHORT,
  LENGTH_MISMATCH: S.STATUS_LENGTH_MISMATCH,
  BAD_VERSION: S.STATUS_BAD_VERSION,
  CHECKSUM_MISMATCH: S.STATUS_CHECKSUM_MISMATCH,
  RECORD_OUT_OF_BOUNDS: S.STATUS_RECORD_OUT_OF_BOUNDS,
  COUNT_MISMATCH: S.STATUS_COUNT_MISMATCH,
  BAD_FLAGS: S.STATUS_BAD_FLAGS,
  SEQUENCE_INVALID: S.STATUS_SEQUENCE_INVALID,
  FIELD_OUT_OF_RANGE: S.STATUS_FIELD_OUT_OF_RANGE,
  BAD_PUBLISH_TIME: S.STATUS_BAD_PUBLISH_TIME,
} as const;

/** One of the {@link EntryStatus} values. */
export type EntryStatusCode = (typeof EntryStatus)[keyof typeof EntryStatus];

const MESSAGES: Record<number, string> = {
  [S.STATUS_OK]: 'entry is valid',
  [S.STATUS_TOO_SHORT]: 'entry is shorter than its 32-byte header plus producer name',
  [S.STATUS_LENGTH_MISMATCH]: 'entry length field differs from the number of bytes stored',
  [S.STATUS_BAD_VERSION]: 'entry format version is not 1 (written by a newer Millrace?)',
  [S.STATUS_CHECKSUM_MISMATCH]: 'entry checksum (xxhash32 of bytes 8..length) does not match',
  [S.STATUS_RECORD_OUT_OF_BOUNDS]: 'a message record runs past the entry end or past its own size',
  [S.STATUS_COUNT_MISMATCH]: 'message count is 0 or the records do not fill the entry exactly',
  [S.STATUS_BAD_FLAGS]: 'an undefined flag or reserved field is set, or flags contradict lengths',
  [S.STATUS_SEQUENCE_INVALID]: 'sequence IDs are out of range or not strictly increasing from the base',
  [S.STATUS_FIELD_OUT_OF_RANGE]: 'a time field is above 2^53 - 1 (not exactly representable in JS)',
  [S.STATUS_BAD_PUBLISH_TIME]: 'publish time must be a non-negative safe integer (epoch ms)',
};

/** A sentence describing `status` (an {@link EntryStatus} value), for logs and MillraceError messages. */
export function entryStatusMessage(status: number): string {
  return MESSAGES[status] ?? `unknown entry status ${status}`;
}
