/**
 * Options of a managed cursor and their defaults. The defaults belong in core/defaults.ts (kept
 * here until they move, so this folder edits no shared file).
 */
import { MillraceError } from '../errors.js';

export const CURSOR_DEFAULTS = {
  /** Pulsar's default: a new subscription starts after the last message (it sees new ones only). */
  initialPosition: 'latest',
} as const;

export const CURSOR_LIMITS = {
  /** An entry's message count is a u16 in the entry header, so a batch holds at most 65,535. */
  maxBatchSize: 0xffff,
} as const;

export type InitialPosition = 'earliest' | 'latest';

/** Options of {@link ManagedCursor.open}; they only matter when the cursor is created. */
export interface ManagedCursorOptions {
  /**
   * Where a new cursor starts: 'earliest' = before the first stored entry (every stored message is
   * backlog), 'latest' = after the last confirmed entry. Ignored when the cursor exists.
   * @default 'latest'
   */
  initialPosition?: InitialPosition;
}

export interface ResolvedManagedCursorOptions {
  initialPosition: InitialPosition;
}

export function resolveManagedCursorOptions(o: ManagedCursorOptions = {}): ResolvedManagedCursorOptions {
  if (o === null || typeof o !== 'object') {
    throw new MillraceError('INVALID_ARGUMENT', `cursor options must be an object, got ${String(o)}`);
  }
  const initialPosition = o.initialPosition ?? CURSOR_DEFAULTS.initialPosition;
  if (initialPosition !== 'earliest' && initialPosition !== 'latest') {
    throw new MillraceError('INVALID_ARGUMENT', `initialPosition must be 'earliest' or 'latest', got ${String(initialPosition)}`);
  }
  return { initialPosition };
}
