/**
 * One row of a managed ledger's ledger list, as stored (msgpack) in the `ledgers` database under
 * [mlId, ledgerId]. `open` is the ledger being appended to; a `sealed` ledger is read-only. Tiered
 * storage adds the offload record to sealed ledgers.
 */
export type LedgerState = 'open' | 'sealed';

export interface LedgerInfo {
  ledgerId: number;
  state: LedgerState;
  /** Entries stored (a failed write leaves a gap in entry IDs; it is not counted). */
  entries: number;
  /** Sum of the stored entries' lengths. */
  bytes: number;
  /** Messages in the stored entries (an entry holds a producer batch). */
  messages: number;
  /** Highest entry ID assigned in this ledger, -1 when none. */
  lastEntryId: number;
  /** Publish times of the first and last entry (epoch ms), 0 when empty. */
  firstPublishTime: number;
  lastPublishTime: number;
  /** When the ledger was opened and (if sealed) sealed, epoch ms. */
  createdAt: number;
  sealedAt?: number;
}

export function newLedgerInfo(ledgerId: number, now: number): LedgerInfo {
  return { ledgerId, state: 'open', entries: 0, bytes: 0, messages: 0, lastEntryId: -1, firstPublishTime: 0, lastPublishTime: 0, createdAt: now };
}

/** Reads a stored row defensively: a malformed row is reported, never trusted. */
export function parseLedgerInfo(raw: unknown): LedgerInfo | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const r = raw as Partial<LedgerInfo>;
  const nums = [r.ledgerId, r.entries, r.bytes, r.lastEntryId, r.firstPublishTime, r.lastPublishTime, r.createdAt];
  if (!nums.every((n) => typeof n === 'number' && Number.isFinite(n))) return undefined;
  if (r.state !== 'open' && r.state !== 'sealed') return undefined;
  return { ...(r as LedgerInfo), messages: typeof r.messages === 'number' ? r.messages : 0 };
}
