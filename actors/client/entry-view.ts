/**
 * A consumer's view of one delivered entry: the record starts found by one walk of the record
 * headers, and per-message readers that build nothing until asked. decodeEntry (wasm/decode.ts)
 * builds an object and three subarrays per message up front; a consumer that reads only `data` of
 * each message then paid for keys and properties it never looked at (the main thread spent ~35% in
 * garbage collection at 75k msg/s). The layout is wasm/entry-format.ts's; this reads, never writes.
 */
import { MillraceError } from '../../core/errors.js';
import {
  ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, MSG_HAS_DELIVER_AT, MSG_HAS_EVENT_TIME, MSG_HAS_KEY, MSG_VALUE_NULL,
  OFF_BASE_SEQUENCE, OFF_COUNT, OFF_PRODUCER_LEN, OFF_PUBLISH_TIME,
} from '../../wasm/index.js';
import { DELIVER_ITEM } from '../partition/partition-protocol.js';

const TWO_32 = 2 ** 32;
const utf8 = new TextDecoder();

function corrupt(message: string): MillraceError {
  return new MillraceError('ENTRY_CORRUPT', `delivered entry: ${message}`);
}

export class EntryView {
  readonly dv: DataView;
  readonly count: number;
  readonly publishTime: number;
  /** The first message's sequence ID, -1 when the batch has none. */
  readonly baseSequenceId: number;
  /** Start of record i (count of them). */
  private readonly starts: Uint32Array;
  private producer: string | undefined;

  /**
   * Walks the record headers; ENTRY_CORRUPT if a record leaves the entry (the partition validated it).
   * With `partial`, `bytes` is a DELIVER_PARTIAL body: the header and name, then the records of the
   * listed batch indexes only, in that order (read from `partial.items` as the DELIVER items).
   */
  constructor(readonly bytes: Uint8Array, partial?: { items: DataView; at: number; count: number }) {
    const len = bytes.length;
    if (len < ENTRY_HEADER_SIZE) throw corrupt(`${len} bytes, shorter than its header`);
    const dv = (this.dv = new DataView(bytes.buffer, bytes.byteOffset, len));
    const count = (this.count = dv.getUint16(OFF_COUNT, true));
    this.publishTime = dv.getUint32(OFF_PUBLISH_TIME + 4, true) * TWO_32 + dv.getUint32(OFF_PUBLISH_TIME, true);
    const lo = dv.getUint32(OFF_BASE_SEQUENCE, true);
    const hi = dv.getUint32(OFF_BASE_SEQUENCE + 4, true);
    this.baseSequenceId = lo === 0xffffffff && hi === 0xffffffff ? -1 : hi * TWO_32 + lo;
    // By batch index; in a partial entry, only the listed indexes have a record.
    const starts = (this.starts = new Uint32Array(count));
    let pos = ENTRY_HEADER_SIZE + dv.getUint16(OFF_PRODUCER_LEN, true);
    const n = partial === undefined ? count : partial.count;
    for (let k = 0; k < n; k++) {
      const i = partial === undefined ? k : partial.items.getUint16(partial.at + k * DELIVER_ITEM, true);
      if (pos + MESSAGE_HEADER_SIZE > len) throw corrupt(`record ${i} header runs past the entry end`);
      // An index past the batch (never sent) has no message: the consumer skips it too.
      if (i < count) starts[i] = pos;
      const size = dv.getUint32(pos, true);
      if (size < MESSAGE_HEADER_SIZE || pos + size > len) throw corrupt(`record ${i} runs past the entry end`);
      pos += size;
    }
  }

  get producerName(): string {
    return (this.producer ??= utf8.decode(this.bytes.subarray(ENTRY_HEADER_SIZE, ENTRY_HEADER_SIZE + this.dv.getUint16(OFF_PRODUCER_LEN, true))));
  }

  private flags(i: number): number {
    return this.dv.getUint8(this.starts[i]! + 4);
  }

  /** Where the key starts: after the header and the optional times. */
  private keyAt(i: number): number {
    const f = this.flags(i);
    return this.starts[i]! + MESSAGE_HEADER_SIZE + (f & MSG_HAS_EVENT_TIME ? 8 : 0) + (f & MSG_HAS_DELIVER_AT ? 8 : 0);
  }

  private u64(at: number): number {
    return this.dv.getUint32(at + 4, true) * TWO_32 + this.dv.getUint32(at, true);
  }

  key(i: number): Uint8Array | null {
    if (!(this.flags(i) & MSG_HAS_KEY)) return null;
    const at = this.keyAt(i);
    return this.bytes.subarray(at, at + this.dv.getUint16(this.starts[i]! + 6, true));
  }

  properties(i: number): Uint8Array | null {
    const s = this.starts[i]!;
    const propsLen = this.dv.getUint32(s + 8, true);
    if (propsLen === 0) return null;
    const at = this.keyAt(i) + this.dv.getUint16(s + 6, true);
    return this.bytes.subarray(at, at + propsLen);
  }

  /** The value bytes (a view), null for a tombstone. */
  value(i: number): Uint8Array | null {
    const s = this.starts[i]!;
    if (this.flags(i) & MSG_VALUE_NULL) return null;
    const at = this.keyAt(i) + this.dv.getUint16(s + 6, true) + this.dv.getUint32(s + 8, true);
    const end = s + this.dv.getUint32(s, true);
    if (at > end) throw corrupt(`record ${i} key and properties run past its size`);
    return this.bytes.subarray(at, end);
  }

  eventTime(i: number): number | undefined {
    return this.flags(i) & MSG_HAS_EVENT_TIME ? this.u64(this.starts[i]! + MESSAGE_HEADER_SIZE) : undefined;
  }

  sequenceId(i: number): number | undefined {
    return this.baseSequenceId < 0 ? undefined : this.baseSequenceId + this.dv.getUint32(this.starts[i]! + 12, true);
  }
}
