/**
 * Rebuilding a ledger's row and sparse index from the entries LMDB committed. Used when reopening a
 * managed ledger whose last ledger was still open (a crash, or a close before sealing), and when a
 * sealed ledger's index is missing. LMDB commits are atomic, so an entry is either whole or absent;
 * the scan still checks each entry's header and the last entry's checksum, and refuses to guess.
 */
import { MillraceError } from '../errors.js';
import type { Store } from '../storage/store.js';
import type { LedgerInfo } from './ledger-info.js';
import { smallId } from './position.js';
import { EntryStatus, SparseIndex, entryCount, entryPublishTime, entryStatusMessage, type Framer } from '../../wasm/index.js';

export interface RecoveredLedger {
  info: LedgerInfo;
  index: SparseIndex;
}

export function recoverLedger(store: Store, mlId: number, row: LedgerInfo, framer: Framer, intervalBytes: number, now: number): RecoveredLedger {
  const index = new SparseIndex({ intervalBytes });
  const info: LedgerInfo = { ...row, entries: 0, bytes: 0, messages: 0, lastEntryId: -1, firstPublishTime: 0, lastPublishTime: 0 };
  let last: Uint8Array | undefined;
  let lastId = -1;
  for (const { key, value } of store.entries.getRange({ start: [mlId, row.ledgerId, 0], end: [mlId, row.ledgerId, Number.MAX_SAFE_INTEGER] })) {
    const entryId = smallId(key[2]);
    const length = value.length >= 4 ? value.readUInt32LE(0) : -1;
    if (length !== value.length) {
      throw new MillraceError('ENTRY_CORRUPT', `entry ${row.ledgerId}:${entryId} has a length field of ${length} but ${value.length} bytes are stored`);
    }
    const publishTime = entryPublishTime(value);
    if (info.entries === 0) info.firstPublishTime = publishTime;
    index.add(entryId, info.bytes, publishTime, value.length);
    info.entries += 1;
    info.bytes += value.length;
    info.messages += entryCount(value);
    info.lastPublishTime = publishTime;
    info.lastEntryId = entryId;
    last = value;
    lastId = entryId;
  }
  if (last) {
    const status = framer.validate(last);
    if (status !== EntryStatus.OK) {
      throw new MillraceError('ENTRY_CORRUPT', `the last entry ${row.ledgerId}:${lastId} is damaged: ${entryStatusMessage(status)}`);
    }
  }
  // Keep a row's higher lastEntryId: IDs handed out before a failed write stay used.
  info.lastEntryId = Math.max(info.lastEntryId, row.lastEntryId);
  if (info.state === 'open') {
    info.state = 'sealed';
    info.sealedAt = now;
  }
  return { info, index };
}
