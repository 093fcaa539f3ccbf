/**
 * Topic policies, as Pulsar's namespace and topic policies: retention, message TTL, backlog quota and
 * the offload thresholds. They are set per namespace (`tenant/namespace`) and overridden per topic,
 * field by field; what neither sets comes from the broker's defaults, which are Pulsar's: nothing is
 * retained beyond what a subscription still needs, no TTL, no quota, no automatic offload.
 *
 * Stored in the `topics` database under ['policies', namespace or full topic name]. Partition actors
 * read them from LMDB (they live in worker threads), so a change reaches every partition without a
 * message to each.
 */
import { MillraceError } from '../errors.js';

/** What happens when a subscription's backlog passes its quota (Pulsar's names). */
export type BacklogQuotaPolicy = 'producer_request_hold' | 'producer_exception' | 'consumer_backlog_eviction';
export const BACKLOG_QUOTA_POLICIES: readonly BacklogQuotaPolicy[] = ['producer_request_hold', 'producer_exception', 'consumer_backlog_eviction'];

/** Retention of acknowledged data. -1 is infinite; 0 and 0 (the default) keep nothing acked. */
export interface RetentionPolicy {
  timeMs: number;
  sizeBytes: number;
}

/** A backlog limit per subscription, by size and/or by the age of its oldest unacked message. */
export interface BacklogQuota {
  /** -1 or absent: no size limit. */
  limitBytes?: number;
  /** -1 or absent: no age limit. */
  limitAgeMs?: number;
  policy: BacklogQuotaPolicy;
}

/** Policies of a namespace or a topic. Every field is optional: an absent field inherits. */
export interface TopicPolicies {
  retention?: RetentionPolicy;
  /** Unacked messages older than this are acked automatically. 0: never. */
  ttlMs?: number;
  backlogQuota?: BacklogQuota | null;
  /** Offload sealed ledgers once the topic's local bytes pass this. -1: never (by size); 0: at once. */
  offloadThresholdBytes?: number;
  /** Offload sealed ledgers sealed longer ago than this. -1: never (by age). */
  offloadThresholdMs?: number;
  /** Delete the local copy of an offloaded ledger this long after its offload completed. */
  offloadDeletionLagMs?: number;
}

/** Policies with every field decided. */
export interface ResolvedPolicies {
  retention: RetentionPolicy;
  ttlMs: number;
  backlogQuota: BacklogQuota | null;
  offloadThresholdBytes: number;
  offloadThresholdMs: number;
  offloadDeletionLagMs: number;
}

/** Pulsar's defaults. */
export const DEFAULT_POLICIES: ResolvedPolicies = {
  retention: { timeMs: 0, sizeBytes: 0 },
  ttlMs: 0,
  backlogQuota: null,
  offloadThresholdBytes: -1,
  offloadThresholdMs: -1,
  offloadDeletionLagMs: 4 * 3600_000,
};

const KNOWN = new Set(['retention', 'ttlMs', 'backlogQuota', 'offloadThresholdBytes', 'offloadThresholdMs', 'offloadDeletionLagMs']);

const bad = (why: string): never => {
  throw new MillraceError('POLICY_INVALID', why);
};

/** An integer >= -1 (or >= 0 when -1 is not allowed). */
function limit(name: string, v: unknown, allowInfinite: boolean): number {
  const min = allowInfinite ? -1 : 0;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) bad(`${name} must be an integer >= ${min}, got ${String(v)}`);
  return v as number;
}

/**
 * Checks policies as given to setPolicies: unknown fields, wrong types, and the combinations Pulsar
 * refuses (a retention limit of 0 beside a non-zero one, which would silently disable retention; a
 * backlog quota larger than the retention size, which could never be reached). POLICY_INVALID.
 */
export function validatePolicies(p: unknown): TopicPolicies {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) bad('policies must be an object');
  const o = p as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KNOWN.has(k)) bad(`unknown policy ${k}`);
  const out: TopicPolicies = {};
  if (o.retention !== undefined) {
    const r = o.retention as Partial<RetentionPolicy> | null;
    if (r === null || typeof r !== 'object') bad('retention must be { timeMs, sizeBytes }');
    const timeMs = limit('retention.timeMs', r!.timeMs, true);
    const sizeBytes = limit('retention.sizeBytes', r!.sizeBytes, true);
    if ((timeMs === 0) !== (sizeBytes === 0)) {
      bad(`retention of timeMs ${timeMs} with sizeBytes ${sizeBytes} is invalid: a 0 limit disables retention, so set both to 0 or neither`);
    }
    out.retention = { timeMs, sizeBytes };
  }
  if (o.ttlMs !== undefined) out.ttlMs = limit('ttlMs', o.ttlMs, false);
  if (o.backlogQuota !== undefined) {
    const q = o.backlogQuota as Partial<BacklogQuota> | null;
    if (q === null) {
      out.backlogQuota = null;
    } else {
      if (typeof q !== 'object') bad('backlogQuota must be { limitBytes?, limitAgeMs?, policy } or null');
      if (!BACKLOG_QUOTA_POLICIES.includes(q.policy as BacklogQuotaPolicy)) bad(`backlogQuota.policy must be one of ${BACKLOG_QUOTA_POLICIES.join(', ')}, got ${String(q.policy)}`);
      const limitBytes = q.limitBytes === undefined ? -1 : limit('backlogQuota.limitBytes', q.limitBytes, true);
      const limitAgeMs = q.limitAgeMs === undefined ? -1 : limit('backlogQuota.limitAgeMs', q.limitAgeMs, true);
      if (limitBytes < 0 && limitAgeMs < 0) bad('backlogQuota needs limitBytes or limitAgeMs');
      out.backlogQuota = { limitBytes, limitAgeMs, policy: q.policy as BacklogQuotaPolicy };
    }
  }
  if (o.offloadThresholdBytes !== undefined) out.offloadThresholdBytes = limit('offloadThresholdBytes', o.offloadThresholdBytes, true);
  if (o.offloadThresholdMs !== undefined) out.offloadThresholdMs = limit('offloadThresholdMs', o.offloadThresholdMs, true);
  if (o.offloadDeletionLagMs !== undefined) out.offloadDeletionLagMs = limit('offloadDeletionLagMs', o.offloadDeletionLagMs, false);
  checkQuotaWithinRetention(out);
  return out;
}

/** Pulsar refuses a backlog quota that retention would cut first. Checked on the merged policies too. */
export function checkQuotaWithinRetention(p: TopicPolicies): void {
  const q = p.backlogQuota;
  const r = p.retention;
  if (q && r && r.sizeBytes > 0 && (q.limitBytes ?? -1) > r.sizeBytes) {
    bad(`backlogQuota.limitBytes ${q.limitBytes} is over retention.sizeBytes ${r.sizeBytes}: retention would drop the backlog before the quota is reached`);
  }
  if (q && r && r.timeMs > 0 && (q.limitAgeMs ?? -1) > r.timeMs) {
    bad(`backlogQuota.limitAgeMs ${q.limitAgeMs} is over retention.timeMs ${r.timeMs}`);
  }
}

/** Layers policies: later layers override earlier ones field by field. */
export function resolvePolicies(...layers: (TopicPolicies | undefined)[]): ResolvedPolicies {
  const out: ResolvedPolicies = { ...DEFAULT_POLICIES };
  for (const l of layers) {
    if (!l) continue;
    for (const k of Object.keys(l) as (keyof TopicPolicies)[]) {
      if (l[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = l[k];
    }
  }
  return out;
}
