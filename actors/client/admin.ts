/**
 * Topic administration: topic metadata (partition count, schema) kept in LMDB beside the log, and
 * statistics with Pulsar's field names, gathered from every partition actor.
 */
import { MillraceError } from '../../core/errors.js';
import type { Store } from '../../core/storage/store.js';
import { parseTopicName } from '../../core/topic/index.js';
import { isSchemaType, type SchemaType } from '../../core/schema/index.js';
import type { PartitionClient } from './partition-client.js';
import type { PartitionStats } from '../partition/partition-protocol.js';

/** What the broker stores per topic. */
export interface TopicMetadata {
  /** 0 for a non-partitioned topic. */
  partitions: number;
  schema?: SchemaType;
  createdAt: number;
}

/** `admin.stats(topic)`: Pulsar's TopicStats fields. Rates are per second since the previous call. */
export interface TopicStats {
  msgRateIn: number;
  msgRateOut: number;
  msgThroughputIn: number;
  msgThroughputOut: number;
  msgInCounter: number;
  bytesInCounter: number;
  msgOutCounter: number;
  bytesOutCounter: number;
  storageSize: number;
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

  /** @internal */
  constructor(private readonly store: Store, private readonly clients: (topic: string) => Promise<{ client: PartitionClient; partition: number; name: string }[]>) {}

  /** @internal */
  metadata(name: string): TopicMetadata | undefined {
    return this.store.topics.get(['topic', name]) as TopicMetadata | undefined;
  }

  /** @internal */
  async recordSchema(name: string, schema: SchemaType): Promise<TopicMetadata> {
    const meta = { ...this.metadata(name)!, schema };
    await this.store.settle(this.store.topics.put(['topic', name], meta));
    return meta;
  }

  /**
   * Creates a topic: `partitions` > 0 makes a partitioned topic of that many partitions
   * (`name-partition-i`), 0 a non-partitioned one. TOPIC_EXISTS if it exists.
   */
  async createTopic(topic: string, options: { partitions?: number; schema?: SchemaType } = {}): Promise<void> {
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
  }

  /** Topic names, sorted. */
  listTopics(): string[] {
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
    const name = parseTopicName(topic).toString();
    if (!this.metadata(name)) throw new MillraceError('TOPIC_NOT_FOUND', `topic ${topic} does not exist`);
    const parts: PartitionStats[] = await Promise.all((await this.clients(name)).map((p) => p.client.stats()));
    const out: TopicStats = {
      msgRateIn: 0, msgRateOut: 0, msgThroughputIn: 0, msgThroughputOut: 0,
      msgInCounter: 0, bytesInCounter: 0, msgOutCounter: 0, bytesOutCounter: 0, storageSize: 0, publishers: [], subscriptions: {},
    };
    const publishers = new Set<string>();
    for (const p of parts) {
      out.msgInCounter += p.msgInCounter;
      out.bytesInCounter += p.bytesInCounter;
      out.msgOutCounter += p.msgOutCounter;
      out.bytesOutCounter += p.bytesOutCounter;
      out.storageSize += p.storageSize;
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
  }
}
