import { MillraceError } from '../errors.js';
import { keyHash } from './murmur3.js';

/**
 * Partition routing for producers on partitioned topics, after Pulsar's Java client
 * (`RoundRobinPartitionMessageRouterImpl`, `SinglePartitionMessageRouterImpl`, `MathUtils.signSafeMod`).
 *
 * - `round-robin`: every message of a batch goes to one partition; the next batch goes to the next
 *   partition. Pulsar switches on a time boundary (`partitionSwitchMs`, the batching delay) when
 *   batching is on, for the same reason: a batch that is spread over partitions is no batch at all.
 *   Millrace's producer knows where its batches end, so it calls {@link MessageRouter.onBatchBoundary}.
 *   The first partition is random, as Pulsar's `startPtnIdx`, so many producers do not all start on 0.
 * - `single`: one partition picked at random when the router is made, for its whole life.
 * - `key-hash`: a keyed message goes to `signSafeMod(murmur3_32(key) & 0x7fffffff, n)`, so one key
 *   always lands on one partition; a message without a key is routed as `round-robin`. This is what
 *   Pulsar's default (round-robin) mode does with keys.
 *
 * Unlike Pulsar, `round-robin` and `single` ignore keys: a producer that wants per-key placement
 * asks for `key-hash`.
 */
export type RoutingMode = 'round-robin' | 'single' | 'key-hash';

const MODES: readonly RoutingMode[] = ['round-robin', 'single', 'key-hash'];

/** Chooses a partition per message; one per producer, not shared between producers. */
export interface MessageRouter {
  readonly mode: RoutingMode;
  readonly partitions: number;
  /** The partition, in [0, partitions), for a message with this key (`null`: no key). */
  choosePartition(key: Uint8Array | null): number;
  /** The producer closed a batch: round-robin moves on to the next partition. */
  onBatchBoundary(): void;
}

/** Pulsar's `MathUtils.signSafeMod`: `dividend mod divisor` in [0, divisor), also for a negative dividend. */
export function signSafeMod(dividend: number, divisor: number): number {
  const mod = dividend % divisor;
  return mod < 0 ? mod + divisor : mod;
}

/** The partition Pulsar's clients choose for `key` on a topic of `partitions` partitions. */
export function keyHashPartition(key: Uint8Array, partitions: number): number {
  return signSafeMod(keyHash(key), partitions);
}

/**
 * Creates a router for a topic of `partitions` partitions.
 *
 * @param rnd source of randomness in [0, 1) for the start partition (round-robin, key-hash) and the
 *   one partition (single); tests pass a seeded one. @default Math.random
 * @throws MillraceError `INVALID_ARGUMENT` for an unknown mode or a partition count that is not an
 *   integer from 1 to 2^31 - 1.
 */
export function createRouter(mode: RoutingMode, partitions: number, rnd: () => number = Math.random): MessageRouter {
  if (!MODES.includes(mode)) {
    throw new MillraceError('INVALID_ARGUMENT', `routing mode must be one of ${MODES.join(', ')}, got ${String(mode)}`);
  }
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 2 ** 31 - 1) {
    throw new MillraceError('INVALID_ARGUMENT', `a router needs a partition count from 1 to 2^31-1, got ${partitions}`);
  }
  // Clamp: a custom rnd that returns exactly 1 must not pick partition n.
  const start = Math.min(partitions - 1, Math.floor(rnd() * partitions));
  switch (mode) {
    case 'single':
      return {
        mode, partitions,
        choosePartition: () => start,
        onBatchBoundary: () => {},
      };
    case 'round-robin':
    case 'key-hash': {
      let current = start;
      const hashKeys = mode === 'key-hash';
      return {
        mode, partitions,
        choosePartition: (key) => (hashKeys && key !== null ? keyHashPartition(key, partitions) : current),
        onBatchBoundary: () => {
          current = current + 1 === partitions ? 0 : current + 1;
        },
      };
    }
  }
}
