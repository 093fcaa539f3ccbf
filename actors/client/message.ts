/**
 * A message as a consumer or reader sees it: decoded lazily from the entry it arrived in, with no
 * copy of its value (a view into the entry, which belongs to this message's batch).
 */
import { MessageId, PARTITION_SUFFIX, partitionTopicName } from '../../core/topic/index.js';
import { Schemas, decodeProperties, type Schema } from '../../core/schema/index.js';
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
  /**
   * Delivery time of each batch index (the time the application took it, under an ack timeout),
   * only once indexes of one entry have different times.
   */
  times: Float64Array | undefined;
  /** Redelivery count of each batch index, only when some is not 0. */
  counts: Uint32Array | undefined;
  constructor(readonly part: number, readonly ledgerId: number, readonly entryId: number, readonly batchSize: number,
    public deliveredAt: number) {
    this.state = new Uint8Array(batchSize);
  }

  /**
   * Index `i` was handed to the application at `now`: its ack-timeout clock starts here, not at
   * delivery (a message that waited in the receive buffer past the timeout was given back the
   * moment it was received, and its ack failed; Pulsar's tracker also starts on receive).
   */
  taken(i: number, now: number): void {
    if (this.times === undefined) {
      if (now === this.deliveredAt) return;
      this.times = new Float64Array(this.batchSize).fill(this.deliveredAt);
    }
    this.times[i] = now;
  }

  /** When index `i` arrived, or was taken by the application under an ack timeout (see taken). */
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
 * What the messages of one partition of one consumer (or reader) share: kept once, not in every
 * message. @internal
 */
export class MessageSource<T> {
  /** The topic the messages were published to (the partition's name on a partitioned topic). */
  readonly topic: string;
  /** The bytes schema decodes a value to its bytes as they are: `value` is then `data`. */
  readonly rawValue: boolean;

  constructor(
    /** The topic subscribed to or read (for a partitioned topic, the base name). */ baseTopic: string,
    readonly partition: number,
    readonly schema: Schema<T>,
    /** The consumer or reader the messages were delivered to. */ readonly owner: object,
  ) {
    // Subscribed to one partition by name: that is already the topic.
    this.topic = partition >= 0 && !baseTopic.endsWith(`${PARTITION_SUFFIX}${partition}`) ? partitionTopicName(baseTopic, partition) : baseTopic;
    this.rawValue = schema === (Schemas.bytes as unknown as Schema<T>);
  }
}

/** What a message computes only when asked and keeps (most consumers never ask). */
interface Computed<T> {
  id?: MessageId;
  decoded?: boolean;
  value?: T;
  properties?: Record<string, string>;
}

/**
 * A message delivered to a consumer: fields read from its entry only when asked (the value through
 * the schema once, the MessageId built once), so a consumer that reads `data` and acks allocates this
 * object (and the view of its data) and nothing else per message. Buffered messages wait in the
 * consumer's queue for as long as the application takes, long enough to be copied by young garbage
 * collections: what every message of a partition shares lives in its {@link MessageSource}.
 * @internal (the public type is {@link Message})
 */
export class EntryMessage<T> implements Message<T> {
  private dataCache: Uint8Array | undefined = undefined;
  private computed: Computed<T> | undefined = undefined;

  constructor(
    /** @internal */ readonly src: MessageSource<T>,
    /** @internal */ readonly entry: EntryView,
    /** @internal */ readonly batchIndex: number,
    readonly redeliveryCount: number,
    /** @internal The consumer's record of this message's entry. */ readonly rec: OutEntry,
  ) {}

  get topic(): string {
    return this.src.topic;
  }

  get id(): MessageId {
    const c = (this.computed ??= {});
    return (c.id ??= new MessageId(this.rec.ledgerId, this.rec.entryId, this.src.partition, this.batchIndex));
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
    if (this.src.rawValue) return this.data as unknown as T;
    const c = (this.computed ??= {});
    if (!c.decoded) {
      c.value = this.src.schema.decode(this.data);
      c.decoded = true;
    }
    return c.value as T;
  }

  get properties(): Record<string, string> {
    const c = (this.computed ??= {});
    return (c.properties ??= decodeProperties(this.entry.properties(this.batchIndex)));
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
