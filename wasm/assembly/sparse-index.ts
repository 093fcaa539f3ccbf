/**
 * Binary search over sparse index slots in the INDEX region (16 bytes each, SparseIndex's body layout:
 * entryId u32, position u32, publishTime u64). The loader copies an index in once (loadIndex) and
 * searches it many times; see wasm/sparse-index.ts for why the JS search is the one SparseIndex uses.
 */
import { INDEX_BASE } from './memory';

/** Index of the last slot with entryId <= target among the first `count`, or -1. */
export function indexFloorByEntry(count: u32, target: f64): i32 {
  let lo: i32 = 0;
  let hi: i32 = <i32>count - 1;
  let found: i32 = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (<f64>load<u32>(INDEX_BASE + (<usize>mid << 4)) <= target) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

/** Index of the last slot with publishTime < t among the first `count`, else 0 (the first), or -1 if empty. */
export function indexFloorByTime(count: u32, t: f64): i32 {
  if (count == 0) return -1;
  let lo: i32 = 0;
  let hi: i32 = <i32>count - 1;
  let found: i32 = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (<f64>load<u64>(INDEX_BASE + (<usize>mid << 4), 8) < t) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}
