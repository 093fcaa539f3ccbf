/** The log: managed ledgers (lists of ledgers of entries) on LMDB. */
export {
  ManagedLedger, resolveManagedLedgerOptions,
  type ManagedLedgerOptions, type ResolvedManagedLedgerOptions, type AppendBatch, type AppendResult,
  type ReadEntry, type ReadRangeOptions, type ManagedLedgerStats, type TieredStorage, type LedgerListCopy,
} from './managed-ledger.js';
export { comparePositions, formatPosition, type Position } from './position.js';
export type { LedgerInfo, LedgerState, OffloadRecord } from './ledger-info.js';
