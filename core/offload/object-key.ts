/** The key rules every object store applies, so a key that works on one driver works on all. */
import { MillraceError } from '../errors.js';

/** Keys are at most this many UTF-8 bytes (S3's limit is 1024, minus room for a prefix). */
export const MAX_KEY_BYTES = 900;

/**
 * Checks the rules every store applies to a key, so a key that works on one driver works on all:
 * 1..MAX_KEY_BYTES UTF-8 bytes, `/`-separated non-empty segments, none `.` or `..`, no NUL, backslash
 * or control characters. Throws OBJECT_KEY_INVALID.
 */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key === '') throw new MillraceError('OBJECT_KEY_INVALID', 'object key must be a non-empty string');
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new MillraceError('OBJECT_KEY_INVALID', `object key is longer than ${MAX_KEY_BYTES} bytes`);
  if (/[\u0000-\u001f\u007f\\]/.test(key)) throw new MillraceError('OBJECT_KEY_INVALID', `object key has a control character or backslash: ${JSON.stringify(key)}`);
  for (const seg of key.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw new MillraceError('OBJECT_KEY_INVALID', `object key segments must be non-empty and not '.' or '..': ${JSON.stringify(key)}`);
    }
  }
}

/** Checks a list prefix: empty, or a string under the same character rules as a key. */
export function checkPrefix(prefix: unknown): asserts prefix is string {
  if (typeof prefix !== 'string') throw new MillraceError('OBJECT_KEY_INVALID', 'list prefix must be a string');
  if (/[\u0000-\u001f\u007f\\]/.test(prefix) || prefix.startsWith('/')) {
    throw new MillraceError('OBJECT_KEY_INVALID', `list prefix has a control character or backslash, or starts with '/': ${JSON.stringify(prefix)}`);
  }
}

/** Checks a ranged read's bounds. Throws INVALID_ARGUMENT. */
export function checkRange(range: { offset: number; length: number } | undefined): void {
  if (range === undefined) return;
  if (range === null || typeof range !== 'object' || !Number.isSafeInteger(range.offset) || !Number.isSafeInteger(range.length)
    || range.offset < 0 || range.length < 0) {
    throw new MillraceError('INVALID_ARGUMENT', 'range must be { offset, length } with non-negative integers');
  }
}
