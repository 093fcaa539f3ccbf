/**
 * The LMDB environment of a data directory and its named databases. One environment per data
 * directory (not per partition) so that a later transaction can commit entries, cursors and dedup
 * state of several topics atomically. Every thread that opens the store opens the same environment
 * with the same flags: lmdb-js throws or silently ignores a mismatch, so the flags live only here.
 */
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { MillraceError } from '../errors.js';
import { LOG_FILE, prepareDataDir } from './data-dir.js';
import { faultsFromEnv, installFaults } from './faults.js';

/**
 * When an append (or ack) resolves.
 * - `durable`: after the commit is flushed to disk (fsync). Survives power loss.
 * - `async`: after the commit is visible, before the flush. Survives a process crash (the OS holds
 *   the pages, and lmdb-js recovers the last committed transaction while the boot id is unchanged),
 *   not an OS crash or power loss.
 */
export type Durability = 'durable' | 'async';

/** Options of {@link Store.open}. */
export interface StoreOptions {
  /** @default 'durable' */
  durability?: Durability;
}

/** Key of an entry: managed-ledger id, ledger id, entry id. Ordered, so a range scan reads a ledger in order. */
export type EntryKey = [mlId: number, ledgerId: number, entryId: number];
/** Key of per-ledger metadata (ledger list rows, indexes). */
export type LedgerKey = [mlId: number, ledgerId: number];

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

  private constructor(readonly dataDir: string, readonly root: RootDatabase, readonly durability: Durability) {
    this.entries = root.openDB<Buffer, EntryKey>('entries', { encoding: 'binary' });
    this.ledgers = root.openDB<unknown, LedgerKey>('ledgers', { encoding: 'msgpack' });
    this.indexes = root.openDB<Buffer, LedgerKey>('indexes', { encoding: 'binary' });
    this.meta = root.openDB<unknown, (string | number)[]>('meta', { encoding: 'msgpack' });
    this.cursors = root.openDB<Buffer, [number, string]>('cursors', { encoding: 'binary' });
    this.topics = root.openDB<unknown, (string | number)[]>('topics', { encoding: 'msgpack' });
    // Tests only (MILLRACE_FAULTS): failing or slow writes. Unset, nothing is wrapped.
    const faults = faultsFromEnv();
    if (faults) installFaults({ entries: this.entries, cursors: this.cursors, ledgers: this.ledgers, meta: this.meta, topics: this.topics }, faults);
  }

  /** Opens (creating when new) the data directory's store. Safe to call from several threads. */
  static open(dataDir: string, options: StoreOptions = {}): Store {
    const durability = options.durability ?? 'durable';
    if (durability !== 'durable' && durability !== 'async') {
      throw new MillraceError('INVALID_ARGUMENT', `durability must be 'durable' or 'async', got ${String(durability)}`);
    }
    const dir = prepareDataDir(dataDir);
    let root: RootDatabase;
    try {
      root = open(join(dir, LOG_FILE), {
        maxDbs: MAX_DBS,
        // Flushes happen after the commit, off the writer lock; `flushed` tells when a commit is durable.
        overlappingSync: true,
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
    return new Store(dir, root, durability);
  }

  /**
   * Resolves once the writes behind `commit` are as durable as this store promises: flushed to disk
   * in `durable` mode, committed in `async` mode. Many callers share one flush (group commit).
   */
  async settle(commit: Promise<unknown>): Promise<void> {
    await commit;
    if (this.durability !== 'durable') return;
    const own = (commit as Promise<unknown> & { flushed?: Promise<unknown> }).flushed;
    await (own ?? this.root.flushed);
  }

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

  /** Closes the environment; pending writes are committed first. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.root.flushed;
    await this.root.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}
