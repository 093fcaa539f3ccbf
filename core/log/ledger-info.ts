/**
 * One row of a managed ledger's ledger list, as stored (msgpack) in the `ledgers` database under
 * [mlId, ledgerId]. `open` is the ledger being appended to; a `sealed` ledger is read-only; an
 * `offloaded` ledger is sealed, its offload is complete and verified, and its local copy is gone:
 * reads go to the object store.
 */
export type LedgerState = 'open' | 'sealed' | 'offloaded';

/**
 * A sealed ledger's offload, as Pulsar's LedgerInfo.offloadContext: written with `complete: false`
 * before the upload starts (so a crash leaves a record of the object to clean up), and with the
 * object's verified figures once it is complete. The local copy is deleted only after that.
 */
export interface OffloadRecord {
  /** Unique per attempt: a retried offload never overwrites an object a reader may be using. */
  uid: string;
  /** The object's key in the store. */
  key: string;
  complete: boolean;
  /** Set when complete. */
  size?: number;
  dataChecksum?: number;
  indexChecksum?: number;
  completedAt?: number;
}

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
  offload?: OffloadRecord;
  /** When the local copy of an offloaded ledger was deleted. */
  localDeletedAt?: number;
  /** Entry IDs in [0, lastEntryId] never stored (failed writes), kept once the local copy is gone. */
  gaps?: number[];
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
  if (r.state !== 'open' && r.state !== 'sealed' && r.state !== 'offloaded') return undefined;
  if (r.state === 'offloaded' && !(r.offload && r.offload.complete === true && typeof r.offload.key === 'string')) return undefined;
  return { ...(r as LedgerInfo), messages: typeof r.messages === 'number' ? r.messages : 0 };
}

/**
 * Index of ledger `ledgerId` in `list` (sorted by ID, as every ledger list is), or -(insertion
 * point + 1) when it is not there: a binary search, as lists grow long with retention.
 */
export function searchLedgers(list: readonly { readonly ledgerId: number }[], ledgerId: number): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const id = list[mid]!.ledgerId;
    if (id === ledgerId) return mid;
    if (id < ledgerId) lo = mid + 1;
    else hi = mid - 1;
  }
  return -(lo + 1);
}
