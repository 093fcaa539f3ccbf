/**
 * The broker: the public entry point. It opens the data directory, starts the actor system (one
 * partition actor per topic partition, on the worker pool), keeps topic metadata, and makes
 * producers, consumers and readers.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import type { ResourceLimits } from 'node:worker_threads';
import { MillraceError } from '../../core/errors.js';
import { DEFAULTS } from '../../core/defaults.js';
import { Store, type Durability } from '../../core/storage/store.js';
import { lockDataDir, type DataDirLock } from '../../core/storage/data-dir.js';
import { parseTopicName, partitionTopicName } from '../../core/topic/index.js';
import { checkSchemaCompatible, schemaOption, type SchemaType } from '../../core/schema/index.js';
import { SUBSCRIPTION_TYPES } from '../../core/dispatch/index.js';
import { resolveManagedLedgerOptions, type ManagedLedgerOptions } from '../../core/log/index.js';
import { validatePolicies, type TopicPolicies } from '../../core/topic/index.js';
import { createObjectStore, type TieredStorageConfig } from '../../core/offload/object-store.js';
import { isLogger, silentLogger, writeLog, type Logger } from '../../core/observability/logger.js';
import { Metrics, unregisterMeter, type MeterLike } from './metrics.js';
import { ActorSystem, type SystemHandle } from '../host/actor-system.js';
import { watchThreadExits } from '../host/thread-exits.js';
import type { IdleStrategy } from '../host/idle-strategy.js';
import { PartitionClient, type ConsumerSink } from './partition-client.js';
import type { SubscribeRequest } from '../partition/partition-protocol.js';
import { Producer, type ProducerOptions } from './producer.js';
import { Consumer, type ConsumerOptions } from './consumer.js';
import { Reader, type ReaderOptions } from './reader.js';
import { Admin, type TopicMetadata } from './admin.js';
import { durationOption } from './call-options.js';
import { CallTracker } from './call-tracker.js';

// From the moment the client is loaded, the worker threads this thread starts are watched: one that
// is terminated cannot close its consumers itself (see thread-exits.ts).
watchThreadExits();

/** Options of {@link Broker.open}. */
export interface BrokerOptions {
  dataDir: string;
  /** Worker threads hosting partition actors. @default one per core but one, at least one (leaves a core to the application thread) */
  workers?: number;
  /**
   * Bytes of each ring between a client thread and a host worker (a power of two); a record over
   * 1/8 of it goes through in fragments. @default 2 MiB
   */
  ringBytes?: number;
  /**
   * V8 limits of each host worker (Node's Worker `resourceLimits`), over the default young
   * generation of 16 MB. An old-generation limit makes a worker that reaches it die (its partitions
   * restart on another): leave it unset unless memory matters more. @default { maxYoungGenerationSizeMb: 16 }
   */
  workerResourceLimits?: ResourceLimits;
  /**
   * When a send or an ack resolves: `durable` once flushed to disk (survives power loss), `async`
   * once written to the OS (survives a process crash; see {@link Durability}). @default 'durable'
   */
  durability?: Durability;
  /**
   * What a host worker does when its rings are empty (client threads always park). `adaptive`
   * spins (polls its rings) while traffic is recent and a core is spare, one host at a time, else
   * parks; `spin` spins every host while its traffic is recent, whatever else needs the CPU (cores
   * set aside for the broker); `park` never spins, the least CPU. Spinning saves a thread wake-up
   * per request: at 2,000 msg/s in async durability it cut the median publish-to-receive latency
   * to about a third and the p99 by a fifth to a half, for about 0.8 cores more.
   * @default 'adaptive'
   */
  idleStrategy?: IdleStrategy;
  /**
   * With `durability: 'async'`, how often (ms) everything written is flushed to disk in the
   * background: the most an OS crash or power loss can lose. @default 1000
   */
  syncIntervalMs?: number;
  /** Ledger rollover: a ledger is also what retention deletes whole. @default 50,000 entries, 8 MiB, 4 hours */
  ledger?: Pick<ManagedLedgerOptions, 'maxEntries' | 'maxBytes' | 'maxAgeMs'>;
  /**
   * How long `close()` lets producers flush and consumers leave before it stops the workers; what
   * is still pending then fails CLOSED (a partition whose worker cannot start would otherwise hold
   * the close forever). @default 30000
   */
  closeTimeoutMs?: number;
  /** Create topics on first use (non-partitioned), as Pulsar does by default. @default true */
  allowAutoTopicCreation?: boolean;
  /**
   * Where sealed ledgers are offloaded: a directory (`{ driver: 'filesystem', path }`) or S3
   * (`{ driver: 's3', bucket, prefix?, endpoint?, region?, forcePathStyle?, credentials? }`).
   * Absent: nothing is offloaded. Offloads follow each topic's offload policies.
   */
  tieredStorage?: TieredStorageConfig;
  /** The broker-wide default policies, under namespace and topic policies. @default Pulsar's (see DEFAULT_POLICIES) */
  policies?: TopicPolicies;
  /** Period of each partition's housekeeping pass (TTL, backlog quotas, offload, retention). @default 5000 */
  maintenanceIntervalMs?: number;
  /** Bytes of each worker thread's cache of offloaded ledger blocks. @default 64 MiB */
  offloadCacheBytes?: number;
  /**
   * Where the broker logs (pino-compatible: `debug`, `info`, `warn`, `error` taking `(obj, msg)`;
   * a pino logger works as it is). Records of partition actors come from every worker thread.
   * @default silent
   */
  logger?: Logger;
  /**
   * An OpenTelemetry Meter (`metrics.getMeter('millrace')` from `@opentelemetry/api`, an optional
   * peer dependency) to report the broker's metrics to. `broker.metrics.prometheus()` works without it.
   */
  meter?: MeterLike;
}

/** The options a partition actor is spawned with that come from the broker's. */
const ACTOR_OPTIONS = ['ledger', 'tieredStorage', 'policies', 'maintenanceIntervalMs', 'offloadCacheBytes'] as const;
type ActorOptions = Pick<BrokerOptions, typeof ACTOR_OPTIONS[number]>;

function actorOptions(o: ActorOptions): ActorOptions {
  const out: Record<string, unknown> = {};
  for (const k of ACTOR_OPTIONS) if (o[k] !== undefined) out[k] = o[k];
  return out as ActorOptions;
}

/**
 * What `broker.handle()` returns: plain data and SharedArrayBuffers, so it can be posted to a worker
 * thread of the same process as it is (no transfer list), where `Broker.connect(handle)` opens the
 * same API over that thread's own rings.
 */
export interface BrokerHandle {
  readonly kind: 'millrace.broker';
  readonly version: 1;
  readonly dataDir: string;
  readonly durability: Durability;
  readonly allowAutoTopicCreation: boolean;
  readonly ledger?: BrokerOptions['ledger'];
  readonly tieredStorage?: TieredStorageConfig;
  readonly policies?: TopicPolicies;
  readonly maintenanceIntervalMs?: number;
  readonly offloadCacheBytes?: number;
  readonly system: SystemHandle;
}

const randomName = (): string => randomBytes(6).toString('hex');
// After a restart, a consumer's re-subscribe can find the actor's host dying again: try again.
const RESUBSCRIBE_RETRY_MS = 20;
const RESUBSCRIBE_ATTEMPTS = 500;

export class Broker implements AsyncDisposable {
  /** Topic administration and statistics. */
  readonly admin: Admin;
  /** Metrics of the loaded topics: `collect()`, `prometheus()` (text exposition format). */
  readonly metrics: Metrics;
  private readonly partitions = new Map<string, Promise<PartitionClient>>();
  private nextConsumerId = 1;
  private nextProducerId = 1;
  private readonly closables = new Set<{ close(): Promise<void> }>();
  /** Opening calls running now (see {@link opening}): close() lets them end before it closes the store. */
  private readonly opens = new CallTracker('the broker is closed');
  private closed = false;

  private constructor(private readonly store: Store, private readonly system: ActorSystem, private readonly options: BrokerOptions,
    /** The data directory's process lock, held by the broker that opened it (not by connected ones). */
    private readonly lock?: DataDirLock) {
    this.admin = new Admin(store, (name) => this.partitionClients(name), (key) => this.loadedPartitions(key), options.policies,
      (topic) => this.forgetTopic(topic), (level, obj, msg) => this.log(level, obj, msg));
    this.metrics = new Metrics(async () => {
      const out = [];
      for (const [name, client] of [...this.partitions]) {
        try {
          out.push({ topic: parseTopicName(parseTopicName(name).baseName).toString(), stats: await (await client).stats() });
        } catch {
          // a partition restarting or deleted right now: its figures come with the next collection
        }
      }
      return out;
    });
    if (options.meter) this.metrics.registerWith(options.meter);
  }

  /**
   * Connects, from another worker thread of this process, to the broker whose `handle()` was posted
   * here: the same API (producers, consumers, readers, admin) over this thread's own rings. Topic
   * metadata is read from the data directory; actors are spawned and placed by the broker's thread.
   * `close()` detaches this thread only; the broker itself closes on its own thread.
   */
  static async connect(handle: BrokerHandle): Promise<Broker> {
    if (handle === null || typeof handle !== 'object' || handle.kind !== 'millrace.broker' || handle.version !== 1) {
      throw new MillraceError('INVALID_ARGUMENT', 'Broker.connect takes the value broker.handle() returned, posted to this thread as it is');
    }
    const store = Store.open(handle.dataDir, { durability: handle.durability });
    let system: ActorSystem;
    try {
      system = await ActorSystem.connect(handle.system);
    } catch (err) {
      await store.close();
      throw err;
    }
    const broker = new Broker(store, system, {
      dataDir: handle.dataDir, durability: handle.durability, allowAutoTopicCreation: handle.allowAutoTopicCreation,
      ...actorOptions(handle),
    });
    // The opening thread closed the broker: close this thread's producers, consumers and readers
    // too, or a receive waiting without a timeout (a for await loop) waited forever.
    system.onShutdown(() => void broker.close().catch(() => undefined));
    return broker;
  }

  /**
   * A value to post to a worker thread of this process (as it is: plain data and SharedArrayBuffers,
   * no transfer list) for `Broker.connect` there. A connected broker returns the handle it joined by.
   */
  handle(): BrokerHandle {
    this.assertOpen();
    return {
      kind: 'millrace.broker', version: 1, dataDir: this.store.dataDir, durability: this.store.durability,
      allowAutoTopicCreation: this.options.allowAutoTopicCreation !== false,
      ...structuredClone(actorOptions(this.options)),
      system: this.system.handle(),
    };
  }

  /**
   * @internal Test hooks: kill a host worker (supervision tests) and find which hosts a topic's
   * partitions are on. Not part of the API; only on the thread that opened the broker.
   */
  get testHooks(): { crashHost(index: number, how?: 'exit' | 'throw'): void; hostsOf(topic: string): Promise<number[]>; workers: number } {
    return {
      crashHost: (index, how) => this.system.crashHost(index, how),
      hostsOf: async (topic) => (await this.partitionClients(topic)).map((p) => this.system.hostOf(p.client.ref)),
      workers: this.system.workers,
    };
  }

  /** Opens the data directory (creating it when new) and starts the worker pool. */
  static async open(options: BrokerOptions): Promise<Broker> {
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'Broker.open takes { dataDir, ... }');
    if (options.policies !== undefined) validatePolicies(options.policies);
    if (options.logger !== undefined && !isLogger(options.logger)) throw new MillraceError('INVALID_ARGUMENT', 'logger must have debug, info, warn and error methods (pino-compatible)');
    if (options.meter !== undefined && (typeof options.meter !== 'object' || options.meter === null || typeof options.meter.addBatchObservableCallback !== 'function')) {
      throw new MillraceError('INVALID_ARGUMENT', 'meter must be an OpenTelemetry Meter (metrics.getMeter(name) from @opentelemetry/api)');
    }
    durationOption(options.closeTimeoutMs, 'closeTimeoutMs');
    // Checked at open, not at each partition's first use (where every topic would then fail).
    if (options.ledger !== undefined && (options.ledger === null || typeof options.ledger !== 'object')) {
      throw new MillraceError('INVALID_ARGUMENT', 'ledger must be { maxEntries?, maxBytes?, maxAgeMs? }');
    }
    resolveManagedLedgerOptions(options.ledger);
    if (options.maintenanceIntervalMs !== undefined && (!Number.isInteger(options.maintenanceIntervalMs) || options.maintenanceIntervalMs < 10)) {
      throw new MillraceError('INVALID_ARGUMENT', `maintenanceIntervalMs must be an integer >= 10, got ${String(options.maintenanceIntervalMs)}`);
    }
    if (options.offloadCacheBytes !== undefined && (!Number.isInteger(options.offloadCacheBytes) || options.offloadCacheBytes < 0)) {
      throw new MillraceError('INVALID_ARGUMENT', `offloadCacheBytes must be an integer >= 0, got ${String(options.offloadCacheBytes)}`);
    }
    const ts = options.tieredStorage;
    const fsStore = ts !== undefined && ts !== null && ts.driver === 'filesystem' && typeof ts.path === 'string';
    // Checked here so a bad configuration fails open, not every partition's first offload. (A
    // filesystem store is checked after the data dir: its directory is created, and a refused data
    // dir must leave nothing behind.)
    if (ts !== undefined && !fsStore) await createObjectStore(ts).close();
    // One process per data directory: a second broker's recovery would seal this one's open ledgers.
    const lock = lockDataDir(options.dataDir);
    if (fsStore) {
      try {
        // The embedded default is a directory beside the data: create it (the store itself refuses
        // a missing root, so an unmounted share never fills the local disk unnoticed once running).
        mkdirSync(ts.path, { recursive: true });
        await createObjectStore(ts).close();
      } catch (err) {
        lock.release();
        throw err;
      }
    }
    let store: Store;
    try {
      store = Store.open(options.dataDir, {
        ...(options.durability === undefined ? {} : { durability: options.durability }),
        syncIntervalMs: options.syncIntervalMs ?? DEFAULTS.asyncSyncIntervalMs,
        onSyncError: (err) => writeLog(options.logger ?? silentLogger, 'error', { err: err.message, cause: String(err.cause) }, 'background flush of the data dir failed; recent async writes may not survive an OS crash'),
      });
    } catch (err) {
      lock.release();
      throw err;
    }
    let system: ActorSystem;
    try {
      system = await ActorSystem.open({
        dataDir: options.dataDir, ...(options.workers === undefined ? {} : { workers: options.workers }), durability: store.durability,
        ...(options.logger ? { logger: options.logger } : {}),
        ...(options.ringBytes === undefined ? {} : { ringBytes: options.ringBytes }),
        ...(options.idleStrategy === undefined ? {} : { idleStrategy: options.idleStrategy }),
        ...(options.workerResourceLimits === undefined ? {} : { workerResourceLimits: options.workerResourceLimits }),
      });
    } catch (err) {
      await store.close();
      lock.release();
      throw err;
    }
    const broker = new Broker(store, system, options, lock);
    broker.log('info', { dataDir: store.dataDir, workers: system.workers, durability: store.durability, tieredStorage: options.tieredStorage?.driver ?? null }, 'broker open');
    return broker;
  }

  /** @internal Writes to the broker's logger (silent unless one was given). */
  log(level: 'debug' | 'info' | 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    writeLog(this.options.logger ?? silentLogger, level, obj, msg);
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
      const base = t.partitionIndex >= 0 ? this.admin.metadata(t.baseName) : undefined;
      if (base) {
        // One partition of a partitioned topic, addressed by its own name. Past the partition count
        // it used to start a partition of its own that no consumer of the topic ever read.
        if (t.partitionIndex >= base.partitions) {
          throw new MillraceError('TOPIC_NOT_FOUND', `${name} does not exist: ${t.baseName} has ${base.partitions} partition(s)`);
        }
        if (schema !== undefined) {
          if (base.schema === undefined) await this.admin.recordSchema(t.baseName, schema);
          else checkSchemaCompatible(base.schema, schema);
        }
        return { name, meta: { partitions: 0, schema: this.admin.metadata(t.baseName)!.schema, createdAt: base.createdAt } };
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
      const config = { partitionIndex, ...actorOptions(this.options) };
      p = PartitionClient.spawn(this.system, name, config);
      p.catch(() => this.partitions.delete(name));
      this.partitions.set(name, p);
    }
    return p;
  }

  private async forgetTopic(topic: string): Promise<void> {
    for (const [name, client] of [...this.partitions]) {
      const t = parseTopicName(name);
      if (name !== topic && parseTopicName(t.baseName).toString() !== topic) continue;
      this.partitions.delete(name);
      await this.system.despawn((await client).ref, new MillraceError('TOPIC_NOT_FOUND', `${name} was deleted`)).catch(() => undefined);
    }
  }

  private async loadedPartitions(key: string): Promise<PartitionClient[]> {
    const out: Promise<PartitionClient>[] = [];
    for (const [name, client] of this.partitions) {
      const t = parseTopicName(name);
      if (key === t.namespaceName || key === parseTopicName(t.baseName).toString() || key === name) out.push(client);
    }
    return (await Promise.allSettled(out)).flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
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

  /**
   * Runs an opening call (createProducer, subscribe, createReader) so that close() waits for it:
   * between its awaits it reads topic metadata from the store, which close() shuts. A subscribe
   * racing close() failed inside lmdb-js (not with CLOSED), and lmdb-js's read-transaction timer
   * threw afterwards, out of a timer callback, which ended the process. What such a call opens
   * once close() has begun is closed again, and the call fails CLOSED.
   */
  private async opening<R extends { close(): Promise<void> }>(open: () => Promise<R>): Promise<R> {
    this.assertOpen();
    const opened = await this.opens.run(open);
    if (this.closed) {
      await opened.close().catch(() => undefined);
      throw new MillraceError('CLOSED', 'the broker closed while this call ran');
    }
    return opened;
  }

  /** Creates a producer. A named producer resumes its sequence IDs after the last persisted one. */
  async createProducer<T = Uint8Array>(options: ProducerOptions<T>): Promise<Producer<T>> {
    return this.opening(() => this.openProducer(options));
  }

  private async openProducer<T>(options: ProducerOptions<T>): Promise<Producer<T>> {
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'createProducer takes { topic, ... }');
    const schema = schemaOption(options.schema);
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
    // A restarted partition actor forgot who produces to it: register again (its deduplication
    // state is durable, so the producer's resends stay exactly-once either way).
    const offs = parts.map((p) => this.system.onRestart(p.client.ref, () => {
      void p.client.producerOpen(name, producerId).catch(() => undefined);
    }));
    const producer: Producer<T> = new Producer<T>(topic, name, parts.map((p) => p.client), last, meta.partitions > 0, options, async () => {
      this.closables.delete(producer);
      for (const off of offs) off();
      await Promise.all(parts.map((p) => p.client.producerClose(name, producerId).catch(() => undefined)));
    });
    this.closables.add(producer);
    return producer;
  }

  /** Subscribes: one consumer on every partition of the topic. */
  async subscribe<T = Uint8Array>(options: ConsumerOptions<T>): Promise<Consumer<T>> {
    return this.opening(() => this.openConsumer(options));
  }

  private async openConsumer<T>(options: ConsumerOptions<T>): Promise<Consumer<T>> {
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'subscribe takes { topic, subscription, ... }');
    if (typeof options.subscription !== 'string' || options.subscription.length === 0 || options.subscription.length > 256) {
      throw new MillraceError('INVALID_ARGUMENT', 'subscription must be a name of 1 to 256 characters');
    }
    const type = options.type ?? 'exclusive';
    if (!SUBSCRIPTION_TYPES.includes(type)) throw new MillraceError('INVALID_ARGUMENT', `type must be one of ${SUBSCRIPTION_TYPES.join(', ')}, got ${String(type)}`);
    const rq = options.receiverQueueSize ?? 1000;
    if (!Number.isInteger(rq) || rq < 0) throw new MillraceError('INVALID_ARGUMENT', `receiverQueueSize must be an integer >= 0, got ${String(rq)}`);
    // Checked before anything is opened: a negative or non-number delay was accepted and read as
    // "no ack timeout" or as "redeliver at once".
    durationOption(options.ackTimeoutMs, 'ackTimeoutMs');
    durationOption(options.nackRedeliveryDelayMs, 'nackRedeliveryDelayMs');
    durationOption(options.nackBackoff?.maxDelayMs, 'nackBackoff.maxDelayMs');
    if (options.nackBackoff !== undefined && (options.nackBackoff === null || typeof options.nackBackoff !== 'object' || options.nackBackoff.maxDelayMs === undefined)) {
      throw new MillraceError('INVALID_ARGUMENT', 'nackBackoff must be { maxDelayMs }');
    }
    const schema = schemaOption(options.schema);
    const { name: topic } = await this.metadata(options.topic, schema.type);
    const parts = await this.partitionClients(topic);
    // As in Pulsar: one permit at a time cannot be shared out over partitions without reading one
    // of them ahead of the others.
    if (rq === 0 && parts.length > 1) {
      throw new MillraceError('INVALID_ARGUMENT', `receiverQueueSize 0 (a zero-queue consumer) needs a topic of one partition; ${topic} has ${parts.length}`);
    }
    const consumerId = this.nextConsumerId++;
    const consumerName = options.consumerName ?? `consumer-${randomName()}`;
    let dlqProducer: Promise<Producer<Uint8Array>> | undefined;
    const dl = options.deadLetter;
    if (dl && (!Number.isInteger(dl.maxRedeliverCount) || dl.maxRedeliverCount < 1)) {
      throw new MillraceError('INVALID_ARGUMENT', `deadLetter.maxRedeliverCount must be an integer >= 1, got ${String(dl.maxRedeliverCount)}`);
    }
    const dlqTopic = dl ? dl.topic ?? `${topic}-${options.subscription}-DLQ` : undefined;
    if (dlqTopic !== undefined) {
      // Checked now: a name that cannot be a topic (given, or made from a subscription name with a
      // space or a '/') failed each dead-lettering, and the message was nacked and redelivered forever.
      try {
        parseTopicName(dlqTopic);
      } catch (err) {
        throw new MillraceError('TOPIC_NAME_INVALID', `the dead-letter topic ${JSON.stringify(dlqTopic)} is not a valid topic name (set deadLetter.topic): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    let consumerClosed = false;
    const restartOffs: (() => void)[] = [];
    const consumer: Consumer<T> = new Consumer<T>(topic, options.subscription, options, {
      parts: parts.map((p) => ({ client: p.client, partition: p.partition })),
      consumerId,
      consumerName,
      ...(dl ? {
        deadLetterSend: async (m) => {
          dlqProducer ??= this.createProducer({ topic: dlqTopic!, name: `${options.subscription}-${consumerName}-dlq` });
          return (await dlqProducer).send(m);
        },
      } : {}),
      onClose: () => {
        consumerClosed = true;
        for (const off of restartOffs.splice(0)) off();
        this.closables.delete(consumer);
        void dlqProducer?.then((p) => p.close()).catch(() => undefined);
      },
    });
    const requests: SubscribeRequest[] = parts.map((p) => ({
      consumerId, subscription: options.subscription, type, initialPosition: options.initialPosition ?? 'latest',
      consumerName, priority: options.priority ?? 0, partitionIndex: p.partition,
    }));
    const sinks = parts.map((_, i) => consumer.sink(i));
    const subscribed: PartitionClient[] = [];
    try {
      for (let i = 0; i < parts.length; i++) {
        await parts[i]!.client.subscribe(requests[i]!, sinks[i]!);
        subscribed.push(parts[i]!.client);
      }
    } catch (err) {
      await Promise.all(subscribed.map((c) => c.closeConsumer(consumerId, false).catch(() => undefined)));
      throw err;
    }
    // Supervision: a partition actor restarted after its worker died (or moved) has lost its
    // consumers. Subscribe again with the same sink, then reset that partition's part of the
    // consumer (a seek's reset): what it buffered but the application had not taken is dropped and
    // its unacked messages are forgotten; then fresh permits are granted (FLOW). The restarted actor
    // redelivers every unacked message from the durable cursor: at-least-once. A message the
    // application held unacked at the crash comes again (its redelivery count unchanged, or +1 when
    // the count was raised before the crash); acking the old copy fails with ACK_INVALID, the new
    // copy acks. Acked messages (their ack resolved: durable) never come again.
    const epochs = parts.map(() => 0);
    parts.forEach((p, i) => restartOffs.push(this.system.onRestart(p.client.ref, () => {
      // A newer restart supersedes a re-subscribe still retrying from an earlier one.
      const epoch = ++epochs[i]!;
      void this.resubscribe(p.client, requests[i]!, sinks[i]!, () => consumerClosed || epochs[i] !== epoch);
    })));
    await consumer.start();
    this.closables.add(consumer);
    return consumer;
  }

  private async resubscribe(client: PartitionClient, req: SubscribeRequest, sink: ConsumerSink, closed: () => boolean): Promise<void> {
    for (let attempt = 0; attempt < RESUBSCRIBE_ATTEMPTS && !closed() && !this.closed; attempt++) {
      try {
        // Reset first: its FLOW reaches the actor before the SUBSCRIBE and is ignored there; a
        // reset after the SUBSCRIBE could drop messages the actor already handed this consumer,
        // and those would never come again while the consumer stays connected.
        sink.reset();
        await client.subscribe(req, sink);
        if (closed()) {
          await client.closeConsumer(req.consumerId, false).catch(() => undefined);
          return;
        }
        await sink.regrant();
        return;
      } catch (err) {
        const retriable = err instanceof MillraceError && (err.code === 'WORKER_DIED' || err.code === 'ACTOR_NOT_FOUND');
        if (!retriable) return;
        await new Promise((r) => setTimeout(r, RESUBSCRIBE_RETRY_MS));
      }
    }
  }

  /** Creates a non-durable reader. */
  async createReader<T = Uint8Array>(options: ReaderOptions<T>): Promise<Reader<T>> {
    return this.opening(() => this.openReader(options));
  }

  private async openReader<T>(options: ReaderOptions<T>): Promise<Reader<T>> {
    if (options === null || typeof options !== 'object') throw new MillraceError('INVALID_ARGUMENT', 'createReader takes { topic, ... }');
    const schema = schemaOption(options.schema);
    const { name: topic } = await this.metadata(options.topic, schema.type);
    const parts = await this.partitionClients(topic);
    const reader = await Reader.create<T>(topic, parts.map((p) => ({ client: p.client, partition: p.partition })), options);
    this.closables.add(reader);
    return reader;
  }

  /**
   * Closes producers (flushing them), consumers and readers, then the workers and LMDB. Idempotent.
   * On a connected thread it closes this thread's producers, consumers and readers and detaches.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = Promise.all([...this.closables].map((c) => c.close().catch(() => undefined)));
    // Bounded: a producer flushing to a partition whose worker cannot start waits for it forever.
    // The actor system's close fails what is still pending (CLOSED), which ends these closes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closing, new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.options.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs);
    })]);
    clearTimeout(timer);
    await this.system.close();
    await closing;
    // Calls still running (the closed system ends their requests) read the store until they end.
    await Promise.all([this.opens.close(), this.admin.closeCalls()]);
    await this.store.close();
    this.lock?.release();
    if (this.options.meter) unregisterMeter();
    this.log('info', { dataDir: this.store.dataDir }, 'broker closed');
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
