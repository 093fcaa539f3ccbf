/** Tiered storage: object stores, the offloaded ledger format, and reading offloaded ledgers back. */
export {
  createObjectStore, checkKey, checkPrefix, MAX_KEY_BYTES, DEFAULT_PART_SIZE_BYTES,
  type ObjectStore, type TieredStorageConfig, type ObjectStoreOptions, type ResolvedObjectStoreOptions,
} from './object-store.js';
export {
  writeLedgerObject, parseTail, parseTrailer, LEDGER_OBJECT_VERSION,
  type OffloadEntry, type LedgerObjectSummary, type LedgerObjectTrailer, type LedgerObjectIndex,
} from './ledger-object.js';
export { OffloadedLedgerReader } from './offloaded-ledger-reader.js';
export { BlockCache, DEFAULT_BLOCK_BYTES, type BlockCacheOptions, type BlockCacheStats } from './block-cache.js';
export { XxHash32Stream, xxhash32Of } from './xxhash32-stream.js';
