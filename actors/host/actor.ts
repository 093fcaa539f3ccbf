/**
 * What an actor is, as the host worker sees it. An actor owns its state (a partition actor, its
 * managed ledger), handles requests one at a time in arrival order (its mailbox is the order records
 * come off the rings) and replies when it is done, possibly later: an append replies once durable.
 * It holds nothing that storage does not also hold, so the host can restart it anywhere.
 */
import type { Store } from '../../core/storage/store.js';
import type { LogLevel } from '../../core/observability/logger.js';
import type { RecordParts } from '../ring/index.js';

/** Answers one request. Call exactly one of the two, once. */
export interface Reply {
  /** The client thread that sent the request (events for it go to this client). */
  readonly clientId: number;
  /**
   * `body` is copied before this returns: the caller may reuse it at once. Parts are sent as one
   * body, concatenated, without the caller gathering them into one buffer.
   */
  ok(body?: RecordParts): void;
  fail(err: unknown): void;
}

/** What the host gives an actor. */
export interface ActorContext {
  /** The runtime-wide numeric id, used on the rings. */
  readonly actorId: number;
  /** The actor's stable name (for a partition: its internal topic name). */
  readonly name: string;
  /** The data directory's store, opened once per worker. */
  readonly store: Store;
  /** A timer owned by the actor: cleared when the actor stops. Returns a cancel function. */
  setTimer(ms: number, fn: () => void): () => void;
  /**
   * Pushes an event (a delivery to a consumer) to a client thread, unasked, in order with the
   * replies to that client. `write` fills `length` bytes in place in the client's ring. Returns
   * false when the client is gone.
   */
  emit(clientId: number, length: number, write: (bytes: Uint8Array, offset: number) => void): boolean;
  /** Writes a log record to the broker's logger (on the thread that opened it; cold path, plain data only). */
  log(level: LogLevel, obj: Record<string, unknown>, msg: string): void;
}

export interface Actor {
  /**
   * Handles one request. `body` is a view into a ring slot, valid only during this call: copy
   * what is kept (and never hand it to lmdb-js, which stores SharedArrayBuffer views as garbage).
   */
  handle(op: number, body: Uint8Array, reply: Reply): void;
  /** Finishes pending work and releases the actor's state. */
  stop(): Promise<void>;
}

/** Creates an actor of one kind; runs on the host worker. */
export type ActorFactory = (ctx: ActorContext, config: unknown) => Promise<Actor>;
