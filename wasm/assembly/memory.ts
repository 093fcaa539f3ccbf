/**
 * Fixed regions of the module's linear memory. The memory is 256 pages (16 MiB) with no growth
 * (scripts/build-wasm.mjs): growth would detach every view the loader holds, so the loader creates its
 * views once and this module never allocates. The loader reads these offsets through the exported
 * getters rather than duplicating them.
 *
 * ```
 *  0          64 KiB                      10 MiB + 64 KiB           + 2.5 MiB            16 MiB
 *  +----------+---------------------------+-------------------------+--------------------+
 *  | static   | ENTRY: the entry being    | DESC: per-message       | INDEX: 16-byte     |
 *  | data     | framed / validated        | descriptors (40 B each) | sparse index slots |
 *  |          |                           | or columns (COL_*)      |                    |
 *  +----------+---------------------------+-------------------------+--------------------+
 * ```
 */

/** Start of the entry region; everything below is AssemblyScript's static data (a few hundred bytes). */
export const ENTRY_BASE: usize = 64 * 1024;
/** 10 MiB: twice the default 5 MiB maximum entry. Larger entries are handled by the JS reference. */
export const ENTRY_CAP: usize = 10 * 1024 * 1024;

/**
 * One descriptor per message, written by the loader before `frameEntry`:
 * ```
 *  0        4        8         12        16        20      24            32             40
 *  | flags  | keyLen | propsLen| valueLen| seqDelta| pad   | eventTime f64| deliverAt f64 |
 * ```
 * Times travel as f64 because they are JS numbers (safe integers) and the BigInt conversion an i64
 * parameter or store would need costs more than the framing of a small message.
 */
export const DESC_BASE: usize = ENTRY_BASE + ENTRY_CAP;
export const DESC_STRIDE: usize = 40;
/** 65535 messages (the format's maximum) * 40 bytes fit. */
export const DESC_CAP: usize = 2560 * 1024;

/**
 * `frameColumns` reads a batch's columns from the DESC region instead (the two never run at once):
 * one array per column, each with room for the format's 65535 messages. 36 * 65536 bytes fit.
 */
export const COL_SLOTS: usize = 65536;
export const COL_KEY: usize = DESC_BASE; // i32 per message
export const COL_PROPS: usize = COL_KEY + 4 * COL_SLOTS; // i32
export const COL_VALUE: usize = COL_PROPS + 4 * COL_SLOTS; // i32
export const COL_SEQ: usize = COL_VALUE + 4 * COL_SLOTS; // f64, 8-aligned (DESC_BASE is)
export const COL_EVENT_TIME: usize = COL_SEQ + 8 * COL_SLOTS; // f64
export const COL_DELIVER_AT: usize = COL_EVENT_TIME + 8 * COL_SLOTS; // f64

/** Sparse index slots (16 bytes each, the SparseIndex body layout): 196,608 slots, about 6 GiB of ledger. */
export const INDEX_BASE: usize = DESC_BASE + DESC_CAP;
export const INDEX_CAP: usize = 3 * 1024 * 1024;

/** The largest integer a JS number holds exactly (2^53 - 1): every u64 field must stay at or below it. */
export const MAX_SAFE: u64 = 9007199254740991;
