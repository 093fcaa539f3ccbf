/**
 * The data the dispatch rules work on. A dispatcher is pure, synchronous, single-threaded logic: the
 * partition actor reads entries, offers their messages, delivers what is assigned and reports acks; the
 * dispatcher only decides who may hold what.
 */

/** Pulsar's four subscription types. */
export type SubscriptionType = 'exclusive' | 'failover' | 'shared' | 'key_shared';

/** All subscription types, in Pulsar's order. */
export const SUBSCRIPTION_TYPES: readonly SubscriptionType[] = ['exclusive', 'failover', 'shared', 'key_shared'];

/** One message of an entry. Identity and order: (ledgerId, entryId, batchIndex). */
export interface MessageRef {
  position: { ledgerId: number; entryId: number };
  /** Index inside the entry's batch (0 for a batch of one). */
  batchIndex: number;
  /**
   * The routing key for Key_Shared hashing, as a latin1 string: one char per key byte, char codes
   * 0..255 (what `Buffer.toString('latin1')` gives). The hash is Murmur3-32 of those bytes, so a key
   * hashes the same as Pulsar hashes the same bytes. A char above U+00FF is not a byte and is refused
   * (INVALID_ARGUMENT). `null` when the message has no key: it hashes as the empty key.
   */
  key: string | null;
}

/** A connected consumer as the dispatcher sees it. */
export interface ConsumerSlot {
  /** Unique among the dispatcher's connected consumers. */
  id: number;
  /** Consumer name: orders failover candidates and places a consumer's points on the Key_Shared ring. */
  name: string;
  /** Pulsar's priorityLevel: lower value = higher priority (0 is the highest). */
  priority: number;
}

/** What one {@link Dispatcher.dispatch} call decided. */
export interface DispatchResult {
  /** Consumer id -> the messages assigned to it, in position order. */
  assigned: Map<number, MessageRef[]>;
  /** Messages nobody may take now (no permits, blocked key, no eligible consumer), in position order. */
  held: MessageRef[];
}

/** Options for {@link createDispatcher}. */
export interface DispatcherOptions {
  /**
   * Partition index of the internal topic this subscription reads (`name-partition-i`); absent or -1
   * for a non-partitioned topic. Failover picks sorted candidate `partitionIndex % n`.
   * @default -1
   */
  partitionIndex?: number;
  /**
   * Size of the Key_Shared hash space: key hashes and ring points lie in [0, size). Pulsar 4 uses 2^16
   * (PIP-379: small enough that tracking every hash of a range stays cheap, large enough to spread keys).
   * @default 65536
   */
  keySharedHashRangeSize?: number;
}

/**
 * The dispatch rules of one subscription. Every method is synchronous and does no I/O; messages are
 * identified by (ledgerId, entryId, batchIndex).
 *
 * Message lifecycle as the dispatcher sees it: offered -> assigned to one consumer (pending) -> acked
 * (gone) or given back (removeConsumer / release: "returned") -> offered again -> ... A message the
 * caller drops without redelivering (dead-lettered, expired by TTL) must be reported with `onAck`, or a
 * Key_Shared dispatcher keeps later messages of its key waiting for it.
 */
export interface Dispatcher {
  readonly type: SubscriptionType;
  /**
   * Connects a consumer. Exclusive: a second consumer -> CONSUMER_BUSY. A duplicate id or a bad slot
   * -> INVALID_ARGUMENT. Failover re-picks the active consumer; Key_Shared rebuilds its hash ring.
   */
  addConsumer(c: ConsumerSlot): void;
  /**
   * Disconnects a consumer and returns the messages it held unacked, in position order, for the caller
   * to redeliver. An unknown id returns [] (removal is idempotent).
   */
  removeConsumer(id: number): MessageRef[];
  /** Flow control (Pulsar permits): consumer `id` may take `n` more messages. */
  addPermits(id: number, n: number): void;
  /**
   * Offers messages and assigns those that may go now. Offer them in log (position) order: new reads
   * and redeliveries merged, redeliveries first as Pulsar does (they lie before the read position). An
   * unsorted offer is sorted first. Per-key order (Key_Shared) and takeover order (Failover) hold only
   * if every held and returned message is offered again in log order; Key_Shared additionally refuses
   * a message while an earlier returned message of its key waits for redelivery.
   * Offering a message some consumer still holds, or the same message twice -> INVALID_ARGUMENT.
   */
  dispatch(messages: readonly MessageRef[]): DispatchResult;
  /**
   * How many messages a dispatch call could assign now: the permits of the consumers that may
   * receive (0 when none may). Shared, Exclusive and Failover assign offered messages strictly in
   * order, so they assign exactly the first min(capacity, n) offered and hold the rest: a caller may
   * offer only that prefix and keep the rest held itself (a pump then costs O(assigned), not
   * O(held)). Key_Shared can hold a message and assign a later one (a blocked key), so there it is
   * only an upper bound; 0 still means a dispatch call would assign nothing.
   */
  capacity(): number;
  /**
   * The message is done: acked individually by whichever consumer (Pulsar accepts an ack from a
   * consumer the message moved away from), or dead-lettered/expired while waiting for redelivery.
   * Frees Key_Shared draining state. A message the dispatcher neither has assigned nor is waiting to
   * redeliver (acked twice, never offered) -> ACK_INVALID.
   */
  onAck(consumerId: number, m: MessageRef): void;
  /**
   * Cumulative ack: every message consumer `consumerId` holds at or before `m`. Exclusive and failover
   * only; Shared and Key_Shared -> ACK_INVALID (as Pulsar).
   */
  onAckCumulative(consumerId: number, m: MessageRef): void;
  /**
   * Messages the consumer gives back (negative ack, ack timeout, redeliverUnacknowledged): removed from
   * its pending set and returned, in position order, for the caller to offer again (after whatever
   * delay it manages). Messages the consumer does not hold are skipped (a late nack races an ack).
   */
  release(consumerId: number, ms: readonly MessageRef[]): MessageRef[];
  /**
   * Exclusive/Failover: the consumer messages go to (undefined if none, and always for Shared and
   * Key_Shared). After a failover switch the new active consumer receives nothing until the consumers
   * that were active before hold nothing (see single-active-dispatcher.ts).
   */
  activeConsumer(): number | undefined;
  /** The messages consumer `consumerId` holds unacked, in position order ([] for an unknown id). */
  pending(consumerId: number): MessageRef[];
  /** Connected consumers, in id order (stats, tests, subscription-type checks). */
  consumers(): ConsumerSlot[];
}
