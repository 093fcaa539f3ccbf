/**
 * Every error Millrace throws to a user is a {@link MillraceError} with a stable string `code` and a
 * `retriable` flag (kafkajs's idea): a caller can branch on the code and retry only what may succeed
 * on a second try. The codes live in this one table; the README lists them.
 */
export const ERROR_CODES = {
  // Input
  INVALID_ARGUMENT: 'an argument has the wrong type or is out of range',
  BATCH_EMPTY: 'an append or send was given no messages',
  ENTRY_TOO_LARGE: 'a batch or message is larger than the maximum entry size',
  SEQUENCE_INVALID: 'producer sequence IDs in a batch are not strictly increasing or span too far',
  TOPIC_NAME_INVALID: 'a topic name is malformed or would leave the data directory',
  SCHEMA_MISMATCH: 'a producer or consumer schema does not match the schema the topic was created with',
  ACK_INVALID: 'an ack names a message this consumer does not hold, or a cumulative ack on a shared subscription',
  // Topics, subscriptions, producers
  TOPIC_NOT_FOUND: 'no topic of that name exists',
  TOPIC_EXISTS: 'a topic of that name exists already (with another partition count)',
  SUBSCRIPTION_NOT_FOUND: 'no subscription of that name exists on the topic',
  SUBSCRIPTION_TYPE_CONFLICT: 'the subscription has connected consumers of another type',
  CONSUMER_BUSY: 'an exclusive subscription already has a consumer',
  SUBSCRIPTION_BUSY: 'an unsubscribe while other consumers are connected to the subscription; close them first',
  PRODUCER_BUSY: 'a producer with that name is already connected to the topic',
  TOPIC_BUSY: 'the topic has connected producers or consumers; close them or delete with force',
  // Lifecycle
  CLOSED: 'the object was closed before or during the call',
  // Data directory
  DATA_DIR_INVALID: 'the directory exists but is not a Millrace data directory',
  DATA_DIR_VERSION_UNSUPPORTED: 'the data directory was written by a newer Millrace format version',
  DATA_DIR_LOCKED: 'another live process has the data directory open (its pid is in the lock file)',
  // Storage
  ENTRY_CORRUPT: 'a stored entry failed its checksum or bounds checks',
  ENTRY_NOT_FOUND: 'no entry exists at that position (never written, or trimmed)',
  STORAGE_WRITE_FAILED: 'the storage engine refused or failed a write',
  STORAGE_READ_FAILED: 'the storage engine failed a read',
  // Tiered storage (object stores)
  OBJECT_STORE_UNAVAILABLE: 'the object store could not be reached or failed (connection refused, timeout, 5xx); retry later',
  OBJECT_STORE_DENIED: 'the object store refused the credentials or denied access',
  OBJECT_STORE_BUCKET_NOT_FOUND: 'the configured bucket (or store root) does not exist',
  OBJECT_STORE_REQUEST_FAILED: 'the object store rejected a request for another reason (see the cause)',
  OBJECT_KEY_INVALID: 'an object key is empty, too long, malformed, or would resolve outside the store root',
  OBJECT_NOT_FOUND: 'no object exists under that key',
  OBJECT_CORRUPT: 'an offloaded object failed its checksum, size or format checks',
  // Runtime
  TIMEOUT: 'an operation did not complete within its time limit',
  RING_FULL: 'a ring buffer stayed full past the writer timeout (backpressure)',
  WORKER_DIED: 'the worker hosting the target died; the request may be retried',
  ACTOR_NOT_FOUND: 'the actor is not (or no longer) on the host the request reached; it may have moved',
  // Policies and quotas
  POLICY_INVALID: 'a retention, TTL, backlog quota or offload policy is malformed or an invalid combination',
  BACKLOG_QUOTA_EXCEEDED: "a subscription's backlog is over its quota and the policy refuses new messages",
  // Tiered storage
  OFFLOAD_NOT_CONFIGURED: 'an offload was asked for, or an offloaded ledger read, but the broker has no tieredStorage',
  OFFLOAD_FAILED: 'an offload did not complete; the ledger stays local and the offload is retried',
} as const;

/** A stable error code; see {@link ERROR_CODES} for what each means. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Codes that are worth retrying by default: a second attempt may succeed without a changed input. */
const RETRIABLE_BY_DEFAULT: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'STORAGE_WRITE_FAILED', 'OBJECT_STORE_UNAVAILABLE', 'TIMEOUT', 'RING_FULL', 'WORKER_DIED', 'ACTOR_NOT_FOUND', 'BACKLOG_QUOTA_EXCEEDED',
]);

/** Options for {@link MillraceError}. */
export interface MillraceErrorOptions {
  /** Overrides the code's default retriability. */
  retriable?: boolean;
  /** The underlying error, kept rather than lost. */
  cause?: unknown;
}

/** The one error class of Millrace: a stable `code`, a `retriable` flag and the `cause` it wraps. */
export class MillraceError extends Error {
  /** Stable machine-readable code; never changes meaning between versions. */
  readonly code: ErrorCode;
  /** Whether retrying the same call unchanged may succeed. */
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: MillraceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MillraceError';
    this.code = code;
    this.retriable = options.retriable ?? RETRIABLE_BY_DEFAULT.has(code);
  }
}

/** True when `err` is a {@link MillraceError}, optionally of the given code. */
export function isMillraceError(err: unknown, code?: ErrorCode): err is MillraceError {
  return err instanceof MillraceError && (code === undefined || err.code === code);
}
