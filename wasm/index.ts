/**
 * The wasm/ module's public surface: entry framing (WASM hot path and its JS reference), validation,
 * sealing, zero-copy decoding, xxhash32, and the sparse ledger index. The entry layout is drawn in
 * entry-format.ts; validation status codes in entry-status.ts.
 */
export type { FrameMessage, FrameBatch, FrameColumns, Framer } from './types.js';
export { toColumns } from './columns.js';
export { DEFAULT_MAX_ENTRY_BYTES } from './types.js';
export { EntryStatus, entryStatusMessage, type EntryStatusCode } from './status.js';
export { jsFramer } from './reference.js';
export { loadWasmFramer, type WasmFramer } from './loader.js';
export { encodedSize, encodeInto } from './encode.js';
export {
  decodeEntry, entryLength, entryCount, entryPublishTime, entryBaseSequenceId, entryLastSequenceId,
  type DecodedEntry, type DecodedMessage,
} from './decode.js';
export { xxhash32 } from './xxhash32.js';
export { SparseIndex, type IndexHit, type SparseIndexOptions } from './sparse-index.js';
export * from './entry-format.js';
