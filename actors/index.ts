/** actors: the runtime (partition actors on a piscina pool, SharedArrayBuffer rings) and the client API. */
export { ActorSystem, type ActorSystemOptions, type ActorRef, type BodyWriter, type EventHandler, type ReplyDecoder } from './host/actor-system.js';
export type { Actor, ActorContext, ActorFactory, Reply } from './host/actor.js';
export { PartitionClient } from './client/partition-client.js';
export type { PartitionActorConfig } from './partition/partition-actor.js';
export { RingBuffer, type RingOptions, type RecordHandler } from './ring/index.js';
export { Broker, type BrokerOptions, type BrokerHandle } from './client/broker.js';
export type { IdleStrategy } from './host/idle-strategy.js';
export { Producer, type ProducerOptions, type ProducerMessage, type BatchingOptions } from './client/producer.js';
export { Consumer, type ConsumerOptions } from './client/consumer.js';
export { Reader, type ReaderOptions } from './client/reader.js';
export { Admin, type TopicStats, type TopicMetadata } from './client/admin.js';
export type { OffloadStatus } from './partition/maintenance.js';
export { Metrics, type MetricsSnapshot, type MeterLike } from './client/metrics.js';
export type { InternalStats } from './partition/partition-protocol.js';
export type { Message } from './client/message.js';
