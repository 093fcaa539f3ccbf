/**
 * The Millrace WASM module: entry framing, validation, sealing, xxhash32 and sparse index search over
 * fixed regions of a fixed 16 MiB memory (memory.ts). Loaded by wasm/loader.ts.
 */
import {
  ENTRY_BASE, ENTRY_CAP, DESC_BASE, DESC_STRIDE, DESC_CAP, INDEX_BASE, INDEX_CAP,
  COL_KEY, COL_PROPS, COL_VALUE, COL_SEQ, COL_EVENT_TIME, COL_DELIVER_AT,
} from './memory';
import { xxh32 } from './xxhash32';

export { frameEntry } from './frame';
export { frameColumns } from './columns';
export { validateEntry, sealEntry } from './validate';
export { indexFloorByEntry, indexFloorByTime } from './sparse-index';

/** xxhash32 (seed 0) of `len` bytes at the start of the ENTRY region. */
export function checksumEntryRegion(len: u32): u32 {
  return xxh32(ENTRY_BASE, len, 0);
}

/** Region offsets and sizes for the loader (one source of truth: memory.ts). */
export function entryBase(): u32 { return <u32>ENTRY_BASE; }
export function entryCap(): u32 { return <u32>ENTRY_CAP; }
export function descBase(): u32 { return <u32>DESC_BASE; }
export function descStride(): u32 { return <u32>DESC_STRIDE; }
export function descCap(): u32 { return <u32>DESC_CAP; }
/** Start of column `which` for frameColumns: 0 keys, 1 properties, 2 values (i32), 3 sequence IDs, 4 event times, 5 deliver-at (f64). */
export function columnBase(which: u32): u32 {
  switch (which) {
    case 0: return <u32>COL_KEY;
    case 1: return <u32>COL_PROPS;
    case 2: return <u32>COL_VALUE;
    case 3: return <u32>COL_SEQ;
    case 4: return <u32>COL_EVENT_TIME;
    default: return <u32>COL_DELIVER_AT;
  }
}
export function indexBase(): u32 { return <u32>INDEX_BASE; }
export function indexCap(): u32 { return <u32>INDEX_CAP; }
/** End of static data; the loader checks it lies below ENTRY_BASE. */
export function heapBase(): u32 { return <u32>__heap_base; }
