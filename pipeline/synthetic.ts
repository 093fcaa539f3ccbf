/**
 * Synthetic click-through data with a hidden true model, so learning is measurable: each event's
 * click is drawn from sigmoid(true logit), where the logit sums hidden weights of the user, the ad,
 * the ad's category, the slot on the page, the device, the hour and a category x hour interaction.
 * A model that learns those weights approaches the accuracy of the hidden model itself (the
 * "oracle"), which the labels' own randomness keeps below 1.
 *
 * Everything comes from one seeded generator, so a run is reproducible. The number of users and ads
 * grows with the number of events (about 50 events per user), so per-user weights are equally
 * learnable at every size and the learning curve keeps its shape.
 */

import type { RawEvent } from './codec.js';

/** mulberry32: a small, fast, seedable 32-bit generator (statistical quality is plenty here). */
export class Random {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

export const CATEGORIES = 12;
export const HOUR_BUCKETS = 6;
export const DEVICES = 3;
export const POSITIONS = 5;

/** Events per user: enough that a user's own weight is learnable in a few epochs. */
const EVENTS_PER_USER = 50;
const EVENTS_PER_AD = 200;

export const sigmoid = (z: number): number => 1 / (1 + Math.exp(-z));

/** The hidden world: its weights and a generator of events from them. */
export class SyntheticWorld {
  readonly users: number;
  readonly ads: number;
  private readonly userW: Float64Array;
  private readonly adW: Float64Array;
  private readonly catW: Float64Array;
  private readonly catHourW: Float64Array;
  private readonly hourW: Float64Array;
  // The top slot gets clicked most, as on every results page.
  private readonly posW = [1.0, 0.5, 0, -0.5, -1.0];
  private readonly deviceW = [0.3, -0.3, 0];
  private readonly rng: Random;

  constructor(readonly events: number, seed: number) {
    const r = new Random(seed);
    this.users = Math.max(20, Math.round(events / EVENTS_PER_USER));
    this.ads = Math.max(20, Math.round(events / EVENTS_PER_AD));
    const normals = (n: number, sd: number): Float64Array => Float64Array.from({ length: n }, () => sd * r.normal());
    this.userW = normals(this.users, 1.2);
    this.adW = normals(this.ads, 0.8);
    this.catW = normals(CATEGORIES, 0.5);
    this.catHourW = normals(CATEGORIES * HOUR_BUCKETS, 0.6);
    this.hourW = normals(HOUR_BUCKETS, 0.3);
    this.rng = new Random(seed ^ 0x5bd1e995);
  }

  static category(ad: number): number {
    return ad % CATEGORIES;
  }

  static hourBucket(hour: number): number {
    return Math.floor(hour / (24 / HOUR_BUCKETS));
  }

  /** The hidden model's logit for an event. */
  trueLogit(e: RawEvent): number {
    const c = SyntheticWorld.category(e.ad);
    const h = SyntheticWorld.hourBucket(e.hour);
    return this.userW[e.user]! + this.adW[e.ad]! + this.catW[c]! + this.catHourW[c * HOUR_BUCKETS + h]! + this.hourW[h]! +
      this.posW[e.position]! + this.deviceW[e.device]!;
  }

  /** The next event, numbered `id`; events must be drawn in order of `id` for a run to repeat. */
  next(id: number): RawEvent {
    const r = this.rng;
    const e: RawEvent = { id, user: r.int(this.users), ad: r.int(this.ads), hour: r.int(24), device: r.int(DEVICES), position: r.int(POSITIONS), clicked: 0 };
    e.clicked = r.next() < sigmoid(this.trueLogit(e)) ? 1 : 0;
    return e;
  }
}

/** Events held out of training, to measure accuracy on data the model never learned from. */
export const isHoldout = (eventId: number): boolean => eventId % 5 === 0;
