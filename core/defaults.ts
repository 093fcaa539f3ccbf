/**
 * Every default and limit of Millrace, in one place. Options objects document these values; the
 * resolve functions beside each options type apply them.
 */
export const DEFAULTS = {
  /**
   * Ledger rollover: 50,000 entries and 240 minutes as Pulsar's managed ledger, but 8 MiB rather
   * than Pulsar's 2 GiB. A ledger is what retention deletes, so consumed data stays on disk (and,
   * read through LMDB's map, resident) until its whole ledger is consumed: with batched entries a
   * 2 GiB ledger let a caught-up 4-partition queue hold 8 GiB. 8 MiB is NATS JetStream's default
   * message block; e2e.queue.shared4's peak resident memory fell 150-170 MB with it, and the other
   * workloads measured the same.
   */
  ledgerMaxEntries: 50_000,
  ledgerMaxBytes: 8 * 2 ** 20,
  ledgerMaxAgeMs: 240 * 60_000,
  /** Largest entry (one producer batch, framed) accepted: Pulsar's 5 MiB max message size. */
  maxEntryBytes: 5 * 2 ** 20,
  /** 32 KiB between sparse index entries: one short scan finds any entry (Redpanda's step). */
  indexIntervalBytes: 32 * 1024,
  /** Entries returned by one readRange call when the caller gives no limit. */
  readMaxEntries: 1_000,
  /** Bytes returned by one readRange call when the caller gives no limit (at least one entry is). */
  readMaxBytes: 4 * 2 ** 20,
  /** Period of a partition's housekeeping pass: TTL, backlog quotas, offload, retention. */
  maintenanceIntervalMs: 5_000,
  /**
   * After an ack or a rollover while a sealed ledger may be consumed: how soon the partition checks
   * whether every subscription is past it, and trims it if retention allows (rather than waiting
   * for the next housekeeping pass).
   */
  trimCheckMs: 50,
  /**
   * How long broker.close() lets producers flush and consumers leave before it shuts the workers,
   * failing what is left with CLOSED: an actor whose worker cannot start would hold it forever.
   * Pulsar's operation timeout.
   */
  closeTimeoutMs: 30_000,
  /** How long an append waits under a producer_request_hold backlog quota (Pulsar's send timeout). */
  backlogQuotaHoldMs: 30_000,
  /**
   * In `durability: 'async'`, how often the broker flushes the LMDB environment to disk: what an OS
   * crash can lose at most (Redis's `appendfsync everysec`).
   */
  asyncSyncIntervalMs: 1_000,
  /** Per-thread cache of offloaded ledger blocks. */
  offloadCacheBytes: 64 * 2 ** 20,
  /**
   * Data bytes of each SharedArrayBuffer ring between a client thread and a host worker: every
   * client thread (the opening one, and each Broker.connect thread) has a request ring and a reply
   * ring per host worker. Traffic cycles a ring through its whole length, so all of it becomes
   * resident: 2 hosts x 2 rings x 4 MiB was 16 MiB per client thread, 80 MiB with four connected
   * consumer threads. At 2 MiB a record may still be 256 KiB (1/8 of the ring), above a default
   * producer batch (128 KiB) and the delivery of an entry made from one, so both stay on the
   * rings whole; only larger batches are cut into fragments (one more copy). Throughput measured the
   * same at 2 and 4 MiB (e2e.publish, e2e.pubsub, e2e.queue).
   */
  ringBytes: 2 * 2 ** 20,
  /**
   * Young generation of each host worker's V8 heap, in MB (the Worker resourceLimits field of that
   * name). Left to V8, every busy thread's young generation grows to 32 MB (two 16 MB semi-spaces)
   * and stays there, idle or not; capped at 16 the two host workers' heaps measured 25-45 MB lower
   * at the peak of e2e.pubsub with the same throughput. 8 saved no more: more objects survive into
   * the old generation instead. A cap of the young generation cannot fail an allocation: only an
   * old-generation limit can, and none is set.
   */
  workerMaxYoungGenerationSizeMb: 16,
  /**
   * A replacement host worker that fails while starting (piscina then starts no other by itself)
   * is started again after this long, doubling per failure in a row up to hostStartRetryMaxMs.
   */
  hostStartRetryMs: 100,
  hostStartRetryMaxMs: 30_000,
  /**
   * What a host worker does when its rings are empty (actors/host/idle-strategy.ts): `adaptive`
   * polls while traffic is recent and a core is spare, one host at a time. At 2,000 msg/s against
   * `park`: async p50 42-56 against 122-146 us, p99 281-509 against 413-758 us, for about 0.8
   * cores more; no change where no core is spare (e2e.pubsub, e2e.queue, e2e.publish).
   */
  idleStrategy: 'adaptive',
} as const;

/**
 * Host worker threads when the caller does not say: one per core but one, which is left to the
 * application's own thread (the one that sends, receives and acks, and that every e2e workload here
 * found to be the bottleneck). On two vCPUs, one host against two, five alternating runs each:
 * e2e.pubsub 777-922k against 679-824k msg/s, e2e.queue 904-935k against 865-911k with peak RSS
 * 347-359 against 367-394 MB (one V8 heap fewer), e2e.latency.2k p99 1.97-2.15 against 2.00-2.49
 * ms, e2e.publish the same (2.01-2.28M against 2.00-2.35M).
 */
export function defaultWorkers(cores: number): number {
  return Math.max(1, cores - 1);
}

/** Hard limits that no option can raise. */
export const LIMITS = {
  /** Ledger positions in the sparse index are u32 (Iggy's 16-byte index entry). */
  ledgerMaxBytes: 2 ** 32 - 1,
  /** LMDB keeps values far larger, but a batch this big would stall every other partition's commit. */
  maxEntryBytes: 64 * 2 ** 20,
} as const;
