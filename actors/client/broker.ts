/**
 * The broker: the public entry point. It opens the data directory, starts the actor system (one
 * partition actor per topic partition, on the worker pool), keeps topic metadata, and makes
 * producers, consumers and readers.
 */
import { randomBytes } from 'node:crypto';
import { MillraceError } from '../../core/errors.js';
import { Store, type Durability } from '../../core/storage/store.js';
import { parseTopicName, partitionTopicName } from '../../core/topic/index.js';
import { checkSchemaCompatible, Schemas, type Schema, type SchemaType } from '../../core/schema/index.js';
import { SUBSCRIPTION_TYPES } from '../../core/dispatch/index.js';
import type { ManagedLedgerOptions } from '../../core/log/index.js';
import { ActorSystem } from '../host/actor-system.js';
import { PartitionClient } from './partition-client.js';
import { Producer, type ProducerOptions } from './producer.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { Reader, type ReaderOptions } from './reader.js';
import { Admin, type TopicMetadata } from './admin.js';

/** Options of {@link Broker.open}. */
export interface BrokerOptions {
  dataDir: string;
  /** Worker threads hosting partition actors. @default the number of cores */
  workers?: number;
  /** @default 'durable' */
  durability?: Durability;
  /** Ledger rollover. @default Pulsar's: 50,000 entries, 2 GiB, 4 hours */
  ledger?: Pick<ManagedLedgerOptions, 'maxEntries' | 'maxBytes' | 'maxAgeMs'>;
  /** Create topics on first use (non-partitioned), as Pulsar does by default. @default true */
  allowAutoTopicCreation?: boolean;
}

const randomName = (): string => randomBytes(6).toString('hex');

export class Broker implements AsyncDisposable {
  /** Topic administration and statistics. */
  readonly admin: Admin;
  private readonly partitions = new Map<string, Promise<PartitionClient>>();
  private nextConsumerId = 1;
  private nextProducerId = 1;
  private readonly closables = new Set<{ close(): Promise<void> }>();
  private closed = false;

  private constructor(private readonly store: Store, private readonly system: ActorSystem, private readonly options: BrokerOptions) {
    this.admin = new Admin(store, (name) => this.partitionClients(name));
  }

  /** Opens the data directory (creating it when new) and starts the worker pool. */
  static async open(options: BrokerOptions): Promise<Broker> {
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'Broker.open takes { dataDir, ... }');
    const store = Store.open(options.dataDir, options.durability === undefined ? {} : { durability: options.durability });
    let system: ActorSystem;
    try {
      system = await ActorSystem.open({ dataDir: options.dataDir, ...(options.workers === undefined ? {} : { workers: options.workers }), durability: store.durability });
    } catch (err) {
      await store.close();
      throw err;
    }
    return new Broker(store, system, options);
  }

  private assertOpen(): void {
    if (this.closed) throw new MillraceError('CLOSED', 'the broker is closed');
  }

  /** The topic's metadata, auto-creating a non-partitioned topic when allowed. */
  private async metadata(topic: string, schema: SchemaType | undefined): Promise<{ name: string; meta: TopicMetadata }> {
    const t = parseTopicName(topic);
    const name = t.toString();
    let meta = this.admin.metadata(name);
    if (!meta) {
      if (t.partitionIndex >= 0 && this.admin.metadata(t.baseName)) {
        meta = { partitions: 0, schema: this.admin.metadata(t.baseName)!.schema, createdAt: Date.now() };
        return { name, meta };
      }
      if (this.options.allowAutoTopicCreation === false) throw new MillraceError('TOPIC_NOT_FOUND', `topic ${name} does not exist and auto-creation is off`);
      await this.admin.createTopic(name, { partitions: 0 }).catch((e: unknown) => {
        if (!(e instanceof MillraceError && e.code === 'TOPIC_EXISTS')) throw e;
      });
      meta = this.admin.metadata(name)!;
    }
    if (schema !== undefined) {
      if (meta.schema === undefined) meta = await this.admin.recordSchema(name, schema);
      else checkSchemaCompatible(meta.schema, schema);
    }
    return { name, meta };
  }

  private partitionClient(name: string, partitionIndex: number): Promise<PartitionClient> {
    let p = this.partitions.get(name);
    if (!p) {
      const config = { partitionIndex, ...(this.options.ledger ? { ledger: this.options.ledger } : {}) };
      p = PartitionClient.spawn(this.system, name, config);
      p.catch(() => this.partitions.delete(name));
      this.partitions.set(name, p);
    }
    return p;
  }

  private async partitionClients(topic: string): Promise<{ client: PartitionClient; partition: number; name: string }[]> {
    const { name, meta } = await this.metadata(topic, undefined);
    if (meta.partitions === 0) {
      const idx = parseTopicName(name).partitionIndex;
      return [{ client: await this.partitionClient(name, idx), partition: idx, name }];
    }
    return Promise.all(Array.from({ length: meta.partitions }, async (_, i) => {
      const pn = partitionTopicName(name, i);
      return { client: await this.partitionClient(pn, i), partition: i, name: pn };
    }));
  }

  /** Creates a producer. A named producer resumes its sequence IDs after the last persisted one. */
  async createProducer<T = Uint8Array>(options: ProducerOptions<T>): Promise<Producer<T>> {
    this.assertOpen();
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'createProducer takes { topic, ... }');
    const schema = options.schema ?? (Schemas.bytes as unknown as Schema<T>);
    const { name: topic, meta } = await this.metadata(options.topic, schema.type);
    const parts = await this.partitionClients(topic);
    const name = options.name ?? `producer-${randomName()}`;
    if (typeof name !== 'string' || name.length === 0 || name.length > 256) throw new MillraceError('INVALID_ARGUMENT', 'a producer name is a string of 1 to 256 characters');
    const producerId = this.nextProducerId++;
    const opened: PartitionClient[] = [];
    let last = -1;
    try {
      for (const p of parts) {
        last = Math.max(last, await p.client.producerOpen(name, producerId));
        opened.push(p.client);
      }
    } catch (err) {
      await Promise.all(opened.map((c) => c.producerClose(name, producerId).catch(() => undefined)));
      throw err;
    }
    const producer: Producer<T> = new Producer<T>(topic, name, parts.map((p) => p.client), last, meta.partitions > 0, options, async () => {
      this.closables.delete(producer);
      await Promise.all(parts.map((p) => p.client.producerClose(name, producerId).catch(() => undefined)));
    });
    this.closables.add(producer);
    return producer;
  }

  /** Subscribes: one consumer on every partition of the topic. */
  async subscribe<T = Uint8Array>(options: ConsumerOptions<T>): Promise<Consumer<T>> {
    this.assertOpen();
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'subscribe takes { topic, subscription, ... }');
    if (typeof options.subscription !== 'string' || options.subscription.length === 0 || options.subscription.length > 256) {
      throw new MillraceError('INVALID_ARGUMENT', 'subscription must be a name of 1 to 256 characters');
    }
    const type = options.type ?? 'exclusive';
    if (!SUBSCRIPTION_TYPES.includes(type)) throw new MillraceError('INVALID_ARGUMENT', `type must be one of ${SUBSCRIPTION_TYPES.join(', ')}, got ${String(type)}`);
    const rq = options.receiverQueueSize ?? 1000;
    if (!Number.isInteger(rq) || rq < 1) throw new MillraceError('INVALID_ARGUMENT', `receiverQueueSize must be an integer >= 1, got ${String(rq)}`);
    const schema = options.schema ?? (Schemas.bytes as unknown as Schema<T>);
    const { name: topic } = await this.metadata(options.topic, schema.type);
    const parts = await this.partitionClients(topic);
    const consumerId = this.nextConsumerId++;
    const consumerName = options.consumerName ?? `consumer-${randomName()}`;
    let dlqProducer: Promise<Producer<Uint8Array>> | undefined;
    const dl = options.deadLetter;
    if (dl && (!Number.isInteger(dl.maxRedeliverCount) || dl.maxRedeliverCount < 1)) {
      throw new MillraceError('INVALID_ARGUMENT', `deadLetter.maxRedeliverCount must be an integer >= 1, got ${String(dl.maxRedeliverCount)}`);
    }
    const consumer: Consumer<T> = new Consumer<T>(topic, options.subscription, options, {
      parts: parts.map((p) => ({ client: p.client, partition: p.partition })),
      consumerId,
      consumerName,
      ...(dl ? {
        deadLetterSend: async (m) => {
          dlqProducer ??= this.createProducer({ topic: dl.topic ?? `${topic}-${options.subscription}-DLQ`, name: `${options.subscription}-${consumerName}-dlq` });
          return (await dlqProducer).send(m);
        },
      } : {}),
      onClose: () => {
        this.closables.delete(consumer);
        void dlqProducer?.then((p) => p.close()).catch(() => undefined);
      },
    });
    const subscribed: PartitionClient[] = [];
    try {
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i]!;
        await p.client.subscribe({
          consumerId, subscription: options.subscription, type, initialPosition: options.initialPosition ?? 'latest',
          consumerName, priority: options.priority ?? 0, partitionIndex: p.partition,
        }, consumer.sink(i));
        subscribed.push(p.client);
      }
    } catch (err) {
      await Promise.all(subscribed.map((c) => c.closeConsumer(consumerId, false).catch(() => undefined)));
      throw err;
    }
    await consumer.start();
    this.closables.add(consumer);
    return consumer;
  }

  /** Creates a non-durable reader. */
  async createReader<T = Uint8Array>(options: ReaderOptions<T>): Promise<Reader<T>> {
    this.assertOpen();
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'createReader takes { topic, ... }');
    const schema = options.schema ?? (Schemas.bytes as unknown as Schema<T>);
    const { name: topic } = await this.metadata(options.topic, schema.type);
    const parts = await this.partitionClients(topic);
    const reader = await Reader.create<T>(topic, parts.map((p) => ({ client: p.client, partition: p.partition })), options);
    this.closables.add(reader);
    return reader;
  }

  /** Closes producers (flushing them), consumers and readers, then the workers and LMDB. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.closables].map((c) => c.close().catch(() => undefined)));
    await this.system.close();
    await this.store.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
