/** core: storage and domain logic, no threads. */
export * from './log/index.js';
export { Store, type StoreOptions, type Durability } from './storage/store.js';
export { DATA_DIR_FORMAT_VERSION } from './storage/data-dir.js';
export { MillraceError, isMillraceError, ERROR_CODES, type ErrorCode, type MillraceErrorOptions } from './errors.js';
export { DEFAULTS, LIMITS } from './defaults.js';
export {
  createDispatcher, checkSubscriptionType, SUBSCRIPTION_TYPES, compareRefs, refKey,
  type ConsumerSlot, type DispatchResult, type Dispatcher, type DispatcherOptions, type MessageRef, type SubscriptionType,
} from './dispatch/index.js';
export {
  parseTopicName, parseNamespace, partitionTopicName, TopicName, NamespaceName, MessageId, compareMessageIds, MAX_TOPIC_NAME_BYTES,
  createRouter, keyHash, murmur3_32, type MessageRouter, type RoutingMode,
  validatePolicies, resolvePolicies, DEFAULT_POLICIES, BACKLOG_QUOTA_POLICIES,
  type TopicPolicies, type ResolvedPolicies, type RetentionPolicy, type BacklogQuota, type BacklogQuotaPolicy,
} from './topic/index.js';
export { createObjectStore, type ObjectStore, type TieredStorageConfig } from './offload/object-store.js';
export { Schemas, schemaOf, checkSchemaCompatible, encodeProperties, decodeProperties, type Schema, type SchemaType } from './schema/index.js';
export { ManagedCursor, type CursorAckState } from './cursor/index.js';
export { silentLogger, type Logger, type LogLevel } from './observability/logger.js';
export { Histogram, LATENCY_BUCKETS_S, type HistogramSnapshot } from './observability/histogram.js';
