/**
 * The LMDB environment of a data directory and its named databases. One environment per data
 * directory (not per partition) so that a later transaction can commit entries, cursors and dedup
 * state of several topics atomically. Every thread that opens the store opens the same environment
 * with the same flags: lmdb-js throws or silently ignores a mismatch, so the flags live only here.
 */
import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import { MillraceError } from '../errors.js';
import { LOG_FILE, prepareDataDir } from './data-dir.js';
import { faultsFromEnv, installFaults } from './faults.js';
import { unlinkResolvedWrites } from './unlink-resolved-writes.js';

/**
 * When an append (or ack) resolves.
 * - `durable`: after the commit is flushed to disk (fsync). Survives power loss: the environment
 *   is opened with lmdb-js's `overlappingSync`, which keeps the last flushed snapshot intact, so an
 *   OS crash loses nothing acknowledged and never damages the file.
 * - `async`: after the commit is written to the OS (no fsync on the commit path: LMDB's `noSync`),
 *   and the whole file is flushed every `syncIntervalMs` in the background. Survives a process
 *   crash: the OS holds the written pages. An OS crash or power loss can lose what was written
 *   since the last flush and, as LMDB documents for `MDB_NOSYNC`, can damage the environment on
 *   file systems that do not keep write order. The trade of Redis's `appendfsync everysec` or
 *   SQLite's `synchronous=OFF`, for latency: a commit costs ~40 us instead of ~300 us here.
 */
export type Durability = 'durable' | 'async';

/** Options of {@link Store.open}. */
export interface StoreOptions {
  /** @default 'durable' */
  durability?: Durability;
  /**
   * In `async` durability, flush the environment to disk this often (ms) from this thread; 0 never
   * (the OS writes back on its own). Only one thread per environment needs to (the broker's).
   * Ignored in `durable` mode, where every commit is flushed.
   * @default 0
   */
  syncIntervalMs?: number;
  /**
   * Told when a background flush fails (an EIO or ENOSPC from fsync): commits since the last good
   * flush may not survive an OS crash. Without it such a failure would pass unseen.
   */
  onSyncError?: (err: MillraceError) => void;
}

/** Key of an entry: managed-ledger id, ledger id, entry id. Ordered, so a range scan reads a ledger in order. */
export type EntryKey = [mlId: number, ledgerId: number, entryId: number];
/** Key of per-ledger metadata (ledger list rows, indexes). */
export type LedgerKey = [mlId: number, ledgerId: number];

const toVoid = (): void => undefined;

/**
 * Puts waiting for one transaction, in call order, and the one promise they all resolve with: a
 * put costs three array slots, not a promise and a closure each.
 */
class PutGroup {
  private readonly dbs: Database<unknown, Key>[] = [];
  private readonly keys: Key[] = [];
  private readonly values: unknown[] = [];
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;

  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  add(db: Database<unknown, Key>, key: Key, value: unknown): void {
    this.dbs.push(db);
    this.keys.push(key);
    this.values.push(value);
  }

  /** The puts, inside the caller's transaction. */
  write(): void {
    for (let i = 0; i < this.dbs.length; i++) this.dbs[i]!.putSync(this.keys[i]!, this.values[i]);
  }

  succeed(): void {
    this.resolve();
  }

  fail(err: unknown): void {
    this.reject(err);
  }
}

// 12 named databases by default in lmdb-js; we reserve room for cursors, dedup, policies, offload.
const MAX_DBS = 32;

/** The opened environment and its databases. */
export class Store {
  /** Entry bytes, one producer batch each. */
  readonly entries: Database<Buffer, EntryKey>;
  /** The ledger list: one row per ledger of each managed ledger. */
  readonly ledgers: Database<unknown, LedgerKey>;
  /** Serialized sparse indexes of sealed ledgers. */
  readonly indexes: Database<Buffer, LedgerKey>;
  /** Registry of managed-ledger names and small counters. */
  readonly meta: Database<unknown, (string | number)[]>;
  /** Durable cursors: [mlId, subscription name] -> the cursor's stored form. */
  readonly cursors: Database<Buffer, [number, string]>;
  /** Topic metadata (partition counts, schemas, policies): [kind, name] -> msgpack. */
  readonly topics: Database<unknown, (string | number)[]>;
  private closed = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private closing: Promise<void> | undefined;
  /** Test faults wrap the databases' async `put` only: with them, `put` takes that path. */
  private readonly faulty: boolean;
  /** Async mode: puts made in this synchronous run, committed together in a microtask (see put). */
  private group: PutGroup | undefined;

  private constructor(readonly dataDir: string, readonly root: RootDatabase, readonly durability: Durability, options: StoreOptions) {
    this.entries = root.openDB<Buffer, EntryKey>('entries', { encoding: 'binary' });
    this.ledgers = root.openDB<unknown, LedgerKey>('ledgers', { encoding: 'msgpack' });
    this.indexes = root.openDB<Buffer, LedgerKey>('indexes', { encoding: 'binary' });
    this.meta = root.openDB<unknown, (string | number)[]>('meta', { encoding: 'msgpack' });
    this.cursors = root.openDB<Buffer, [number, string]>('cursors', { encoding: 'binary' });
    this.topics = root.openDB<unknown, (string | number)[]>('topics', { encoding: 'msgpack' });
    unlinkResolvedWrites(root);
    // Tests only (MILLRACE_FAULTS): failing or slow writes. Unset, nothing is wrapped.
    const faults = faultsFromEnv();
    this.faulty = faults !== undefined;
    if (faults) installFaults({ entries: this.entries, cursors: this.cursors, ledgers: this.ledgers, meta: this.meta, topics: this.topics }, faults);
    const interval = options.syncIntervalMs ?? 0;
    if (durability === 'async' && interval > 0) {
      const report = options.onSyncError ?? toVoid;
      this.syncTimer = setInterval(() => { this.sync().catch(report); }, interval);
      this.syncTimer.unref();
    }
  }

  /** Opens (creating when new) the data directory's store. Safe to call from several threads. */
  static open(dataDir: string, options: StoreOptions = {}): Store {
    const durability = options.durability ?? 'durable';
    if (durability !== 'durable' && durability !== 'async') {
      throw new MillraceError('INVALID_ARGUMENT', `durability must be 'durable' or 'async', got ${String(durability)}`);
    }
    const syncIntervalMs = options.syncIntervalMs ?? 0;
    if (!Number.isFinite(syncIntervalMs) || syncIntervalMs < 0 || syncIntervalMs > 2 ** 31 - 1) {
      throw new MillraceError('INVALID_ARGUMENT', `syncIntervalMs must be a number of ms from 0 to 2^31-1, got ${String(syncIntervalMs)}`);
    }
    const dir = prepareDataDir(dataDir);
    let root: RootDatabase;
    try {
      root = open(join(dir, LOG_FILE), {
        maxDbs: MAX_DBS,
        // Durable: flushes happen after the commit, off the writer lock; `flushed` tells when a commit
        // is durable. Async: no flush on the commit path at all (see Durability). Every thread opens
        // the environment with the same durability (lmdb-js refuses a mismatch), which the broker
        // handle carries to worker threads.
        overlappingSync: durability === 'durable',
        noSync: durability === 'async',
        // Each write's promise carries the flush of its own commit: awaiting the shared root.flushed
        // after a commit can also wait for the flush of writes queued since (a later commit), which
        // under steady load adds a whole commit cycle to every append's latency.
        separateFlushed: true,
        // Values are opaque bytes; never let lmdb-js share structures across threads implicitly.
        encoding: 'binary',
        noMemInit: true,
      });
    } catch (cause) {
      throw new MillraceError('STORAGE_READ_FAILED', `cannot open the LMDB environment in ${dir}`, { cause, retriable: false });
    }
    return new Store(dir, root, durability, options);
  }

  /**
   * Flushes everything committed so far to disk (fsync), in the libuv thread pool. In `durable` mode
   * commits are flushed already; this is for `async` mode. Concurrent calls share one flush.
   */
  sync(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.syncing ??= new Promise<void>((resolve, reject) => {
      // lmdb-js has `sync(callback)` (mdb_env_sync in the thread pool) but leaves it out of its types.
      (this.root as unknown as { sync(cb: (err?: unknown) => void): void }).sync((err?: unknown) => {
        this.syncing = undefined;
        if (err) reject(new MillraceError('STORAGE_WRITE_FAILED', `flushing the LMDB environment in ${this.dataDir} failed`, { cause: err, retriable: true }));
        else resolve();
      });
    });
    return this.syncing;
  }

  /**
   * Resolves once the writes behind `commit` are as durable as this store promises: flushed to disk
   * in `durable` mode, committed in `async` mode. Many callers share one flush (group commit).
   */
  // Not async, and no closure in `async` mode: every append and every cursor write settles through
  // here, and an async function's promise plus its awaits were a good part of each one's garbage.
  settle(commit: Promise<unknown>): Promise<void> {
    if (this.durability !== 'durable') return commit.then(toVoid);
    return commit.then(() => (commit as Promise<unknown> & { flushed?: Promise<unknown> }).flushed ?? this.root.flushed).then(toVoid);
  }

  /**
   * Whether {@link put} commits on the calling thread, at the end of the current synchronous run
   * and before any write queued to lmdb-js's writer thread since (async durability, no test
   * faults): a caller that must keep its writes in order knows which of them can still be queued.
   */
  get putCommitsNow(): boolean {
    return this.durability === 'async' && !this.faulty;
  }

  /**
   * Writes one value and resolves once it is as durable as this store promises (as `settle` of an
   * async put would). In `async` mode the commit is made on this thread: with noSync it is a copy
   * into the map and a write to the OS, microseconds, while an async put goes to lmdb-js's writer
   * thread and back, two thread wake-ups that took over a millisecond in about one case in a
   * hundred on a loaded 2-vCPU machine, and whose per-write bookkeeping (a resolution and a closure
   * on a linked list) outlived young-generation collections: it was most of what a host worker's
   * scavenges copied. The puts of one synchronous run (a host's pass over its request rings) share
   * one transaction, committed in a microtask once that run ends: a commit per put was most of a
   * host's time under unbatched sends (group commit, as the writer thread does in `durable` mode).
   * The group commits before anything later on this thread runs and before lmdb-js's writer thread
   * starts on writes queued meanwhile (it starts in a setImmediate). In `durable` mode the write goes
   * through the writer thread: a synchronous commit would hold this thread for the whole fsync.
   *
   * Not for a key that also has async writes in flight: the commit would land before them and be
   * overwritten by older data.
   */
  put<V, K extends Key>(db: Database<V, K>, key: K, value: V): Promise<void> {
    if (!this.putCommitsNow) return this.settle(db.put(key, value));
    let group = this.group;
    if (group === undefined) {
      group = this.group = new PutGroup();
      queueMicrotask(this.commitGroup);
    }
    group.add(db as Database<unknown, Key>, key, value);
    return group.done;
  }

  /** Commits the puts made since the last commit, in the order they were made, in one transaction. */
  private readonly commitGroup = (): void => {
    const group = this.group;
    if (group === undefined) return;
    this.group = undefined;
    try {
      this.root.transactionSync(() => group.write());
    } catch (err) {
      group.fail(err);
      return;
    }
    group.succeed();
  };

  /** The numeric id of a managed ledger's name, registered on first use (a cold path: a sync txn). */
  managedLedgerId(name: string): number {
    const existing = this.meta.get(['ml', name]);
    if (typeof existing === 'number') return existing;
    return this.root.transactionSync(() => {
      const again = this.meta.get(['ml', name]);
      if (typeof again === 'number') return again;
      const next = ((this.meta.get(['next-ml-id']) as number | undefined) ?? 0) + 1;
      this.meta.putSync(['next-ml-id'], next);
      this.meta.putSync(['ml', name], next);
      return next;
    });
  }

  /** Names of every managed ledger registered in this store. */
  managedLedgerNames(): string[] {
    const names: string[] = [];
    for (const { key } of this.meta.getRange({ start: ['ml'], end: ['ml', '\uffff'] })) {
      const name = key[1];
      if (typeof name === 'string') names.push(name);
    }
    return names;
  }

  /** Closes the environment; pending writes are committed (and in `async` mode flushed) first. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    if (this.syncTimer) clearInterval(this.syncTimer);
    this.commitGroup();
    await this.root.flushed;
    // noSync never flushes by itself: a clean close leaves nothing that lives only in the page cache.
    if (this.durability === 'async') await this.sync().catch(() => undefined);
    this.closed = true;
    await this.root.close();
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }
}
