/** Tiered storage: object stores, the offloaded ledger format, and reading offloaded ledgers back. */
export {
  createObjectStore, checkKey, checkPrefix, MAX_KEY_BYTES, DEFAULT_PART_SIZE_BYTES,
  type ObjectStore, type TieredStorageConfig, type ObjectStoreOptions, type ResolvedObjectStoreOptions,
} from './object-store.js';
