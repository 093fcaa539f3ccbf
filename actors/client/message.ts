/**
 * A message as a consumer or reader sees it: decoded lazily from the entry it arrived in, with no
 * copy of its value (a view into the entry, which belongs to this message's batch).
 */
import { MessageId, PARTITION_SUFFIX, partitionTopicName } from '../../core/topic/index.js';
import { decodeProperties, type Schema } from '../../core/schema/index.js';
import type { EntryView } from './entry-view.js';

const utf8 = new TextDecoder();

/** A received message. `value` is decoded with the consumer's schema (bytes by default). */
export interface Message<T = Uint8Array> {
  readonly id: MessageId;
  /** The topic it was published to: for a partitioned topic, the partition's (`name-partition-i`), as in Pulsar. */
  readonly topic: string;
  /** The key as a string (UTF-8), undefined when the message has none. */
  readonly key: string | undefined;
  readonly keyBytes: Uint8Array | undefined;
  readonly value: T;
  /** The raw value bytes. */
  readonly data: Uint8Array;
  readonly properties: Record<string, string>;
  readonly publishTime: number;
  readonly eventTime: number | undefined;
  /** How many times this message was delivered before (durable across restarts). */
  readonly redeliveryCount: number;
  readonly producerName: string;
  readonly sequenceId: number | undefined;
}

/**
 * What a consumer keeps per delivered entry while any of its messages is out (received or queued,
 * not acked): one record per entry instead of one map entry (and one ID string) per message.
 * @internal
 */
export class OutEntry {
  /** Per batch index: 0 not out, {@link OUT_QUEUED} waiting in the queue, {@link OUT_TAKEN} handed out. */
  readonly state: Uint8Array;
  /** Messages of this entry that are out. */
  out = 0;
  /** Still indexed by the consumer (false once every message of it was acked or given back). */
  live = true;
  /** Delivery time of each batch index, only once indexes of one entry arrived at different times. */
  times: Float64Array | undefined;
  /** Redelivery count of each batch index, only when some is not 0. */
  counts: Uint32Array | undefined;
  constructor(readonly part: number, readonly ledgerId: number, readonly entryId: number, readonly batchSize: number,
    public deliveredAt: number) {
    this.state = new Uint8Array(batchSize);
  }

  deliveredAtOf(i: number): number {
    return this.times === undefined ? this.deliveredAt : this.times[i]!;
  }

  redeliveryCountOf(i: number): number {
    return this.counts === undefined ? 0 : this.counts[i]!;
  }
}
export const OUT_QUEUED = 1;
export const OUT_TAKEN = 2;

/**
 * A message delivered to a consumer: fields read from its entry only when asked (the value through
 * the schema once, the MessageId built once), so a consumer that reads `data` and acks allocates this
 * object and nothing else per message.
 * @internal (the public type is {@link Message})
 */
export class EntryMessage<T> implements Message<T> {
  private idCache: MessageId | undefined;
  private valueCache: T | undefined;
  private decoded = false;
  private propsCache: Record<string, string> | undefined;
  private dataCache: Uint8Array | undefined;

  constructor(
    /** @internal The topic subscribed to or read (for a partitioned topic, the base name). */ private readonly baseTopic: string,
    /** @internal */ readonly partition: number,
    /** @internal */ readonly entry: EntryView,
    /** @internal */ readonly batchIndex: number,
    readonly redeliveryCount: number,
    private readonly schema: Schema<T>,
    /** @internal The consumer's record of this message's entry. */ readonly rec: OutEntry,
    /** @internal The consumer it was delivered to. */ readonly owner: object,
  ) {}

  get topic(): string {
    const t = this.baseTopic;
    // Subscribed to one partition by name: that is already the topic.
    return this.partition >= 0 && !t.endsWith(`${PARTITION_SUFFIX}${this.partition}`) ? partitionTopicName(t, this.partition) : t;
  }

  get id(): MessageId {
    return (this.idCache ??= new MessageId(this.rec.ledgerId, this.rec.entryId, this.partition, this.batchIndex));
  }

  get key(): string | undefined {
    const k = this.entry.key(this.batchIndex);
    return k ? utf8.decode(k) : undefined;
  }

  get keyBytes(): Uint8Array | undefined {
    return this.entry.key(this.batchIndex) ?? undefined;
  }

  get data(): Uint8Array {
    return (this.dataCache ??= this.entry.value(this.batchIndex) ?? new Uint8Array(0));
  }

  get value(): T {
    if (!this.decoded) {
      this.valueCache = this.schema.decode(this.data);
      this.decoded = true;
    }
    return this.valueCache as T;
  }

  get properties(): Record<string, string> {
    return (this.propsCache ??= decodeProperties(this.entry.properties(this.batchIndex)));
  }

  get publishTime(): number {
    return this.entry.publishTime;
  }

  get eventTime(): number | undefined {
    return this.entry.eventTime(this.batchIndex);
  }

  get producerName(): string {
    return this.entry.producerName;
  }

  get sequenceId(): number | undefined {
    return this.entry.sequenceId(this.batchIndex);
  }
}
