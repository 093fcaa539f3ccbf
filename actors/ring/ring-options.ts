/** Per-side options of a {@link RingBuffer}: they tune this thread's view of the ring, not the shared layout. */
import { MillraceError } from '../../core/errors.js';

/** Options for `RingBuffer.create` and `RingBuffer.attach`. */
export interface RingOptions {
  /**
   * How many times a waiting side re-checks the ring before it parks in `Atomics.wait` /
   * `Atomics.waitAsync`. A futex wake costs 30-64 us on this VM, a ring round trip under 1 us, so a
   * short spin keeps latency low; too long a spin burns a core that, on 2 cores, the other side needs.
   * Each iteration pauses ~100 ns then polls (~30 ns): the default spins ~130 us, beyond which a
   * round trip is not coming soon and parking costs nothing measurable.
   * @default 1_000
   */
  spinIterations?: number;
  /**
   * How long the record at head may stay claimed (negative length) before `unblock()` turns it into
   * padding. A live writer commits within microseconds of a claim; a claim this old belongs to a
   * writer that died between claim and commit. Too small a value skips a slow but live writer's record.
   * @default 1_000
   */
  claimTimeoutMs?: number;
  /**
   * Test only (create only): the position head and tail start at, to exercise the int32 wrap of
   * positions (e.g. 2 ** 31 - 64). Must be a multiple of 8. Positions are int32 words; any value is
   * taken modulo 2^32.
   * @default 0
   * @internal
   */
  initialPosition?: number;
}

/** {@link RingOptions} with defaults applied. */
export interface ResolvedRingOptions {
  readonly spinIterations: number;
  readonly claimTimeoutMs: number;
  readonly initialPosition: number;
}

export const DEFAULT_SPIN_ITERATIONS = 1_000;
export const DEFAULT_CLAIM_TIMEOUT_MS = 1_000;

export function resolveRingOptions(options: RingOptions = {}): ResolvedRingOptions {
  const spinIterations = options.spinIterations ?? DEFAULT_SPIN_ITERATIONS;
  const claimTimeoutMs = options.claimTimeoutMs ?? DEFAULT_CLAIM_TIMEOUT_MS;
  const initialPosition = options.initialPosition ?? 0;
  if (!Number.isInteger(spinIterations) || spinIterations < 0) {
    throw new MillraceError('INVALID_ARGUMENT', `spinIterations must be an integer >= 0, got ${spinIterations}`);
  }
  if (!(claimTimeoutMs >= 0)) {
    throw new MillraceError('INVALID_ARGUMENT', `claimTimeoutMs must be a number >= 0, got ${claimTimeoutMs}`);
  }
  if (!Number.isInteger(initialPosition) || initialPosition % 8 !== 0) {
    throw new MillraceError('INVALID_ARGUMENT', `initialPosition must be an integer multiple of 8, got ${initialPosition}`);
  }
  return { spinIterations, claimTimeoutMs, initialPosition: initialPosition | 0 };
}
