/**
 * Topic administration: topic metadata (partition count, schema) kept in LMDB beside the log, and
 * statistics with Pulsar's field names, gathered from every partition actor.
 */
import { MillraceError } from '../../core/errors.js';
import { CallTracker } from './call-tracker.js';
import { MessageId } from '../../core/topic/index.js';
import type { Store } from '../../core/storage/store.js';
import {
  checkQuotaWithinRetention, parseNamespace, parseTopicName, resolvePolicies, validatePolicies,
  type ResolvedPolicies, type TopicPolicies,
} from '../../core/topic/index.js';
import { isSchemaType, type SchemaType } from '../../core/schema/index.js';
import type { PartitionClient } from './partition-client.js';
import type { FlowAndStorage, InternalStats, PartitionStats } from '../partition/partition-protocol.js';
import type { OffloadStatus } from '../partition/maintenance.js';

/** What the broker stores per topic. */
export interface TopicMetadata {
  /** 0 for a non-partitioned topic. */
  partitions: number;
  schema?: SchemaType;
  createdAt: number;
}

/** `admin.stats(topic)`: Pulsar's TopicStats fields. Rates are per second since the previous call. */
export interface TopicStats extends FlowAndStorage {
  msgRateIn: number;
  msgRateOut: number;
  msgThroughputIn: number;
  msgThroughputOut: number;
  publishers: { producerName: string }[];
  subscriptions: Record<string, {
    type: string;
    msgBacklog: number;
    unackedMessages: number;
    consumers: { consumerName: string; unackedMessages: number }[];
  }>;
}

const MAX_PARTITIONS = 10_000;

export class Admin {
  private readonly lastSample = new Map<string, { at: number; msgIn: number; bytesIn: number; msgOut: number; bytesOut: number }>();

  /** Admin calls running now: the broker's close refuses new ones and waits for these. */
  private readonly calls = new CallTracker('the broker is closed');

  /** @internal */
  constructor(
    private readonly store: Store,
    private readonly clients: (topic: string) => Promise<{ client: PartitionClient; partition: number; name: string }[]>,
    /** The partitions of a namespace or topic that have an actor now. */
    private readonly loaded: (namespaceOrTopic: string) => Promise<PartitionClient[]>,
    private readonly defaults: TopicPolicies | undefined,
    /** Stops a deleted topic's partition actors and forgets them. */
    private readonly forget: (topic: string) => Promise<void>,
    private readonly log: (level: 'info' | 'warn', obj: Record<string, unknown>, msg: string) => void = () => undefined,
  ) {}

  /** @internal Refuses new calls (CLOSED) and resolves once the running ones ended: the broker's close. */
  closeCalls(): Promise<void> {
    return this.calls.close();
  }

  /** `tenant/namespace` or a full topic name, as the key policies are stored under. */
  private policyKey(namespaceOrTopic: string): string {
    if (typeof namespaceOrTopic === 'string' && !namespaceOrTopic.includes('://') && namespaceOrTopic.split('/').length === 2) {
      return parseNamespace(namespaceOrTopic).toString();
    }
    const t = parseTopicName(namespaceOrTopic);
    if (t.partitionIndex >= 0) throw new MillraceError('TOPIC_NAME_INVALID', `${namespaceOrTopic} names a partition; set policies on ${t.baseName}`);
    return t.toString();
  }

  /**
   * Sets policies of a namespace (`tenant/namespace`) or a topic, field by field over what was set
   * before (a topic's fields override its namespace's). Invalid values and combinations are refused
   * with POLICY_INVALID, checked against the policies that would result. Every loaded partition
   * applies them before this resolves (TTL, backlog quota, retention); the offloads they ask for
   * start right after (`runMaintenance` or `offload` wait for them). Partitions not loaded apply
   * them when they load.
   */
  async setPolicies(namespaceOrTopic: string, policies: TopicPolicies): Promise<void> {
    return this.calls.run(async () => {
      const key = this.policyKey(namespaceOrTopic);
      const given = validatePolicies(policies);
      const merged: TopicPolicies = { ...(this.store.topics.get(['policies', key]) as TopicPolicies | undefined), ...given };
      checkQuotaWithinRetention(merged);
      if (key.includes('://')) {
        const ns = parseTopicName(key).namespaceName;
        checkQuotaWithinRetention(resolvePolicies(this.defaults, this.store.topics.get(['policies', ns]) as TopicPolicies | undefined, merged));
      }
      await this.store.settle(this.store.topics.put(['policies', key], merged));
      this.log('info', { target: key, policies: given }, 'policies set');
      // The new policies take effect before this resolves (TTL, quotas, retention); offloads they ask
      // for run right after, unwaited: they can take long.
      await Promise.all((await this.loaded(key)).map((c) => c.maintain({ light: true }).catch(() => undefined)));
    });
  }

  /**
   * The policies set on a namespace or topic (only what was set there), or with `{ effective: true }`
   * what applies: the broker's defaults, then the namespace's, then the topic's.
   */
  getPolicies(namespaceOrTopic: string, options: { effective?: boolean } = {}): TopicPolicies | ResolvedPolicies {
    this.calls.assertOpen();
    const key = this.policyKey(namespaceOrTopic);
    const own = (this.store.topics.get(['policies', key]) as TopicPolicies | undefined) ?? {};
    if (!options.effective) return { ...own };
    if (!key.includes('://')) return resolvePolicies(this.defaults, own);
    const ns = this.store.topics.get(['policies', parseTopicName(key).namespaceName]) as TopicPolicies | undefined;
    return resolvePolicies(this.defaults, ns, own);
  }

  /**
   * Offloads every sealed ledger of the topic that is not offloaded yet, whatever the threshold, and
   * resolves when that pass is done; {@link offloadStatus} tells how it went. Local copies are
   * deleted after the offload deletion lag, as for automatic offloads.
   */
  async offload(topic: string): Promise<OffloadStatus> {
    return this.calls.run(async () => {
      const parts = await this.existing(topic);
      const each = await Promise.all(parts.map((p) => p.client.maintain({ offloadNow: true })));
      return mergeOffloadStatus(each);
    });
  }

  /** How the topic's offloads went (Pulsar's OffloadProcessStatus), summed over partitions. */
  async offloadStatus(topic: string): Promise<OffloadStatus> {
    return this.calls.run(async () => {
      const parts = await this.existing(topic);
      return mergeOffloadStatus((await Promise.all(parts.map((p) => p.client.internalStats()))).map((s) => s.offload));
    });
  }

  /**
   * Runs every partition's housekeeping pass now (TTL, backlog quotas, offload by threshold, retention)
   * and resolves when done. The passes also run on their own every `maintenanceIntervalMs`.
   */
  async runMaintenance(topic: string): Promise<void> {
    return this.calls.run(async () => {
      const parts = await this.existing(topic);
      await Promise.all(parts.map((p) => p.client.maintain()));
    });
  }

  /** Pulsar's internalStats: per partition, the ledgers (state, entries, size, offload) and the cursors. */
  async internalStats(topic: string): Promise<Record<string, InternalStats>> {
    return this.calls.run(async () => {
      const parts = await this.existing(topic);
      const out: Record<string, InternalStats> = {};
      for (const p of parts) out[p.name] = await p.client.internalStats();
      return out;
    });
  }

  /**
   * Deletes a topic: every partition's ledgers (locally and in the object store), subscriptions,
   * deduplication state, its metadata and policies. TOPIC_BUSY while producers or consumers are
   * connected, unless `force`: then those clients end with TOPIC_NOT_FOUND, on every thread (sends,
   * acks and reads reject with it; a waiting receive or `for await` over a consumer throws it; a
   * reader first hands out what it had fetched). TOPIC_NOT_FOUND if it does not exist.
   */
  async deleteTopic(topic: string, options: { force?: boolean } = {}): Promise<void> {
    return this.calls.run(async () => {
      const t = parseTopicName(topic);
      if (t.partitionIndex >= 0) throw new MillraceError('TOPIC_NAME_INVALID', `${topic} names a partition; delete the topic ${t.baseName}`);
      const name = t.toString();
      const parts = await this.existing(name);
      const force = options.force === true;
      if (!force) {
        // Check every partition before deleting any, so a busy topic is left whole.
        for (const s of await Promise.all(parts.map((p) => p.client.stats()))) {
          const consumers = Object.values(s.subscriptions).reduce((n, x) => n + x.consumers.length, 0);
          if (s.publishers.length > 0 || consumers > 0) {
            throw new MillraceError('TOPIC_BUSY', `topic ${name} has ${s.publishers.length} producer(s) and ${consumers} consumer(s) connected`);
          }
        }
      }
      for (const p of parts) await p.client.deleteData(force);
      await this.forget(name);
      await this.store.settle(Promise.all([this.store.topics.remove(['topic', name]), this.store.topics.remove(['policies', name])]));
      this.lastSample.delete(name);
      this.log('info', { topic: name, force }, 'topic deleted');
    });
  }

  /** The topic's subscriptions (durable ones, connected or not), sorted. */
  async subscriptions(topic: string): Promise<string[]> {
    return this.calls.run(async () => {
      const names = new Set<string>();
      for (const p of await this.existing(topic)) for (const s of Object.keys((await p.client.stats()).subscriptions)) names.add(s);
      return [...names].sort();
    });
  }

  /**
   * Moves a subscription (Pulsar's reset-cursor) on every partition: to the earliest or latest
   * message, to a message ID (partition of the ID only, others to the earliest) or to the first
   * message published at or after a time. Connected consumers are reset in place, as by a seek.
   */
  async resetSubscription(topic: string, subscription: string, to: 'earliest' | 'latest' | MessageId | number): Promise<void> {
    return this.calls.run(async () => {
      // Anything else was taken for 'earliest': a typo rewound the subscription to its first message.
      if (!(to === 'earliest' || to === 'latest' || to instanceof MessageId || (typeof to === 'number' && Number.isFinite(to)))) {
        throw new MillraceError('INVALID_ARGUMENT', `reset takes 'earliest', 'latest', a MessageId or a publish time in epoch ms, got ${String(to)}`);
      }
      const parts = await this.existing(topic);
      await Promise.all(parts.map((p) => p.client.subscriptionAdmin(
        typeof to === 'number' ? { action: 'reset', subscription, publishTimeMs: to }
          : to === 'earliest' || to === 'latest' ? { action: 'reset', subscription, to }
            : to instanceof MessageId && !to.isEarliest && !to.isLatest
              ? (to.partition === p.partition || parts.length === 1
                ? { action: 'reset', subscription, ledgerId: to.ledgerId, entryId: to.entryId, batchIndex: Math.max(0, to.batchIndex) }
                : { action: 'reset', subscription, to: 'earliest' })
              : { action: 'reset', subscription, to: to instanceof MessageId && to.isLatest ? 'latest' : 'earliest' })));
    });
  }

  /**
   * Skips at least `messages` unacked messages of a subscription on each partition (whole entries,
   * oldest first), or with 'all' its whole backlog (Pulsar's skip and clear-backlog).
   */
  async skipMessages(topic: string, subscription: string, messages: number | 'all'): Promise<void> {
    return this.calls.run(async () => {
      if (messages !== 'all' && (!Number.isSafeInteger(messages) || messages < 1)) {
        throw new MillraceError('INVALID_ARGUMENT', `skip takes a number of messages >= 1 or 'all', got ${String(messages)}`);
      }
      const parts = await this.existing(topic);
      await Promise.all(parts.map((p) => p.client.subscriptionAdmin(messages === 'all' ? { action: 'clear', subscription } : { action: 'skip', subscription, messages })));
    });
  }

  private async existing(topic: string): Promise<{ client: PartitionClient; partition: number; name: string }[]> {
    const name = parseTopicName(topic).toString();
    const base = parseTopicName(name).baseName;
    if (!this.metadata(name) && !this.metadata(parseTopicName(base).toString())) throw new MillraceError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    return this.clients(name);
  }

  /** @internal */
  metadata(name: string): TopicMetadata | undefined {
    this.calls.assertOpen();
    const found = this.store.topics.get(['topic', name]) as TopicMetadata | undefined;
    if (found) return found;
    // lmdb-js keeps this thread's read snapshot until its next tick: a topic another thread (the
    // broker's, or a connected worker) created a moment ago may not be in it yet. Look once more
    // from the latest commit before answering "no such topic".
    this.store.root.resetReadTxn();
    return this.store.topics.get(['topic', name]) as TopicMetadata | undefined;
  }

  /** @internal */
  async recordSchema(name: string, schema: SchemaType): Promise<TopicMetadata> {
    return this.calls.run(async () => {
      const meta = { ...this.metadata(name)!, schema };
      await this.store.settle(this.store.topics.put(['topic', name], meta));
      return meta;
    });
  }

  /**
   * Creates a topic: `partitions` > 0 makes a partitioned topic of that many partitions
   * (`name-partition-i`), 0 a non-partitioned one. TOPIC_EXISTS if it exists.
   */
  async createTopic(topic: string, options: { partitions?: number; schema?: SchemaType } = {}): Promise<void> {
    return this.calls.run(async () => {
      const t = parseTopicName(topic);
      if (t.partitionIndex >= 0) throw new MillraceError('TOPIC_NAME_INVALID', `${topic} names a partition; create the topic ${t.baseName} instead`);
      const partitions = options.partitions ?? 0;
      if (!Number.isInteger(partitions) || partitions < 0 || partitions > MAX_PARTITIONS) {
        throw new MillraceError('INVALID_ARGUMENT', `partitions must be an integer from 0 to ${MAX_PARTITIONS}, got ${String(partitions)}`);
      }
      if (options.schema !== undefined && !isSchemaType(options.schema)) throw new MillraceError('INVALID_ARGUMENT', `schema must be bytes, string, json or msgpack, got ${String(options.schema)}`);
      const name = t.toString();
      const meta: TopicMetadata = { partitions, createdAt: Date.now(), ...(options.schema ? { schema: options.schema } : {}) };
      const created = await this.store.topics.ifNoExists(['topic', name], () => {
        void this.store.topics.put(['topic', name], meta);
      });
      if (!created || this.metadata(name)?.createdAt !== meta.createdAt) {
        const existing = this.metadata(name);
        throw new MillraceError('TOPIC_EXISTS', `topic ${name} exists already with ${existing?.partitions ?? '?'} partitions`);
      }
      await this.store.settle(Promise.resolve(created));
      this.log('info', { topic: name, partitions }, 'topic created');
    });
  }

  /** Topic names, sorted. */
  listTopics(): string[] {
    this.calls.assertOpen();
    const out: string[] = [];
    for (const { key } of this.store.topics.getRange({ start: ['topic'], end: ['topic', '\uffff'] })) {
      if (typeof key[1] === 'string') out.push(key[1]);
    }
    return out.sort();
  }

  /** The partition count of a topic (0: non-partitioned). */
  partitions(topic: string): number {
    const meta = this.metadata(parseTopicName(topic).toString());
    if (!meta) throw new MillraceError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    return meta.partitions;
  }

  /** Statistics of a topic, summed over its partitions (Pulsar's field names). */
  async stats(topic: string): Promise<TopicStats> {
    return this.calls.run(async () => {
      const name = parseTopicName(topic).toString();
      if (!this.metadata(name)) throw new MillraceError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
      const out = sumPartitionStats(await Promise.all((await this.clients(name)).map((p) => p.client.stats())));
      const now = Date.now();
      const prev = this.lastSample.get(name);
      if (prev && now > prev.at) {
        const s = (now - prev.at) / 1000;
        out.msgRateIn = (out.msgInCounter - prev.msgIn) / s;
        out.msgRateOut = (out.msgOutCounter - prev.msgOut) / s;
        out.msgThroughputIn = (out.bytesInCounter - prev.bytesIn) / s;
        out.msgThroughputOut = (out.bytesOutCounter - prev.bytesOut) / s;
      }
      this.lastSample.set(name, { at: now, msgIn: out.msgInCounter, bytesIn: out.bytesInCounter, msgOut: out.msgOutCounter, bytesOut: out.bytesOutCounter });
      return out;
    });
  }
}

/** A topic's statistics from its partitions' (rates left at 0: they need two samples). */
export function sumPartitionStats(parts: readonly PartitionStats[]): TopicStats {
  const out: TopicStats = {
    msgRateIn: 0, msgRateOut: 0, msgThroughputIn: 0, msgThroughputOut: 0,
    msgInCounter: 0, bytesInCounter: 0, msgOutCounter: 0, bytesOutCounter: 0, storageSize: 0, localStorageSize: 0, offloadedStorageSize: 0,
    publishers: [], subscriptions: {},
  };
  const publishers = new Set<string>();
  for (const p of parts) {
    out.msgInCounter += p.msgInCounter;
    out.bytesInCounter += p.bytesInCounter;
    out.msgOutCounter += p.msgOutCounter;
    out.bytesOutCounter += p.bytesOutCounter;
    out.storageSize += p.storageSize;
    out.localStorageSize += p.localStorageSize;
    out.offloadedStorageSize += p.offloadedStorageSize;
    for (const name of p.publishers) publishers.add(name);
    for (const [sub, s] of Object.entries(p.subscriptions)) {
      const agg = out.subscriptions[sub] ??= { type: s.type, msgBacklog: 0, unackedMessages: 0, consumers: [] };
      agg.msgBacklog += s.msgBacklog;
      agg.unackedMessages += s.unackedMessages;
      for (const c of s.consumers) {
        const mine = agg.consumers.find((x) => x.consumerName === c.consumerName);
        if (mine) mine.unackedMessages += c.unackedMessages;
        else agg.consumers.push({ consumerName: c.consumerName, unackedMessages: c.unackedMessages });
      }
    }
  }
  out.publishers = [...publishers].map((producerName) => ({ producerName }));
  return out;
}

/** One status for a topic from its partitions': an error wins, then running, then success. */
function mergeOffloadStatus(parts: OffloadStatus[]): OffloadStatus {
  const offloadedLedgers = parts.reduce((n, p) => n + p.offloadedLedgers, 0);
  const failed = parts.find((p) => p.status === 'ERROR');
  if (failed) return { status: 'ERROR', offloadedLedgers, ...(failed.lastError ? { lastError: failed.lastError } : {}) };
  for (const status of ['RUNNING', 'SUCCESS'] as const) if (parts.some((p) => p.status === status)) return { status, offloadedLedgers };
  return { status: 'NOT_RUN', offloadedLedgers };
}
