/** Cursors: a subscription's mark-delete position, batch-index acks and durable redelivery counts. */
export { ManagedCursor, type CursorAckState } from './managed-cursor.js';
export {
  CURSOR_DEFAULTS, CURSOR_LIMITS, resolveManagedCursorOptions,
  type ManagedCursorOptions, type ResolvedManagedCursorOptions, type InitialPosition,
} from './cursor-options.js';
export { CURSOR_FORMAT_VERSION } from './cursor-format.js';
