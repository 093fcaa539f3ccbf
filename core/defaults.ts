/**
 * Every default and limit of Millrace, in one place. Options objects document these values; the
 * resolve functions beside each options type apply them.
 */
export const DEFAULTS = {
  /** Ledger rollover, as Pulsar's managed ledger: 50,000 entries, 2 GiB, 240 minutes. */
  ledgerMaxEntries: 50_000,
  ledgerMaxBytes: 2 * 2 ** 30,
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
  /** How long an append waits under a producer_request_hold backlog quota (Pulsar's send timeout). */
  backlogQuotaHoldMs: 30_000,
  /**
   * In `durability: 'async'`, how often the broker flushes the LMDB environment to disk: what an OS
   * crash can lose at most (Redis's `appendfsync everysec`).
   */
  asyncSyncIntervalMs: 1_000,
  /** Per-thread cache of offloaded ledger blocks. */
  offloadCacheBytes: 64 * 2 ** 20,
} as const;

/** Hard limits that no option can raise. */
export const LIMITS = {
  /** Ledger positions in the sparse index are u32 (Iggy's 16-byte index entry). */
  ledgerMaxBytes: 2 ** 32 - 1,
  /** LMDB keeps values far larger, but a batch this big would stall every other partition's commit. */
  maxEntryBytes: 64 * 2 ** 20,
} as const;
