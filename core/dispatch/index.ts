/**
 * core/dispatch: the dispatch rules of Pulsar's four subscription types as pure, synchronous logic.
 * The partition actor offers messages in log order, delivers what is assigned, reports acks, nacks
 * and consumer changes; the dispatcher decides who may hold what. No I/O, timers or threads here.
 */
import { MillraceError } from '../errors.js';
import { invalid } from './base-dispatcher.js';
import { DEFAULT_HASH_RANGE_SIZE, KeySharedDispatcher } from './key-shared-dispatcher.js';
import { SharedDispatcher } from './shared-dispatcher.js';
import { SingleActiveDispatcher, checkPartitionIndex } from './single-active-dispatcher.js';
import type { Dispatcher, DispatcherOptions, SubscriptionType } from './types.js';

export type { ConsumerSlot, DispatchResult, Dispatcher, DispatcherOptions, MessageRef, SubscriptionType } from './types.js';
export { SUBSCRIPTION_TYPES } from './types.js';
export { compareRefs, refKey } from './position.js';
export { murmur3_32, murmur3_32Latin1, murmur3_32Utf8, stickyKeyHash } from './murmur3.js';
export { HashRing, POINTS_PER_CONSUMER } from './hash-ring.js';
export { KeySharedDispatcher, DEFAULT_HASH_RANGE_SIZE } from './key-shared-dispatcher.js';

/** Creates the dispatcher of one subscription of one partition. */
export function createDispatcher(type: SubscriptionType, options: DispatcherOptions = {}): Dispatcher {
  switch (type) {
    case 'exclusive':
    case 'failover':
      return new SingleActiveDispatcher(type, checkPartitionIndex(options.partitionIndex ?? -1));
    case 'shared':
      return new SharedDispatcher();
    case 'key_shared':
      return new KeySharedDispatcher(options.keySharedHashRangeSize ?? DEFAULT_HASH_RANGE_SIZE);
    default:
      throw invalid(`subscription type must be one of exclusive, failover, shared, key_shared; got ${String(type)}`);
  }
}

/**
 * A consumer asks for `requested` on a subscription whose dispatcher is `current`: fine when the types
 * match or nobody is connected (the caller then replaces the dispatcher, as Pulsar lets a subscription
 * change type once all its consumers left); otherwise SUBSCRIPTION_TYPE_CONFLICT.
 */
export function checkSubscriptionType(current: Dispatcher | undefined, requested: SubscriptionType): void {
  if (current === undefined || current.type === requested || current.consumers().length === 0) return;
  throw new MillraceError('SUBSCRIPTION_TYPE_CONFLICT',
    `subscription has ${current.consumers().length} connected ${current.type} consumer(s); a ${requested} consumer can join only after they all leave`);
}
