/**
 * The partition actor's requests and replies (bodies of the runtime's request and reply records).
 *
 * ```
 * APPEND (op 1), version 1: request body = an entry laid out by encodeInto (publish time and
 *   checksum 0; the actor seals it). Reply: ledgerId f64 | entryId f64 | publishTime f64 | count u32
 * READ (op 2): request body = ledgerId f64 | entryId f64 | maxEntries u32 | maxBytes u32.
 *   Reply: count u32, then per entry: ledgerId f64 | entryId f64 | length u32 | entry bytes
 * STATS (op 3): empty request; reply: UTF-8 JSON of ManagedLedgerStats
 * ```
 * f64 because ledger and entry IDs are JS safe integers, wider than u32 over a long life.
 */
export const OP_APPEND = 1;
export const OP_READ = 2;
export const OP_STATS = 3;

export const APPEND_REPLY_BYTES = 28;
export const READ_REQUEST_BYTES = 24;
export const READ_ENTRY_HEADER = 20;
