/** actors: the runtime. Partition actors on a piscina pool, SharedArrayBuffer rings between threads. */
export { ActorSystem, type ActorSystemOptions, type ActorRef, type BodyWriter, type EventHandler } from './host/actor-system.js';
export type { Actor, ActorContext, ActorFactory, Reply } from './host/actor.js';
export { PartitionClient } from './client/partition-client.js';
export type { PartitionActorConfig } from './partition/partition-actor.js';
export { RingBuffer, type RingOptions, type RecordHandler } from './ring/index.js';
