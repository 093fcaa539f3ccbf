/**
 * Feature extraction, as the feature workers run it: each field of an event (and the category x hour
 * cross) becomes one hashed one-hot feature, the "hashing trick" of click-through models, so the
 * model's weight vector has a fixed size whatever the number of users and ads.
 */
import type { FeatureVector, RawEvent } from './codec.js';
import { SyntheticWorld } from './synthetic.js';

/** 2^20 weights (8 MiB of float64): collisions among the ~10k distinct features are rare. */
export const FEATURE_BITS = 20;
const MASK = (1 << FEATURE_BITS) - 1;

/** A 32-bit integer mix (murmur3's finalizer) of a field number and a value. */
function slot(field: number, value: number): number {
  let h = Math.imul(field, 0x9e3779b1) ^ value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) & MASK;
}

const FIELDS = { bias: 1, user: 2, ad: 3, category: 4, hour: 5, position: 6, device: 7, categoryHour: 8 } as const;

export function featuresOf(e: RawEvent): FeatureVector {
  const c = SyntheticWorld.category(e.ad);
  const h = SyntheticWorld.hourBucket(e.hour);
  const indexes = Uint32Array.of(
    slot(FIELDS.bias, 0), slot(FIELDS.user, e.user), slot(FIELDS.ad, e.ad), slot(FIELDS.category, c),
    slot(FIELDS.hour, h), slot(FIELDS.position, e.position), slot(FIELDS.device, e.device), slot(FIELDS.categoryHour, c * 64 + h),
  );
  return { eventId: e.id, label: e.clicked, indexes, values: new Float32Array(indexes.length).fill(1) };
}
