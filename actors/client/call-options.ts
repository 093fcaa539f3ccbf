/** Checks of the durations callers pass: per call (receive, readNext, receiveBatch) and as options of producers and consumers. */
import { MillraceError } from '../../core/errors.js';

/** The longest wait a timer takes (Node's setTimeout limit). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * An optional duration named `name`: undefined, or a number of ms from 0 to 2^31-1.
 * @throws MillraceError `INVALID_ARGUMENT` otherwise. A string or NaN slipped through as a wait of
 *   about 1 ms (setTimeout coerces it) or of forever (a deadline of Date.now() + '100'), and a
 *   negative delay as none.
 */
export function durationOption(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !(value >= 0) || value > MAX_TIMEOUT_MS) {
    throw new MillraceError('INVALID_ARGUMENT', `${name} must be a number of ms from 0 to 2^31-1, got ${String(value)}`);
  }
  return value;
}

/** A call's `timeoutMs` (see {@link durationOption}); undefined: no limit. */
export function timeoutOption(timeoutMs: unknown): number | undefined {
  return durationOption(timeoutMs, 'timeoutMs');
}

/**
 * A call's `signal`: undefined, or an AbortSignal (anything with `aborted` and the two listener
 * methods, so a polyfill's works too).
 * @throws MillraceError `INVALID_ARGUMENT` otherwise. Another object failed inside the call with a
 *   TypeError, and its wait's timer then threw out of a timer callback, which ends the process.
 */
export function signalOption(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  if (typeof s !== 'object' || s === null || typeof s.aborted !== 'boolean' || typeof s.addEventListener !== 'function' || typeof s.removeEventListener !== 'function') {
    throw new MillraceError('INVALID_ARGUMENT', `signal must be an AbortSignal, got ${s === null ? 'null' : typeof s === 'object' ? (s.constructor?.name ?? 'an object') : typeof s}`);
  }
  return signal as AbortSignal;
}
