/** Topics: names and partitions, message IDs, partition routing. */
export {
  parseTopicName, parseNamespace, partitionTopicName, TopicName, NamespaceName,
  PUBLIC_TENANT, DEFAULT_NAMESPACE, PARTITION_SUFFIX, MAX_TOPIC_NAME_BYTES, type TopicDomain,
} from './topic-name.js';
export { MessageId, compareMessageIds } from './message-id.js';
export { murmur3_32, keyHash } from './murmur3.js';
export { createRouter, signSafeMod, keyHashPartition, type MessageRouter, type RoutingMode } from './router.js';
export {
  validatePolicies, resolvePolicies, checkQuotaWithinRetention, DEFAULT_POLICIES, BACKLOG_QUOTA_POLICIES,
  type TopicPolicies, type ResolvedPolicies, type RetentionPolicy, type BacklogQuota, type BacklogQuotaPolicy,
} from './policies.js';
