/**
 * A producer batch laid out as it is sent: each message is written into the batch's entry (the
 * layout of wasm/entry-format.ts, as encodeInto writes it) when it is sent, not kept as an object
 * until the batch goes out.
 *
 * Why: a producer has thousands of sends in flight (a batch fills, then waits for its append to be
 * durable). Kept as objects, each send's message, its value array and the user's own message object
 * outlived several young-generation collections and were copied, then promoted, at every one: the
 * main thread spent about a third of its time in the garbage collector in the pubsub workload. Laid
 * out at once, those objects die young, and the batch is one buffer that the append copies into its
 * ring slot in one move.
 *
 * The header is written by {@link BatchBuilder.seal} (publish time and checksum 0: the partition
 * seals the entry). Limits are checked per message, with the errors framing gives, so one bad
 * message fails its own send, never its batch.
 */
import { MillraceError } from '../../core/errors.js';
import {
  ENTRY_HEADER_SIZE, ENTRY_VERSION, MAX_KEY_BYTES, MAX_MESSAGES_PER_ENTRY, MAX_SEQUENCE_DELTA, MESSAGE_HEADER_SIZE,
  OFF_BASE_SEQUENCE, OFF_COUNT, OFF_LENGTH, OFF_PRODUCER_LEN, OFF_VERSION,
} from '../../wasm/index.js';
import { setU64, writeRecord } from '../../wasm/encode.js';

// The smallest buffer a batch starts with; it doubles as messages come (see BatchBuilder.create).
const MIN_CAPACITY = 256;

/** One message's parts, checked by {@link checkMessage} and ready to lay out. */
export interface BuiltMessage {
  value: Uint8Array | null;
  key: Uint8Array | null;
  properties: Uint8Array | null;
  eventTime: number | undefined;
  deliverAt: number | undefined;
  sequenceId: number;
}

function isTime(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * Bytes the record of `m` takes in an entry; throws the MillraceError framing would throw for it
 * (INVALID_ARGUMENT for a bad value, key, properties or time; ENTRY_TOO_LARGE when the message alone
 * does not fit an entry of `maxEntryBytes` with this producer's name).
 */
export function checkMessage(m: BuiltMessage, producerNameBytes: number, maxEntryBytes: number): number {
  let size = MESSAGE_HEADER_SIZE;
  const v = m.value;
  if (v !== null) {
    if (!(v instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'the schema must encode a value to a Uint8Array or null');
    size += v.length;
  }
  const k = m.key;
  if (k !== null) {
    if (!(k instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'key must be a string or a Uint8Array');
    if (k.length > MAX_KEY_BYTES) throw new MillraceError('INVALID_ARGUMENT', `a key is ${k.length} bytes; at most ${MAX_KEY_BYTES} are allowed`);
    size += k.length;
  }
  if (m.properties !== null) size += m.properties.length;
  if (m.eventTime !== undefined) {
    if (!isTime(m.eventTime)) throw new MillraceError('INVALID_ARGUMENT', `eventTime must be a non-negative safe integer (epoch ms), got ${String(m.eventTime)}`);
    size += 8;
  }
  if (m.deliverAt !== undefined) {
    if (!isTime(m.deliverAt)) throw new MillraceError('INVALID_ARGUMENT', `deliverAt must be a non-negative safe integer (epoch ms), got ${String(m.deliverAt)}`);
    size += 8;
  }
  if (ENTRY_HEADER_SIZE + producerNameBytes + size > maxEntryBytes) {
    throw new MillraceError('ENTRY_TOO_LARGE', `a message of ${size} bytes (with its record header) does not fit an entry of at most ${maxEntryBytes} bytes`);
  }
  return size;
}

export class BatchBuilder {
  private buf: Uint8Array;
  private dv: DataView;
  /** Bytes laid out so far (header and producer name included). */
  private at: number;
  /** Messages laid out. */
  count = 0;
  /** Key, properties and value bytes of the messages (what batching.maxBytes counts). */
  payloadBytes = 0;
  /** The first message's sequence ID (-1 while empty); records store their ID as a delta from it. */
  private baseSeq = -1;
  /** The last message's sequence ID (-1 while empty). */
  lastSequenceId = -1;

  private constructor(private readonly producerName: Uint8Array, buf: Uint8Array) {
    this.buf = buf;
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.at = ENTRY_HEADER_SIZE + producerName.length;
    buf.set(producerName, ENTRY_HEADER_SIZE);
  }

  /**
   * A batch for `producerName`, in `reuse` when given and at least `expectedBytes` long (a buffer of a
   * completed batch: nothing reads it any more), else in a new buffer of about `expectedBytes` (a
   * lane's last entry size: batches of a lane tend to be alike, so the buffer seldom grows and a lone
   * message costs no large buffer).
   */
  static create(producerName: Uint8Array, expectedBytes: number, reuse?: Uint8Array): BatchBuilder {
    const need = ENTRY_HEADER_SIZE + producerName.length + MESSAGE_HEADER_SIZE;
    if (reuse !== undefined && reuse.length >= need && reuse.length >= expectedBytes) return new BatchBuilder(producerName, reuse);
    return new BatchBuilder(producerName, new Uint8Array(Math.max(MIN_CAPACITY, need, expectedBytes)));
  }

  /** The buffer, for reuse by a later batch once this one's append has completed. */
  get buffer(): Uint8Array {
    return this.buf;
  }

  /** Entry bytes so far. */
  get size(): number {
    return this.at;
  }

  /**
   * Whether a message of `recordSize` bytes (from checkMessage) with sequence ID `sequenceId` can join
   * this batch without breaking the format: IDs strictly increase within an entry and lie at most
   * MAX_SEQUENCE_DELTA above the first, at most MAX_MESSAGES_PER_ENTRY messages, at most
   * `maxEntryBytes` in all. An empty batch takes any message that checkMessage accepted.
   */
  fits(recordSize: number, sequenceId: number, maxEntryBytes: number): boolean {
    if (this.count === 0) return true;
    return sequenceId > this.lastSequenceId && sequenceId - this.baseSeq <= MAX_SEQUENCE_DELTA
      && this.count < MAX_MESSAGES_PER_ENTRY && this.at + recordSize <= maxEntryBytes;
  }

  /** Lays out one message (checked by checkMessage, `recordSize` its result, and fits() true). */
  add(m: BuiltMessage, recordSize: number): void {
    if (this.count === 0) this.baseSeq = m.sequenceId;
    if (this.at + recordSize > this.buf.length) this.grow(this.at + recordSize);
    const r = this.at;
    const t = writeRecord(this.dv, this.buf, r, m, m.sequenceId - this.baseSeq);
    this.at = t;
    this.count++;
    this.payloadBytes += t - r - MESSAGE_HEADER_SIZE;
    this.lastSequenceId = m.sequenceId;
  }

  /**
   * Writes the header and returns the entry (a view of the buffer; publish time and checksum 0, as
   * encodeInto leaves them). The batch takes no more messages after this.
   */
  seal(): Uint8Array {
    const dv = this.dv;
    dv.setUint32(OFF_LENGTH, this.at, true);
    dv.setUint32(4, 0, true);
    dv.setUint8(OFF_VERSION, ENTRY_VERSION);
    dv.setUint8(OFF_VERSION + 1, 0);
    dv.setUint16(OFF_COUNT, this.count, true);
    dv.setUint16(OFF_PRODUCER_LEN, this.producerName.length, true);
    dv.setUint16(14, 0, true);
    setU64(dv, 16, 0);
    setU64(dv, OFF_BASE_SEQUENCE, this.count === 0 ? -1 : this.baseSeq);
    return this.buf.subarray(0, this.at);
  }

  private grow(min: number): void {
    let cap = this.buf.length * 2;
    while (cap < min) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }
}
