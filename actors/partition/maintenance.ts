/**
 * A partition's housekeeping, run on a timer by its actor: what Pulsar's broker does in its
 * periodic tasks for a topic. In order, one pass at a time:
 *   1. read the topic's policies (namespace, then topic, over the broker's defaults) from LMDB;
 *   2. message TTL: every subscription acks what is older than the TTL;
 *   3. backlog quota: measure each subscription's backlog (bytes, age of its oldest unacked
 *      message); evict (consumer_backlog_eviction) or raise the flag that refuses or holds appends;
 *   4. offload: sealed ledgers, oldest first, while the local size is over the threshold (or sealed
 *      longer ago than the age threshold); then the local copies whose offload completed longer ago
 *      than the deletion lag;
 *   5. retention: delete ledgers every cursor has passed that retention no longer keeps.
 * A failure of one step (an unreachable object store) is recorded and retried on the next pass; it
 * never stops publishing.
 */
import { MillraceError } from '../../core/errors.js';
import type { ManagedLedger, Position } from '../../core/log/index.js';
import { comparePositions } from '../../core/log/index.js';
import type { LedgerInfo } from '../../core/log/ledger-info.js';
import type { Store } from '../../core/storage/store.js';
import { parseTopicName, resolvePolicies, type ResolvedPolicies, type TopicPolicies } from '../../core/topic/index.js';
import { entryPublishTime } from '../../wasm/index.js';
import type { Subscription } from './subscription.js';
import type { LogLevel } from '../../core/observability/logger.js';

type Log = (level: LogLevel, obj: Record<string, unknown>, msg: string) => void;
const errorFields = (err: unknown): Record<string, unknown> =>
  err instanceof MillraceError ? { code: err.code, err: err.message } : { err: err instanceof Error ? err.message : String(err) };

/** What `admin.offloadStatus` reports (Pulsar's OffloadProcessStatus). */
export interface OffloadStatus {
  status: 'NOT_RUN' | 'RUNNING' | 'SUCCESS' | 'ERROR';
  lastError?: string;
  /** Ledgers offloaded by this partition since its actor started. */
  offloadedLedgers: number;
}

/** One subscription's backlog as the quota sees it. */
export interface BacklogFigures {
  bytes: number;
  /** Age of the oldest unacked message, ms; 0 when there is none. */
  ageMs: number;
}

/** Reads the policies that apply to a partition (its topic's, then its namespace's, then `defaults`). */
export function readPolicies(store: Store, partitionName: string, defaults: TopicPolicies | undefined): ResolvedPolicies {
  let t;
  try {
    t = parseTopicName(partitionName);
  } catch {
    return resolvePolicies(defaults); // a managed ledger named outside the topic scheme (runtime tests)
  }
  const ns = store.topics.get(['policies', t.namespaceName]) as TopicPolicies | undefined;
  const topic = store.topics.get(['policies', parseTopicName(t.baseName).toString()]) as TopicPolicies | undefined;
  return resolvePolicies(defaults, ns, topic);
}

export class PartitionMaintenance {
  policies: ResolvedPolicies;
  /** Why appends are refused or held now, undefined while every backlog is within its quota. */
  quotaExceeded: string | undefined;
  private offload: OffloadStatus = { status: 'NOT_RUN', offloadedLedgers: 0 };
  private running: Promise<void> | undefined;
  private active = false;
  /** Asked for while a pass ran: run the loop once more. */
  private again = false;
  /** A request that wants the offload step (any but a light one) is pending. */
  private fullWanted = false;
  private forceOffload = false;
  /** Set by stop(): the running pass ends at its next step, and no new one starts. */
  private stopping = false;

  constructor(
    private readonly store: Store,
    private readonly ml: ManagedLedger,
    private readonly subscriptions: () => Iterable<Subscription>,
    private readonly defaults: TopicPolicies | undefined,
    private readonly tiered: boolean,
    private readonly log: Log = () => undefined,
    private readonly now: () => number = Date.now,
    /**
     * Runs before ledgers up to `through` are deleted: the partition snapshots its deduplication
     * state there, as Pulsar's deduplication cursor holds trimming back until its snapshot. A
     * restart rebuilds that state from the snapshot and the entries after it, so entries deleted
     * past the snapshot would take their sequence IDs with them and a producer's resend of them
     * would be stored twice.
     */
    private readonly beforeTrim: (through: Position) => Promise<void> = async () => undefined,
  ) {
    this.policies = readPolicies(store, ml.name, defaults);
  }

  /**
   * Ends housekeeping before the partition closes its ledger: the running pass skips or stops its
   * offload (between ledgers) but finishes its local steps, and no new pass starts. Resolves when
   * nothing of it is left running, so none of its writes can reach a store that is closing.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running?.catch(() => undefined);
  }

  get offloadStatus(): OffloadStatus {
    return { ...this.offload };
  }

  /**
   * Runs a pass now, or once more right after the one running; resolves when that is done. A
   * `light` request (new policies taking effect) skips the offload step, which can take long,
   * unless a full pass or an offload is also asked for.
   */
  run(options: { offloadNow?: boolean; light?: boolean } = {}): Promise<void> {
    if (options.offloadNow) this.forceOffload = true;
    if (options.light !== true) this.fullWanted = true;
    if (this.stopping) return Promise.resolve();
    if (this.active) {
      this.again = true;
      return this.running!;
    }
    this.active = true;
    this.running = this.pass();
    return this.running;
  }

  private async pass(): Promise<void> {
    try {
      do {
        this.again = false;
        const full = this.fullWanted || this.forceOffload;
        this.fullWanted = false;
        if (this.ml.isClosed || this.stopping) return;
        // Policies and cursors are written by other threads; lmdb-js keeps a per-thread read
        // snapshot until its next tick, so start the pass from the latest commit.
        this.store.root.resetReadTxn();
        this.policies = readPolicies(this.store, this.ml.name, this.defaults);
        // A pass that started finishes its local steps (a few LMDB writes) even when stop() comes
        // meanwhile: only the offload, which can take long, ends early. Otherwise whether a short
        // process's first pass trimmed anything would depend on how soon it closed.
        await this.expire();
        await this.checkQuota();
        if (full && !this.stopping) await this.offloadLedgers();
        await this.trim();
      } while (this.again && !this.ml.isClosed && !this.stopping);
    } finally {
      // Cleared in the same turn as the last `again` check: a request after it starts a new pass.
      this.active = false;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // TTL

  private async expire(): Promise<void> {
    const ttl = this.policies.ttlMs;
    if (ttl <= 0) return;
    const cutoff = await this.firstAtOrAfter(this.now() - ttl);
    for (const sub of this.subscriptions()) {
      if (await sub.skipBefore(cutoff)) this.log('info', { subscription: sub.name, before: cutoff, ttlMs: ttl }, 'messages past their TTL acked');
    }
  }

  /** The first position whose publish time is >= t, or the position after the last entry. */
  private async firstAtOrAfter(t: number): Promise<Position> {
    const found = await this.ml.findByTime(t);
    if (found) return found;
    const last = this.ml.lastConfirmed;
    return last ? { ledgerId: last.ledgerId, entryId: last.entryId + 1 } : { ledgerId: 0, entryId: 0 };
  }

  // -----------------------------------------------------------------------------------------------
  // Backlog quota

  /** A subscription's backlog: bytes after its mark-delete position (estimated within a ledger) and its age. */
  async backlogOf(sub: Subscription): Promise<BacklogFigures> {
    const md = sub.cursor.markDeletePosition;
    let bytes = 0;
    for (const l of this.ml.ledgers()) bytes += bytesAfter(l, md);
    let ageMs = 0;
    const first = sub.cursor.firstUnacked();
    if (first) {
      try {
        ageMs = Math.max(0, this.now() - entryPublishTime((await this.ml.read(first)).entry));
      } catch {
        // unreadable now (object store away): age unknown this pass
      }
    }
    return { bytes, ageMs };
  }

  private async checkQuota(): Promise<void> {
    const q = this.policies.backlogQuota;
    if (!q) {
      this.quotaExceeded = undefined;
      return;
    }
    const limitBytes = q.limitBytes ?? -1;
    const limitAgeMs = q.limitAgeMs ?? -1;
    let exceeded: string | undefined;
    for (const sub of this.subscriptions()) {
      const b = await this.backlogOf(sub);
      if (q.policy === 'consumer_backlog_eviction') {
        let evicted = false;
        if (limitAgeMs >= 0 && b.ageMs > limitAgeMs) evicted = await sub.skipBefore(await this.firstAtOrAfter(this.now() - limitAgeMs));
        if (limitBytes >= 0 && b.bytes > limitBytes) evicted = (await sub.skipBefore(this.positionLeaving(limitBytes))) || evicted;
        if (evicted) this.log('warn', { subscription: sub.name, backlogBytes: b.bytes, oldestMs: b.ageMs, limitBytes, limitAgeMs }, 'backlog quota: oldest messages evicted');
        continue;
      }
      if (limitBytes >= 0 && b.bytes > limitBytes) exceeded = `subscription ${sub.name} has a backlog of ${b.bytes} bytes, over its quota of ${limitBytes}`;
      else if (limitAgeMs >= 0 && b.ageMs > limitAgeMs) exceeded = `subscription ${sub.name} has an unacked message ${b.ageMs} ms old, over its quota of ${limitAgeMs} ms`;
      if (exceeded) break;
    }
    if (exceeded !== undefined && this.quotaExceeded === undefined) this.log('warn', { policy: q.policy, reason: exceeded }, 'backlog quota exceeded');
    if (exceeded === undefined && this.quotaExceeded !== undefined) this.log('info', { policy: q.policy }, 'backlog back within quota');
    this.quotaExceeded = exceeded;
  }

  /** The position from which at most `limitBytes` of log remain to the end (whole entries, estimated). */
  private positionLeaving(limitBytes: number): Position {
    const ledgers = this.ml.ledgers();
    let remaining = 0;
    for (let i = ledgers.length - 1; i >= 0; i--) {
      const l = ledgers[i]!;
      if (l.entries === 0) continue;
      if (remaining + l.bytes <= limitBytes) {
        remaining += l.bytes;
        continue;
      }
      // Part of this ledger fits: skip its first entries, in proportion to their share of its bytes.
      const perEntry = l.bytes / (l.lastEntryId + 1);
      const keep = Math.floor((limitBytes - remaining) / perEntry);
      return { ledgerId: l.ledgerId, entryId: l.lastEntryId + 1 - keep };
    }
    return { ledgerId: ledgers[0]?.ledgerId ?? 0, entryId: 0 };
  }

  /** BACKLOG_QUOTA_EXCEEDED for an append refused now (producer_exception). */
  quotaError(): MillraceError {
    return new MillraceError('BACKLOG_QUOTA_EXCEEDED', `${this.ml.name}: ${this.quotaExceeded ?? 'backlog quota exceeded'}`);
  }

  // -----------------------------------------------------------------------------------------------
  // Offload

  private async offloadLedgers(): Promise<void> {
    if (!this.tiered) {
      if (this.forceOffload) {
        this.forceOffload = false;
        this.offload = { ...this.offload, status: 'ERROR', lastError: 'the broker has no tieredStorage configured' };
      }
      return;
    }
    const p = this.policies;
    const force = this.forceOffload;
    this.forceOffload = false;
    const now = this.now();
    const ledgers = this.ml.ledgers();
    let local = 0;
    for (const l of ledgers) if (!l.offload?.complete) local += l.bytes;
    const todo: LedgerInfo[] = [];
    for (const l of ledgers) {
      if (l.state !== 'sealed' || l.offload?.complete || l.entries === 0) continue;
      const bySize = p.offloadThresholdBytes >= 0 && local > p.offloadThresholdBytes;
      const byAge = p.offloadThresholdMs >= 0 && now - (l.sealedAt ?? l.createdAt) >= p.offloadThresholdMs;
      if (!force && !bySize && !byAge) continue;
      todo.push(l);
      local -= l.bytes;
    }
    if (todo.length > 0) {
      this.offload = { ...this.offload, status: 'RUNNING' };
      try {
        for (const l of todo) {
          if (this.stopping) break;
          const rec = await this.ml.offloadLedger(l.ledgerId);
          this.offload.offloadedLedgers++;
          this.log('info', { ledgerId: l.ledgerId, entries: l.entries, bytes: rec.size, key: rec.key }, 'ledger offloaded');
        }
        this.offload = { status: 'SUCCESS', offloadedLedgers: this.offload.offloadedLedgers };
      } catch (err) {
        this.offload = { status: 'ERROR', lastError: err instanceof Error ? err.message : String(err), offloadedLedgers: this.offload.offloadedLedgers };
        this.log('warn', errorFields(err), 'offload failed; it is retried on the next pass');
      }
    } else if (force && this.offload.status === 'NOT_RUN') {
      this.offload = { ...this.offload, status: 'SUCCESS' };
    }
    // Local copies go once their offload is complete and older than the lag.
    const later = this.now();
    for (const l of this.ml.ledgers()) {
      if (l.state !== 'sealed' || !l.offload?.complete) continue;
      if (later - (l.offload.completedAt ?? later) < p.offloadDeletionLagMs) continue;
      try {
        await this.ml.deleteLocalCopy(l.ledgerId);
        this.log('debug', { ledgerId: l.ledgerId }, 'local copy of an offloaded ledger deleted');
      } catch (err) {
        this.offload = { ...this.offload, status: 'ERROR', lastError: err instanceof Error ? err.message : String(err) };
        this.log('warn', { ledgerId: l.ledgerId, ...errorFields(err) }, 'local copy kept: its offload did not verify');
        return;
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Retention

  private async trim(): Promise<void> {
    const { timeMs, sizeBytes } = this.policies.retention;
    if (timeMs < 0 && sizeBytes < 0) return; // infinite
    // Every subscription has passed `slowest`; with no subscription, every entry is consumed.
    let slowest = this.ml.lastConfirmed;
    if (!slowest) return;
    for (const sub of this.subscriptions()) {
      const md = sub.cursor.markDeletePosition;
      if (comparePositions(md, slowest) < 0) slowest = md;
    }
    const ledgers = this.ml.ledgers();
    let total = 0;
    for (const l of ledgers) total += l.bytes;
    const now = this.now();
    let through: LedgerInfo | undefined;
    for (const l of ledgers) {
      if (l.state === 'open') break;
      const consumed = l.ledgerId < slowest.ledgerId || (l.ledgerId === slowest.ledgerId && l.lastEntryId <= slowest.entryId);
      if (!consumed) break;
      const none = timeMs === 0 && sizeBytes === 0;
      const expired = timeMs >= 0 && now - l.lastPublishTime > timeMs;
      const overSize = sizeBytes >= 0 && total > sizeBytes;
      if (!none && !expired && !overSize) break;
      total -= l.bytes;
      through = l;
    }
    if (through) {
      await this.beforeTrim({ ledgerId: through.ledgerId, entryId: through.lastEntryId });
      const deleted = await this.ml.trimBefore({ ledgerId: through.ledgerId, entryId: through.lastEntryId + 1 });
      if (deleted.length > 0) this.log('info', { ledgers: deleted }, 'ledgers trimmed by retention');
    }
  }
}

/** Bytes of a ledger's entries after `md` (estimated by entry share within md's ledger). */
function bytesAfter(l: LedgerInfo, md: Position): number {
  if (l.ledgerId < md.ledgerId || l.entries === 0) return 0;
  if (l.ledgerId > md.ledgerId) return l.bytes;
  const total = l.lastEntryId + 1;
  const after = Math.max(0, l.lastEntryId - md.entryId);
  return Math.round((l.bytes * after) / total);
}
