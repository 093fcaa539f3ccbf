/**
 * The partition actor's requests, replies and events (bodies of the runtime's ring records).
 *
 * ```
 * APPEND (op 1), version 1: request body = an entry laid out by encodeInto (publish time and
 *   checksum 0; the actor seals it). Reply: ledgerId f64 | entryId f64 | publishTime f64 | count u32
 *   A batch whose sequence IDs are all at or below its producer's highest persisted one is dropped
 *   as a duplicate: the reply then has ledgerId = entryId = -1 and count 0.
 * READ (op 2): request body = ledgerId f64 | entryId f64 | maxEntries u32 | maxBytes u32 | waitMs u32 |
 *   pollKey u32. Reply: count u32, then per entry: ledgerId f64 | entryId f64 | length u32 | entry bytes.
 *   With waitMs > 0 and nothing to read, the reply waits for the next append (long poll) or waitMs.
 *   pollKey (0: none) names the reader that polls: a newer long poll of the same client and key
 *   ends the older one at once, empty (a reader that seeks does not leave a poll parked behind).
 *   maxEntries 0 with a pollKey only ends that key's parked poll (a reader closing); reply empty.
 * STATS (op 3): empty request; reply: msgpack PartitionStats.
 * PRODUCER_OPEN (4) / PRODUCER_CLOSE (5): request msgpack { name, producerId }; reply msgpack { lastSequenceId }.
 * SUBSCRIBE (10): request msgpack SubscribeRequest; reply empty.
 * FLOW (11): consumerId u32 | permits u32; no reply body.
 * ACK (12): consumerId u32 | count u32, then per message:
 *   ledgerId f64 | entryId f64 | batchIndex u16 | batchSize u16 | cumulative u8 | rsv u8 u16 (24 bytes).
 *   Replies once the acks are durable.
 * REDELIVER (13): same layout as ACK (cumulative ignored): give back (nack, ack timeout).
 * CLOSE_CONSUMER (14): consumerId u32. UNSUBSCRIBE (15): consumerId u32.
 * SEEK (16): request msgpack { consumerId, ledgerId?, entryId?, publishTimeMs? }.
 * FIND_TIME (17): request publishTimeMs f64; reply ledgerId f64 | entryId f64 (-1,-1: none).
 * LAST_POSITION (18): reply ledgerId f64 | entryId f64 of the last confirmed entry (-1,-1: empty).
 * MAINTAIN (19): request msgpack { offloadNow?, light? } or empty: run a housekeeping pass now
 *   (policies re-read); reply msgpack OffloadStatus once the pass is done. A light pass skips the
 *   offload step and replies; a full pass follows it unwaited.
 * INTERNAL_STATS (20): empty request; reply msgpack InternalStats.
 * SUBSCRIPTION_ADMIN (21): request msgpack SubscriptionAdminRequest (reset, skip, clear a
 *   subscription without a consumer of its own); reply empty.
 * DELETE (22): request msgpack { force }: delete the partition's log, cursors and dedup state;
 *   TOPIC_BUSY when producers or consumers are connected and not force. The actor then refuses
 *   every request until the broker stops it.
 * LAST_MESSAGE (23): empty request; reply ledgerId f64 | entryId f64 | batchIndex i32 | rsv u32 of the
 *   last message (-1,-1: empty; batchIndex -1: retention deleted that entry).
 *
 * Events (actor to the consumer's client thread):
 * DELIVER (kind 1): kind u8 | flags u8 | count u16 | consumerId u32 | ledgerId f64 | entryId f64 |
 *   then count x (batchIndex u16 | rsv u16 | redeliveryCount u32) | the entry bytes.
 *   One event per entry per consumer; the consumer decodes only the batch indexes it was given.
 *   flags & DELIVER_PARTIAL: the entry bytes are the entry's header and producer name, then only
 *   the records of the listed batch indexes, in the items' order (the header's count and length
 *   still describe the whole entry). Sent when a consumer gets some of an entry's messages (Shared
 *   spreads an entry over its consumers), so that no consumer copies the whole entry.
 * RESET (kind 2): kind u8 | rsv | rsv u16 | consumerId u32: drop everything buffered (after a seek)
 *   and grant permits again.
 * ERROR (kind 3): kind u8 | rsv | rsv u16 | consumerId u32 | the error (as a failed reply's body):
 *   the subscription cannot dispatch (e.g. an entry it must read is corrupt, or its object store is
 *   away). At most one a second per subscription; dispatch is tried again on the next change.
 * ```
 * f64 for IDs because ledger and entry IDs are JS safe integers, wider than u32 over a long life.
 */
import type { LedgerInfo } from '../../core/log/ledger-info.js';
import type { ResolvedPolicies } from '../../core/topic/index.js';
import type { OffloadStatus } from './maintenance.js';
import { smallId } from '../../core/log/position.js';

export const OP_APPEND = 1;
export const OP_READ = 2;
export const OP_STATS = 3;
export const OP_PRODUCER_OPEN = 4;
export const OP_PRODUCER_CLOSE = 5;
export const OP_SUBSCRIBE = 10;
export const OP_FLOW = 11;
export const OP_ACK = 12;
export const OP_REDELIVER = 13;
export const OP_CLOSE_CONSUMER = 14;
export const OP_UNSUBSCRIBE = 15;
export const OP_SEEK = 16;
export const OP_FIND_TIME = 17;
export const OP_LAST_POSITION = 18;
export const OP_MAINTAIN = 19;
export const OP_INTERNAL_STATS = 20;
export const OP_SUBSCRIPTION_ADMIN = 21;
export const OP_DELETE = 22;
/** Counted on the host, so the client is not sent the whole last entry to learn its last batch index. */
export const OP_LAST_MESSAGE = 23;
export const LAST_MESSAGE_REPLY_BYTES = 24;

/** SUBSCRIPTION_ADMIN's request. */
export type SubscriptionAdminRequest =
  | { action: 'reset'; subscription: string; ledgerId?: number; entryId?: number; batchIndex?: number; publishTimeMs?: number; to?: 'earliest' | 'latest' }
  | { action: 'skip'; subscription: string; messages: number }
  | { action: 'clear'; subscription: string };

export const APPEND_REPLY_BYTES = 28;
export const READ_REQUEST_BYTES = 32;
export const READ_ENTRY_HEADER = 20;
export const ACK_HEADER = 8;
export const ACK_ITEM = 24;

export const EVENT_DELIVER = 1;
export const EVENT_RESET = 2;
export const EVENT_ERROR = 3;
export const ERROR_EVENT_HEADER = 8;
export const DELIVER_HEADER = 24;
export const DELIVER_ITEM = 8;
/** DELIVER flag: the entry bytes hold only the listed messages' records. */
export const DELIVER_PARTIAL = 1;

/** SUBSCRIBE's request. */
export interface SubscribeRequest {
  consumerId: number;
  subscription: string;
  type: 'exclusive' | 'failover' | 'shared' | 'key_shared';
  initialPosition: 'earliest' | 'latest';
  consumerName: string;
  priority: number;
  partitionIndex: number;
}

/** Counters and storage figures, per partition and summed per topic (Pulsar's field names). */
export interface FlowAndStorage {
  msgInCounter: number;
  bytesInCounter: number;
  msgOutCounter: number;
  bytesOutCounter: number;
  /** Bytes of every ledger, local or offloaded. */
  storageSize: number;
  /** Bytes of the ledgers whose local copy exists. */
  localStorageSize: number;
  /** Bytes of the ledgers offloaded to the object store (complete offloads). */
  offloadedStorageSize: number;
}

/** STATS' reply: one partition's figures (Pulsar's field names where Pulsar has them). */
export interface PartitionStats extends FlowAndStorage {
  entries: number;
  messages: number;
  ledgers: number;
  subscriptions: Record<string, {
    type: string;
    msgBacklog: number;
    unackedMessages: number;
    consumers: { consumerName: string; unackedMessages: number; availablePermits: number }[];
  }>;
  publishers: string[];
}

/** INTERNAL_STATS' reply: Pulsar's PersistentTopicInternalStats, for one partition. */
export interface InternalStats {
  entriesAddedCounter: number;
  numberOfEntries: number;
  totalSize: number;
  localSize: number;
  offloadedSize: number;
  lastConfirmedEntry: { ledgerId: number; entryId: number } | undefined;
  ledgers: LedgerInfo[];
  cursors: Record<string, {
    markDeletePosition: { ledgerId: number; entryId: number };
    individuallyAckedRanges: { from: { ledgerId: number; entryId: number }; to: { ledgerId: number; entryId: number } }[];
    partiallyAckedEntries: number;
    messagesBacklog: number;
    backlogBytes: number;
  }>;
  offload: OffloadStatus;
  policies: ResolvedPolicies;
  quotaExceeded: string | null;
  /** Readers' long polls parked here for the next append (Pulsar's waitingCursorsCount). */
  waitingReadsCount: number;
}

/** A ledger or entry ID (an f64 on the wire) at `at`, as a small integer when it fits one (see smallId). */
export function readId(v: DataView, at: number): number {
  return smallId(v.getFloat64(at, true));
}
