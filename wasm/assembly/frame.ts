/**
 * Framing, the hot half: the loader has already copied the producer name and every key, properties
 * and value into their final places in the ENTRY region (one u8.set each) and written one descriptor
 * per message (memory.ts); this one call writes every record header, the entry header and the checksum.
 * One boundary crossing per batch, no allocation.
 */
import {
  ENTRY_VERSION, ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, OFF_LENGTH, OFF_CHECKSUM, OFF_VERSION, OFF_FLAGS,
  OFF_COUNT, OFF_PRODUCER_LEN, OFF_PUBLISH_TIME, OFF_BASE_SEQUENCE, CHECKSUM_FROM,
  MSG_HAS_EVENT_TIME, MSG_HAS_DELIVER_AT,
} from '../entry-format';
import { ENTRY_BASE, DESC_BASE, DESC_STRIDE } from './memory';
import { xxh32 } from './xxhash32';

/**
 * Lays out `count` records from the descriptors and stamps the header. `publishTime` and `baseSeq`
 * (-1: no sequence IDs) arrive validated by the loader (safe integers). Returns the entry length.
 */
export function frameEntry(count: u32, producerLen: u32, publishTime: f64, baseSeq: f64): u32 {
  const e = ENTRY_BASE;
  let r = e + <usize>ENTRY_HEADER_SIZE + <usize>producerLen;
  let d = DESC_BASE;
  for (let i: u32 = 0; i < count; i++) {
    const flags = load<u32>(d);
    const keyLen = load<u32>(d, 4);
    let t = r + <usize>MESSAGE_HEADER_SIZE;
    if (flags & MSG_HAS_EVENT_TIME) {
      store<u64>(t, <u64>load<f64>(d, 24));
      t += 8;
    }
    if (flags & MSG_HAS_DELIVER_AT) {
      store<u64>(t, <u64>load<f64>(d, 32));
      t += 8;
    }
    const size = <u32>(t - r) + keyLen + load<u32>(d, 8) + load<u32>(d, 12);
    store<u32>(r, size);
    // flags u8, reserved u8 (0) and keyLen u16 in one store.
    store<u32>(r, (flags & 0xff) | (keyLen << 16), 4);
    store<u32>(r, load<u32>(d, 8), 8);
    store<u32>(r, load<u32>(d, 16), 12);
    r += size;
    d += DESC_STRIDE;
  }
  const len = <u32>(r - e);
  store<u32>(e + OFF_LENGTH, len);
  // version u8, flags u8 (0), count u16 in one store; then producer length u16, reserved u16 (0).
  store<u32>(e + OFF_VERSION, <u32>ENTRY_VERSION | (count << 16));
  store<u32>(e + OFF_PRODUCER_LEN, producerLen & 0xffff);
  store<u64>(e + OFF_PUBLISH_TIME, <u64>publishTime);
  store<i64>(e + OFF_BASE_SEQUENCE, <i64>baseSeq);
  store<u32>(e + OFF_CHECKSUM, xxh32(e + CHECKSUM_FROM, len - CHECKSUM_FROM, 0));
  return len;
}
