/** Checks of the options callers pass per call (receive, readNext, receiveBatch), shared by consumers and readers. */
import { MillraceError } from '../../core/errors.js';

/** The longest wait a timer takes (Node's setTimeout limit). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * A call's `timeoutMs`: undefined (no limit), or a number of ms from 0 to 2^31-1.
 * @throws MillraceError `INVALID_ARGUMENT` otherwise: a string or NaN slipped through as a wait of
 *   about 1 ms (receive) or of forever (readNext).
 */
export function timeoutOption(timeoutMs: unknown): number | undefined {
  if (timeoutMs === undefined) return undefined;
  if (typeof timeoutMs !== 'number' || !(timeoutMs >= 0) || timeoutMs > MAX_TIMEOUT_MS) {
    throw new MillraceError('INVALID_ARGUMENT', `timeoutMs must be a number of ms from 0 to 2^31-1, got ${String(timeoutMs)}`);
  }
  return timeoutMs;
}
