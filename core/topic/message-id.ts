import { MillraceError } from '../errors.js';

/**
 * A message's address: (ledgerId, entryId, partition, batchIndex), as Pulsar's `BatchMessageIdImpl`.
 *
 * IDs of one partition order by ledger, then entry, then batch index (-1, an unbatched message,
 * sorts before index 0). IDs of different partitions are not ordered: comparing them throws. The
 * sentinels {@link MessageId.earliest} and {@link MessageId.latest} (Pulsar's) compare below and
 * above every ID of every partition.
 *
 * Pulsar's latest is (Long.MAX_VALUE, Long.MAX_VALUE, -1, -1). Ledger and entry IDs here are JS
 * numbers (safe integers, as in `core/log`), so latest is (2^53 - 1, 2^53 - 1, -1, -1); its string
 * form is that, and `fromString`/`fromBytes` also accept Pulsar's Long.MAX_VALUE form for it.
 */

const MAX_INT32 = 2 ** 31 - 1;
const PULSAR_LONG_MAX = '9223372036854775807';
const I64_MAX = 2n ** 63n - 1n;

function bad(message: string): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', message, { retriable: false });
}

function checkField(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < -1 || v > max) {
    throw bad(`MessageId ${name} must be an integer from -1 to ${max}, got ${v}`);
  }
}

/** A message ID; see the module comment for its order. Immutable. */
export class MessageId {
  /** The ID before every message: (-1, -1, -1, -1). A start position, never a message's ID. */
  static readonly earliest: MessageId = new MessageId(-1, -1, -1, -1);
  /** The ID after every message: (2^53-1, 2^53-1, -1, -1). A start position, never a message's ID. */
  static readonly latest: MessageId = new MessageId(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, -1, -1);

  /** Byte length of {@link toBytes}. */
  static readonly BYTES = 24;

  readonly ledgerId: number;
  readonly entryId: number;
  /** Partition index, -1 for a non-partitioned topic. */
  readonly partition: number;
  /** Index of the message in its batch (entry), -1 when the entry is not a batch. */
  readonly batchIndex: number;

  /**
   * @throws MillraceError `INVALID_ARGUMENT` unless ledger and entry are integers in [-1, 2^53) and
   *   partition and batch index integers in [-1, 2^31).
   */
  constructor(ledgerId: number, entryId: number, partition = -1, batchIndex = -1) {
    checkField('ledgerId', ledgerId, Number.MAX_SAFE_INTEGER);
    checkField('entryId', entryId, Number.MAX_SAFE_INTEGER);
    checkField('partition', partition, MAX_INT32);
    checkField('batchIndex', batchIndex, MAX_INT32);
    this.ledgerId = ledgerId;
    this.entryId = entryId;
    this.partition = partition;
    this.batchIndex = batchIndex;
  }

  /** True for the {@link MessageId.earliest} sentinel (by value, so parsed copies count). */
  get isEarliest(): boolean {
    return this.ledgerId === -1 && this.entryId === -1 && this.partition === -1 && this.batchIndex === -1;
  }

  /** True for the {@link MessageId.latest} sentinel (by value). */
  get isLatest(): boolean {
    return this.ledgerId === Number.MAX_SAFE_INTEGER && this.entryId === Number.MAX_SAFE_INTEGER &&
      this.partition === -1 && this.batchIndex === -1;
  }

  /**
   * Negative, zero or positive as this ID is before, at or after `other`, by (ledger, entry, batch
   * index). The sentinels compare below (earliest) or above (latest) every ID.
   *
   * @throws MillraceError `INVALID_ARGUMENT` when the IDs belong to different partitions (and neither
   *   is a sentinel): their order is not defined.
   */
  compare(other: MessageId): number {
    const sa = sentinelRank(this);
    const sb = sentinelRank(other);
    if (sa !== 0 || sb !== 0) return sa - sb;
    if (this.partition !== other.partition) {
      throw bad(`message IDs of different partitions are not ordered: ${this.toString()} (partition ${this.partition}) vs ${other.toString()} (partition ${other.partition})`);
    }
    if (this.ledgerId !== other.ledgerId) return this.ledgerId < other.ledgerId ? -1 : 1;
    if (this.entryId !== other.entryId) return this.entryId < other.entryId ? -1 : 1;
    if (this.batchIndex !== other.batchIndex) return this.batchIndex < other.batchIndex ? -1 : 1;
    return 0;
  }

  /** True when all four fields are equal. Never throws, also across partitions. */
  equals(other: MessageId): boolean {
    return this.ledgerId === other.ledgerId && this.entryId === other.entryId &&
      this.partition === other.partition && this.batchIndex === other.batchIndex;
  }

  /** `ledger:entry:partition:batch`, e.g. `12:0:-1:3`. {@link MessageId.fromString} reads it back. */
  toString(): string {
    return `${this.ledgerId}:${this.entryId}:${this.partition}:${this.batchIndex}`;
  }

  /**
   * Parses `ledger:entry:partition:batch` strictly: four decimal integers (no sign but `-1`, no
   * leading zeros, no spaces). Pulsar's latest (`9223372036854775807:9223372036854775807:-1:-1`)
   * is read as {@link MessageId.latest}.
   *
   * @throws MillraceError `INVALID_ARGUMENT` naming the expected form.
   */
  static fromString(s: string): MessageId {
    if (typeof s !== 'string') throw bad(`a message ID string must be a string, got ${typeof s}`);
    const m = /^(-1|0|[1-9][0-9]{0,18}):(-1|0|[1-9][0-9]{0,18}):(-1|0|[1-9][0-9]{0,9}):(-1|0|[1-9][0-9]{0,9})$/.exec(s);
    if (m === null) {
      throw bad(`message ID ${JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}...` : s)} is not of the form ledger:entry:partition:batch (four integers, -1 or more, e.g. 12:0:-1:3)`);
    }
    if (m[1] === PULSAR_LONG_MAX && m[2] === PULSAR_LONG_MAX && m[3] === '-1' && m[4] === '-1') return MessageId.latest;
    return intern(new MessageId(Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])));
  }

  // Bytes, version 1 (all integers little-endian, two's complement; 24 bytes, no header: the
  // length identifies the version)
  //  0                  8                  16               20               24
  //  +------------------+------------------+----------------+----------------+
  //  | ledgerId  i64    | entryId  i64     | partition i32  | batchIndex i32 |
  //  +------------------+------------------+----------------+----------------+
  // A reader rejects any other length, and ledger or entry outside [-1, 2^53) except i64 max in both
  // with partition and batch -1, which is Pulsar's latest and reads as MessageId.latest.

  /** The fixed 24-byte form drawn above. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(MessageId.BYTES);
    const v = new DataView(out.buffer);
    v.setBigInt64(0, BigInt(this.ledgerId), true);
    v.setBigInt64(8, BigInt(this.entryId), true);
    v.setInt32(16, this.partition, true);
    v.setInt32(20, this.batchIndex, true);
    return out;
  }

  /**
   * Reads the 24-byte form of {@link MessageId.toBytes}.
   *
   * @throws MillraceError `INVALID_ARGUMENT` on another length or a field out of range.
   */
  static fromBytes(bytes: Uint8Array): MessageId {
    if (!(bytes instanceof Uint8Array) || bytes.byteLength !== MessageId.BYTES) {
      throw bad(`a message ID in bytes is exactly ${MessageId.BYTES} bytes (ledger i64, entry i64, partition i32, batch i32, little-endian), got ${bytes instanceof Uint8Array ? `${bytes.byteLength} bytes` : typeof bytes}`);
    }
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const ledger = v.getBigInt64(0, true);
    const entry = v.getBigInt64(8, true);
    const partition = v.getInt32(16, true);
    const batch = v.getInt32(20, true);
    if (ledger === I64_MAX && entry === I64_MAX && partition === -1 && batch === -1) return MessageId.latest;
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    if (ledger < -1n || ledger > max || entry < -1n || entry > max) {
      throw bad(`message ID bytes hold ledger ${ledger} and entry ${entry}; each must be from -1 to ${Number.MAX_SAFE_INTEGER}`);
    }
    return intern(new MessageId(Number(ledger), Number(entry), partition, batch));
  }
}

/** -1 for earliest, 1 for latest, 0 for an ordinary ID. */
function sentinelRank(id: MessageId): number {
  return id.isEarliest ? -1 : id.isLatest ? 1 : 0;
}

/** Parsed sentinels come back as the singletons, so `=== MessageId.earliest` also works. */
function intern(id: MessageId): MessageId {
  return id.isEarliest ? MessageId.earliest : id.isLatest ? MessageId.latest : id;
}

/**
 * Compares two message IDs; the free-function form of {@link MessageId.compare}, for `Array.sort`.
 *
 * @throws MillraceError `INVALID_ARGUMENT` for IDs of different partitions.
 */
export function compareMessageIds(a: MessageId, b: MessageId): number {
  return a.compare(b);
}
