/**
 * A managed ledger: one topic partition's log, as Pulsar's ManagedLedger. The log is a list of
 * ledgers; each ledger is an append-only run of entries (one producer batch each) that rolls over by
 * entries, bytes or age and is then sealed (read-only). Entries live in LMDB under
 * [mlId, ledgerId, entryId]; the ledger list under [mlId, ledgerId]; sealed ledgers' sparse indexes
 * beside them.
 *
 * Appends are assigned their position synchronously, in call order, and resolve once durable.
 * Concurrent appends share LMDB commits: lmdb-js puts every write queued in one event turn into one
 * transaction, and many transactions share one flush (group commit). Readers only ever see entries
 * up to the last confirmed (durable) position.
 */
import { randomUUID } from 'node:crypto';
import { MillraceError } from '../errors.js';
import { DEFAULTS, LIMITS } from '../defaults.js';
import type { EntryKey, Store } from '../storage/store.js';
import { comparePositions, formatPosition, smallId, type Position } from './position.js';
import { newLedgerInfo, parseLedgerInfo, searchLedgers, type LedgerInfo, type OffloadRecord } from './ledger-info.js';
import type { ObjectStore } from '../offload/object-store.js';
import { writeLedgerObject, type OffloadEntry } from '../offload/ledger-object.js';
import { OffloadedLedgerReader, type BlockCache } from '../offload/offloaded-ledger-reader.js';
import { recoverLedger } from './recovery.js';
import {
  EntryStatus, SparseIndex, entryCount, entryPublishTime, entryStatusMessage, jsFramer, loadWasmFramer,
  type FrameMessage, type Framer,
} from '../../wasm/index.js';

/** Options of a managed ledger. Each bad value gets an INVALID_ARGUMENT error at open. */
export interface ManagedLedgerOptions {
  /** Roll over to a new ledger after this many entries. @default 50_000 */
  maxEntries?: number;
  /** Roll over before a ledger would pass this many bytes. @default 8 MiB */
  maxBytes?: number;
  /** Roll over when the open ledger is older than this on an append. @default 4 hours */
  maxAgeMs?: number;
  /** Refuse entries larger than this. @default 5 MiB */
  maxEntryBytes?: number;
  /** Bytes of log between two sparse index entries. @default 32 KiB */
  indexIntervalBytes?: number;
  /** Framing implementation: the WASM hot path, or the TypeScript reference. @default 'wasm' */
  framer?: 'wasm' | 'js';
  /** Clock, for tests of age-based rollover and publish times. @default Date.now */
  now?: () => number;
}

/** Options with defaults applied. */
export interface ResolvedManagedLedgerOptions {
  maxEntries: number;
  maxBytes: number;
  maxAgeMs: number;
  maxEntryBytes: number;
  indexIntervalBytes: number;
  framer: 'wasm' | 'js';
  now: () => number;
}

export function resolveManagedLedgerOptions(o: ManagedLedgerOptions = {}): ResolvedManagedLedgerOptions {
  const r: ResolvedManagedLedgerOptions = {
    maxEntries: o.maxEntries ?? DEFAULTS.ledgerMaxEntries,
    maxBytes: o.maxBytes ?? DEFAULTS.ledgerMaxBytes,
    maxAgeMs: o.maxAgeMs ?? DEFAULTS.ledgerMaxAgeMs,
    maxEntryBytes: o.maxEntryBytes ?? DEFAULTS.maxEntryBytes,
    indexIntervalBytes: o.indexIntervalBytes ?? DEFAULTS.indexIntervalBytes,
    framer: o.framer ?? 'wasm',
    now: o.now ?? Date.now,
  };
  positiveInt('maxEntries', r.maxEntries, Number.MAX_SAFE_INTEGER);
  positiveInt('maxBytes', r.maxBytes, LIMITS.ledgerMaxBytes);
  positiveInt('maxAgeMs', r.maxAgeMs, Number.MAX_SAFE_INTEGER);
  positiveInt('maxEntryBytes', r.maxEntryBytes, LIMITS.maxEntryBytes);
  positiveInt('indexIntervalBytes', r.indexIntervalBytes, 2 ** 30);
  if (r.framer !== 'wasm' && r.framer !== 'js') {
    throw new MillraceError('INVALID_ARGUMENT', `framer must be 'wasm' or 'js', got ${String(r.framer)}`);
  }
  if (typeof r.now !== 'function') throw new MillraceError('INVALID_ARGUMENT', 'now must be a function returning epoch ms');
  return r;
}

function positiveInt(name: string, v: unknown, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
    throw new MillraceError('INVALID_ARGUMENT', `${name} must be an integer from 1 to ${max}, got ${String(v)}`);
  }
}

/** A producer batch to append: the ledger stamps the publish time. */
export interface AppendBatch {
  producerName?: Uint8Array | null;
  messages: readonly FrameMessage[];
}

/** Where an appended entry landed. */
export interface AppendResult {
  position: Position;
  publishTime: number;
  /** Framed entry size in bytes. */
  bytes: number;
  /** Messages in the entry. */
  count: number;
}

/** An entry read back, validated (length, version, checksum, bounds). */
export interface ReadEntry {
  position: Position;
  entry: Uint8Array;
}

/** One readRange call under way: its limits, the end it reads to, what it has read, the next ledger index. */
interface RangeRead {
  maxEntries: number;
  maxBytes: number;
  end: Position | undefined;
  out: ReadEntry[];
  bytes: number;
  next: number;
}

/** An offloaded ledger a range reaches: the entries of it to read. */
interface OffloadedRun {
  l: LedgerInfo;
  startEntry: number;
  lastEntry: number;
}

/** Limits of one readRange call; at least one entry is returned when any is available. */
export interface ReadRangeOptions {
  /** @default 1_000 */
  maxEntries?: number;
  /** @default 4 MiB */
  maxBytes?: number;
}

/** Summary figures of a managed ledger. */
export interface ManagedLedgerStats {
  entries: number;
  messages: number;
  /** Bytes of every ledger, local or offloaded. */
  bytes: number;
  /** Bytes of the ledgers whose local copy exists (the open one included). */
  localBytes: number;
  /** Bytes of the ledgers whose offload is complete (a ledger may count in both until its local copy goes). */
  offloadedBytes: number;
  ledgerCount: number;
  firstPosition: Position | undefined;
  lastConfirmed: Position | undefined;
}

/** Where offloaded ledgers live and the cache their reads go through (one per thread). */
export interface TieredStorage {
  objects: ObjectStore;
  cache: BlockCache;
}

// Offloaded ledgers a sequential read opens ahead of where it is (their objects' index and first blocks).
const PREFETCH_LEDGERS = 2;
// Entries per chunk when streaming a ledger to the object store.
const OFFLOAD_CHUNK_ENTRIES = 256;

interface OpenLedger {
  info: LedgerInfo;
  index: SparseIndex;
  /** Bytes appended to this ledger so far, failed writes included: the sparse index's positions. */
  indexBytes: number;
  /** First append to this ledger writes its list row in the same commit. */
  rowWrite: Promise<unknown> | undefined;
  /** The ledger's row is committed: its entries may commit on their own (see write). */
  rowCommitted: boolean;
}

/** A caller's own copy of the ledger list, kept up to date by {@link ManagedLedger.refreshLedgers}. */
export interface LedgerListCopy {
  /** The closed ledgers' rows it was made from (shared, frozen). */
  readonly closed: readonly Readonly<LedgerInfo>[];
  /** Its list: the closed rows, then the open ledger's row. */
  readonly list: Readonly<LedgerInfo>[];
}

/** One partition's log. Open with {@link ManagedLedger.open}. */
export class ManagedLedger {
  private readonly list: LedgerInfo[];
  private current: OpenLedger | undefined;
  private nextLedgerId: number;
  private lastPublishTime: number;
  private confirmed: Position | undefined;
  private readonly sealedIndexes = new Map<number, SparseIndex>();
  private readonly inflight = new Set<Promise<unknown>>();
  /** Appends not settled yet, and who waits for them all to be. */
  private pendingAppends = 0;
  /** Entry puts queued for lmdb-js's writer thread and not settled. */
  private queuedPuts = 0;
  private appendsDrained: (() => void)[] = [];
  private closed = false;
  private tiered: TieredStorage | undefined;
  private readonly offloadedReaders = new Map<number, Promise<OffloadedLedgerReader>>();
  /** Offloaded ledgers whose first blocks were fetched ahead of a sequential reader (prefetchAfter). */
  private readonly prefetched = new Set<number>();
  /** Per-entry message counts of offloaded ledgers (the cursor's backlog needs them), loaded lazily. */
  private readonly offloadedCounts = new Map<number, Uint16Array>();
  /**
   * Frozen copies of the closed (sealed, offloaded) ledgers, oldest first, for {@link ledgers}: they
   * change only on a seal, a trim, an offload or a failed write, which drop this (`closedChanged`),
   * so a cursor retaking its view after each append copies one ledger, not all of them.
   */
  private closedCopies: readonly Readonly<LedgerInfo>[] | undefined;

  private constructor(
    private readonly store: Store,
    /** The managed ledger's name (a partition's internal topic name). */
    readonly name: string,
    private readonly mlId: number,
    readonly options: ResolvedManagedLedgerOptions,
    private readonly framer: Framer,
    list: LedgerInfo[],
    nextLedgerId: number,
  ) {
    this.list = list;
    const last = list[list.length - 1];
    this.nextLedgerId = Math.max(nextLedgerId, last ? last.ledgerId + 1 : 1);
    this.lastPublishTime = list.reduce((t, l) => Math.max(t, l.lastPublishTime), 0);
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i]!;
      if (l.entries > 0) {
        this.confirmed = { ledgerId: l.ledgerId, entryId: l.lastEntryId };
        break;
      }
    }
  }

  /**
   * Opens (or creates) the managed ledger `name` in `store`, recovering after a crash: the ledger that
   * was open is scanned, its figures and index rebuilt from what LMDB committed, and sealed; the next
   * append opens a new ledger, so IDs continue and are never reused.
   */
  static async open(store: Store, name: string, options: ManagedLedgerOptions = {}): Promise<ManagedLedger> {
    if (typeof name !== 'string' || name.length === 0) {
      throw new MillraceError('INVALID_ARGUMENT', `a managed ledger name must be a non-empty string, got ${String(name)}`);
    }
    if (store.isClosed) throw new MillraceError('CLOSED', 'the store is closed');
    const resolved = resolveManagedLedgerOptions(options);
    const framer = resolved.framer === 'wasm' ? loadWasmFramer() : jsFramer;
    // lmdb-js reuses one read snapshot per thread until its next timer tick: on a thread that read
    // a moment ago, recovery could miss entries another (since dead) thread committed and acked, seal
    // the ledger before them and so hide them for good. Recover from the latest commit.
    store.root.resetReadTxn();
    const mlId = store.managedLedgerId(name);
    const list: LedgerInfo[] = [];
    for (const { key, value } of store.ledgers.getRange({ start: [mlId, 0], end: [mlId, Number.MAX_SAFE_INTEGER] })) {
      const info = parseLedgerInfo(value);
      if (!info || info.ledgerId !== key[1]) {
        throw new MillraceError('ENTRY_CORRUPT', `ledger list row ${key[1]} of ${name} is malformed`);
      }
      list.push(info);
    }
    // An entry can only commit with or after its ledger's row (the row is queued first), but look at
    // the last stored key anyway: a ledger with entries and no row is recovered, not ignored.
    for (const { key } of store.entries.getRange({ start: [mlId, Number.MAX_SAFE_INTEGER], end: [mlId, 0], reverse: true, limit: 1 })) {
      const lastRow = list[list.length - 1];
      if (!lastRow || key[1] > lastRow.ledgerId) list.push(newLedgerInfo(smallId(key[1]), resolved.now()));
    }
    const writes: Promise<unknown>[] = [];
    for (const info of list) {
      if (info.state !== 'open') continue;
      const { info: sealed, index } = recoverLedger(store, mlId, info, framer, resolved.indexIntervalBytes, resolved.now());
      Object.assign(info, sealed);
      writes.push(store.ledgers.put([mlId, info.ledgerId], info));
      writes.push(store.indexes.put([mlId, info.ledgerId], Buffer.from(index.toBytes())));
    }
    if (writes.length > 0) {
      try {
        await store.settle(Promise.all(writes));
      } catch (cause) {
        throw new MillraceError('STORAGE_WRITE_FAILED', `cannot record the recovery of ${name}`, { cause });
      }
    }
    // Ledger IDs are never reused, even after every ledger was trimmed: a high-water mark persists.
    const highWater = store.meta.get(['next-ledger', mlId]);
    return new ManagedLedger(store, name, mlId, resolved, framer, list, typeof highWater === 'number' ? highWater : 1);
  }

  /**
   * Frames `batch` as one entry and appends it. Resolves with its position once the entry is durable
   * (per the store's durability). Bad input throws a MillraceError before anything is written.
   */
  // async so that every bad input rejects rather than throws; the body up to `write` still runs
  // synchronously, so positions follow call order.
  async append(batch: AppendBatch): Promise<AppendResult> {
    this.assertOpen();
    if (batch === null || typeof batch !== 'object' || !Array.isArray(batch.messages)) {
      throw new MillraceError('INVALID_ARGUMENT', 'append takes { messages: FrameMessage[], producerName? }');
    }
    const publishTime = this.nextPublishTime();
    const entry = this.framer.frame({ publishTime, producerName: batch.producerName ?? null, messages: batch.messages }, this.options.maxEntryBytes);
    return this.write(entry, publishTime, batch.messages.length);
  }

  /**
   * Appends an entry a client already laid out (wasm `encodeInto`): the ledger stamps the publish
   * time and checksum in place and validates every record before writing. The bytes are copied when
   * they live in a SharedArrayBuffer: lmdb-js stores such values as garbage without an error.
   */
  // Not async (an async function's own promise, resolved with write's, was two more promises and
  // a microtask per append); every throw still becomes a rejection, and positions follow call order.
  appendEntry(laidOut: Uint8Array): Promise<AppendResult> {
    try {
      return this.appendLaidOut(laidOut);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private appendLaidOut(laidOut: Uint8Array): Promise<AppendResult> {
    this.assertOpen();
    if (!(laidOut instanceof Uint8Array)) {
      throw new MillraceError('INVALID_ARGUMENT', 'appendEntry takes a Uint8Array laid out by encodeInto');
    }
    if (laidOut.length > this.options.maxEntryBytes) {
      throw new MillraceError('ENTRY_TOO_LARGE', `entry of ${laidOut.length} bytes is over the maximum of ${this.options.maxEntryBytes}`);
    }
    const entry = laidOut.buffer instanceof SharedArrayBuffer ? Buffer.from(laidOut) : laidOut;
    const publishTime = this.nextPublishTime();
    const status = this.framer.seal(entry, publishTime);
    if (status !== EntryStatus.OK) {
      throw new MillraceError('INVALID_ARGUMENT', `laid-out entry is malformed: ${entryStatusMessage(status)}`);
    }
    const count = entry[10]! | (entry[11]! << 8);
    return this.write(entry, publishTime, count);
  }

  private nextPublishTime(): number {
    // Publish times never go backwards within a partition, so time search can bisect.
    const t = Math.max(this.options.now(), this.lastPublishTime);
    this.lastPublishTime = t;
    return t;
  }

  private write(entry: Uint8Array, publishTime: number, count: number): Promise<AppendResult> {
    const size = entry.length;
    const ledger = this.ledgerFor(size, publishTime);
    const info = ledger.info;
    const position: Position = { ledgerId: info.ledgerId, entryId: info.lastEntryId + 1 };
    info.lastEntryId = position.entryId;
    if (info.entries === 0) info.firstPublishTime = publishTime;
    info.entries += 1;
    info.messages += count;
    // The index takes byte positions from its own counter: a failed write gives its bytes back to the
    // ledger's figures, but the index must keep moving forward (it refuses a position twice).
    ledger.index.add(position.entryId, ledger.indexBytes, publishTime, size);
    ledger.indexBytes += size;
    info.bytes += size;
    info.lastPublishTime = publishTime;

    const rowWrite = ledger.rowWrite;
    ledger.rowWrite = undefined;
    const key: EntryKey = [this.mlId, position.ledgerId, position.entryId];
    // Async durability: commit on this thread (Store.put) once nothing this entry must follow is
    // still queued (its ledger row, an earlier entry), skipping lmdb-js's writer-thread round trip,
    // whose per-write bookkeeping was most of what a host's young-generation collections copied.
    // An entry committed ahead of an earlier one still queued would be readable before it.
    // Queued puts are counted only where the other path exists: in durable mode every put is queued.
    const syncable = this.store.putCommitsNow;
    const now = syncable && ledger.rowCommitted && this.queuedPuts === 0;
    const put = now ? this.store.put(this.store.entries, key, entry as Buffer) : this.store.entries.put(key, entry as Buffer);
    if (syncable && !now) {
      this.queuedPuts += 1;
      put.then(this.putSettled, this.putSettled);
    }
    // Handled below through settle(), possibly only after the row write settles: mark it handled now,
    // or a put that fails first is an unhandled rejection (which kills a worker thread).
    if (rowWrite) put.catch(ignore);
    // Counted rather than tracked in `inflight`: a Set entry and two more promises per append.
    this.pendingAppends += 1;
    // The entry's put is queued after its ledger row, so its commit's flush covers the row too.
    return (rowWrite ? rowWrite.then(() => this.store.settle(put)) : this.store.settle(put)).then(
      () => {
        this.appendSettled();
        if (!this.confirmed || comparePositions(position, this.confirmed) > 0) this.confirmed = position;
        return { position, publishTime, bytes: size, count };
      },
      (cause: unknown) => {
        this.appendSettled();
        // The entry is not stored: take it out of the figures (the ID stays used, never reused).
        info.entries -= 1;
        info.bytes -= size;
        info.messages -= count;
        if (info.state !== 'open') this.closedChanged();
        if (info.state === 'sealed') void this.store.ledgers.put([this.mlId, info.ledgerId], { ...info }).catch(() => undefined);
        throw new MillraceError('STORAGE_WRITE_FAILED', `append to ${this.name} at ${formatPosition(position)} failed`, { cause });
      },
    );
  }

  private readonly putSettled = (): void => {
    this.queuedPuts -= 1;
  };

  private appendSettled(): void {
    this.pendingAppends -= 1;
    if (this.pendingAppends === 0 && this.appendsDrained.length > 0) {
      const waiters = this.appendsDrained;
      this.appendsDrained = [];
      // After this turn's reactions (the append's own `then`s), as when the append was tracked.
      setImmediate(() => { for (const w of waiters) w(); });
    }
  }

  /** Waits until no append and no tracked write is pending (each may start more). */
  private async drainInflight(): Promise<void> {
    while (this.pendingAppends > 0 || this.inflight.size > 0) {
      if (this.pendingAppends > 0) await new Promise<void>((resolve) => this.appendsDrained.push(resolve));
      else await Promise.all([...this.inflight]);
    }
  }

  /** The open ledger for an entry of `size` bytes, rolling over first when a limit is reached. */
  private ledgerFor(size: number, now: number): OpenLedger {
    const cur = this.current;
    const o = this.options;
    if (cur) {
      const i = cur.info;
      const full = i.entries >= o.maxEntries || (i.entries > 0 && i.bytes + size > o.maxBytes) || now - i.createdAt >= o.maxAgeMs;
      if (!full) return cur;
      this.seal(cur, now);
    }
    const info = newLedgerInfo(this.nextLedgerId++, now);
    this.list.push(info);
    // Queued before the ledger's first entry, so the row (and the ID high-water mark) commit with it
    // or earlier, never later.
    const rowWrite = Promise.all([
      this.store.meta.put(['next-ledger', this.mlId], this.nextLedgerId),
      this.store.ledgers.put([this.mlId, info.ledgerId], { ...info }),
    ]);
    const next: OpenLedger = { info, index: new SparseIndex({ intervalBytes: o.indexIntervalBytes }), indexBytes: 0, rowWrite, rowCommitted: false };
    rowWrite.then(() => { next.rowCommitted = true; }, () => undefined);
    this.current = next;
    return next;
  }

  private seal(ledger: OpenLedger, now: number): void {
    this.closedChanged();
    ledger.info.state = 'sealed';
    ledger.info.sealedAt = now;
    this.sealedIndexes.set(ledger.info.ledgerId, ledger.index);
    const key: [number, number] = [this.mlId, ledger.info.ledgerId];
    this.track(this.store.ledgers.put(key, { ...ledger.info }));
    this.track(this.store.indexes.put(key, Buffer.from(ledger.index.toBytes())));
    this.current = undefined;
  }

  private track(p: Promise<unknown>): void {
    const quiet = p.then(() => undefined, () => undefined);
    this.inflight.add(quiet);
    void quiet.then(() => this.inflight.delete(quiet));
  }

  /** Reads one durable entry. ENTRY_NOT_FOUND when there is none there (never written, trimmed). */
  async read(position: Position): Promise<ReadEntry> {
    this.assertOpen();
    assertPosition(position);
    const l = this.ledgerById(position.ledgerId);
    if (!this.confirmed || comparePositions(position, this.confirmed) > 0 || !l) {
      throw new MillraceError('ENTRY_NOT_FOUND', `${this.name} has no entry at ${formatPosition(position)}`);
    }
    const value = l.state === 'offloaded'
      ? await (await this.offloadedReader(l)).read(position.entryId)
      : this.store.entries.get([this.mlId, position.ledgerId, position.entryId]);
    if (value === undefined) throw new MillraceError('ENTRY_NOT_FOUND', `${this.name} has no entry at ${formatPosition(position)}`);
    return { position, entry: this.checked(position, value) };
  }

  /**
   * Reads durable entries from `from` (inclusive) on, across ledgers, up to the limits. A position
   * before the first stored entry (trimmed) starts at the first stored one; past the end gives [].
   */
  async readRange(from: Position, options: ReadRangeOptions = {}): Promise<ReadEntry[]> {
    const read = this.startRead(from, options);
    for (let stop = this.readLocalRun(from, read); stop !== undefined; stop = this.readLocalRun(from, read)) {
      if (!(await this.readOffloaded(stop, read))) break;
      read.next += 1;
    }
    return read.out;
  }

  /**
   * {@link readRange} without waiting, for ranges on this machine: the same entries, or undefined
   * when the range reaches an offloaded ledger (then call readRange). A subscription catching up
   * with each new append reads here: the promises of an async read were a good part of a host's
   * garbage per message at low rates.
   */
  readRangeNow(from: Position, options: ReadRangeOptions = {}): ReadEntry[] | undefined {
    const read = this.startRead(from, options);
    return this.readLocalRun(from, read) === undefined ? read.out : undefined;
  }

  private startRead(from: Position, options: ReadRangeOptions): RangeRead {
    this.assertOpen();
    assertPosition(from);
    const maxEntries = options.maxEntries ?? DEFAULTS.readMaxEntries;
    const maxBytes = options.maxBytes ?? DEFAULTS.readMaxBytes;
    positiveInt('maxEntries', maxEntries, Number.MAX_SAFE_INTEGER);
    positiveInt('maxBytes', maxBytes, Number.MAX_SAFE_INTEGER);
    return { maxEntries, maxBytes, end: this.confirmed, out: [], bytes: 0, next: this.firstLedgerFrom(from.ledgerId) };
  }

  /**
   * Reads ledgers in LMDB from ledger index `read.next` on. Stops at the first offloaded ledger with
   * entries in the range and returns what to read there (`read.next` is its index); undefined once
   * the range or a limit ends.
   */
  private readLocalRun(from: Position, read: RangeRead): OffloadedRun | undefined {
    const end = read.end;
    if (!end) return undefined;
    for (let i = read.next; i < this.list.length; i++) {
      const l = this.list[i]!;
      if (l.entries === 0) continue;
      if (l.ledgerId > end.ledgerId) break;
      const startEntry = l.ledgerId === from.ledgerId ? from.entryId : 0;
      const lastEntry = l.ledgerId === end.ledgerId ? end.entryId : l.lastEntryId;
      if (startEntry > lastEntry) continue;
      if (l.state === 'offloaded') {
        if (read.out.length >= read.maxEntries || read.bytes >= read.maxBytes) return undefined;
        read.next = i;
        return { l, startEntry, lastEntry };
      }
      if (!this.readLocal(l, startEntry, lastEntry, read)) return undefined;
    }
    return undefined;
  }

  /** Reads an offloaded ledger's part of a range; false once a limit is reached inside it. */
  private async readOffloaded({ l, startEntry, lastEntry }: OffloadedRun, read: RangeRead): Promise<boolean> {
    const reader = await this.offloadedReader(l);
    // Reached: its own prefetch is spent (a later pass may need one again), the next one's is due.
    this.prefetched.delete(l.ledgerId);
    this.prefetchAfter(l);
    const { out, maxEntries, maxBytes } = read;
    const got = await reader.readRange(startEntry, { maxEntries: maxEntries - out.length, maxBytes: Math.max(1, maxBytes - read.bytes) });
    for (const { entryId, entry } of got) {
      if (entryId > lastEntry) break;
      if (out.length >= maxEntries || (out.length > 0 && read.bytes + entry.length > maxBytes)) return false;
      out.push({ position: { ledgerId: l.ledgerId, entryId }, entry });
      read.bytes += entry.length;
    }
    return !(got.length > 0 && got[got.length - 1]!.entryId < lastEntry); // limits reached inside this ledger
  }

  /** Appends entries `startEntry..lastEntry` of a ledger in LMDB to the read; false once a limit is reached. */
  private readLocal(l: LedgerInfo, startEntry: number, lastEntry: number, read: RangeRead): boolean {
    const { out, maxEntries, maxBytes } = read;
    if (startEntry === lastEntry) {
      // One entry (a subscription catching up with each new append): a point read, without the
      // range iterator and its key decoding, which were most of a dispatch's garbage here.
      if (out.length >= maxEntries) return false;
      const value = this.store.entries.get([this.mlId, l.ledgerId, startEntry]);
      if (value === undefined) return true; // a gap left by a failed write
      if (out.length > 0 && read.bytes + value.length > maxBytes) return false;
      const position = { ledgerId: l.ledgerId, entryId: startEntry };
      out.push({ position, entry: this.checked(position, value) });
      read.bytes += value.length;
      return true;
    }
    const range = this.store.entries.getRange({
      start: [this.mlId, l.ledgerId, startEntry],
      end: [this.mlId, l.ledgerId, lastEntry + 1],
    });
    for (const { key, value } of range) {
      if (out.length >= maxEntries || (out.length > 0 && read.bytes + value.length > maxBytes)) return false;
      const position = { ledgerId: smallId(key[1]), entryId: smallId(key[2]) };
      out.push({ position, entry: this.checked(position, value) });
      read.bytes += value.length;
    }
    return true;
  }

  /**
   * The position of the first durable entry whose publish time is at or after `publishTimeMs`, or
   * undefined when every entry is older. Ledger rows narrow it to a ledger, the sparse index to a
   * few entries, and a short scan finds the entry.
   */
  async findByTime(publishTimeMs: number): Promise<Position | undefined> {
    this.assertOpen();
    if (typeof publishTimeMs !== 'number' || Number.isNaN(publishTimeMs)) {
      throw new MillraceError('INVALID_ARGUMENT', `publishTimeMs must be a number (epoch ms), got ${String(publishTimeMs)}`);
    }
    const end = this.confirmed;
    if (!end) return undefined;
    for (const l of this.list) {
      if (l.entries === 0 || l.lastPublishTime < publishTimeMs) continue;
      if (l.ledgerId > end.ledgerId) return undefined;
      if (l.state === 'offloaded') {
        const entryId = (await this.offloadedReader(l)).findByTime(publishTimeMs);
        if (entryId !== undefined) return { ledgerId: l.ledgerId, entryId };
        continue;
      }
      const floor = this.indexOf(l).floorByTime(publishTimeMs);
      const start = floor ? floor.entryId : 0;
      const last = l.ledgerId === end.ledgerId ? end.entryId : l.lastEntryId;
      for (const { key, value } of this.store.entries.getRange({ start: [this.mlId, l.ledgerId, start], end: [this.mlId, l.ledgerId, last + 1] })) {
        if (entryPublishTime(value) >= publishTimeMs) return { ledgerId: smallId(key[1]), entryId: smallId(key[2]) };
      }
    }
    return undefined;
  }

  private indexOf(l: LedgerInfo): SparseIndex {
    if (this.current?.info === l) return this.current.index;
    let idx = this.sealedIndexes.get(l.ledgerId);
    if (!idx) {
      const bytes = this.store.indexes.get([this.mlId, l.ledgerId]);
      idx = bytes ? SparseIndex.fromBytes(bytes) : recoverLedger(this.store, this.mlId, l, this.framer, this.options.indexIntervalBytes, l.createdAt).index;
      this.sealedIndexes.set(l.ledgerId, idx);
    }
    return idx;
  }

  private checked(position: Position, value: Uint8Array): Uint8Array {
    const status = this.framer.validate(value);
    if (status !== EntryStatus.OK) {
      throw new MillraceError('ENTRY_CORRUPT', `entry ${formatPosition(position)} of ${this.name} is damaged: ${entryStatusMessage(status)}`);
    }
    return value;
  }

  /**
   * Deletes every sealed ledger whose entries are all before `position` (retention's tool), oldest
   * first, locally and in the object store. The open ledger is never deleted. Each ledger's local part
   * goes in one transaction (entries, index, counts, row); its object is deleted after the row is
   * gone, so a crash in between leaves an unreferenced object, never a row pointing at nothing.
   * Returns the deleted ledger IDs.
   */
  async trimBefore(position: Position): Promise<number[]> {
    this.assertOpen();
    assertPosition(position);
    const victims = this.list.filter((l) => l.state !== 'open' &&
      (l.ledgerId < position.ledgerId || (l.ledgerId === position.ledgerId && l.lastEntryId < position.entryId)));
    const done: number[] = [];
    for (const l of victims) {
      const keys = [...this.store.entries.getKeys({ start: [this.mlId, l.ledgerId, 0], end: [this.mlId, l.ledgerId, Number.MAX_SAFE_INTEGER] })];
      try {
        await this.store.settle(this.store.root.transaction(() => {
          for (const k of keys) void this.store.entries.remove(k);
          void this.store.indexes.remove([this.mlId, l.ledgerId]);
          void this.store.meta.remove(['offload-counts', this.mlId, l.ledgerId]);
          void this.store.ledgers.remove([this.mlId, l.ledgerId]);
        }));
      } catch (cause) {
        throw new MillraceError('STORAGE_WRITE_FAILED', `trimming ledger ${l.ledgerId} of ${this.name} failed`, { cause });
      }
      this.list.splice(this.list.indexOf(l), 1);
      this.closedChanged();
      this.sealedIndexes.delete(l.ledgerId);
      this.offloadedReaders.delete(l.ledgerId);
      this.prefetched.delete(l.ledgerId);
      this.offloadedCounts.delete(l.ledgerId);
      done.push(l.ledgerId);
      if (l.offload && this.tiered) await this.tiered.objects.delete(l.offload.key).catch(() => undefined);
    }
    return done;
  }

  /**
   * Deletes the whole log (topic deletion): every ledger, open ones included, locally and in the
   * object store, then closes. The ledger ID high-water mark stays, so IDs are never reused even if
   * a topic of the same name comes back.
   */
  async deleteAll(): Promise<void> {
    this.assertOpen();
    await this.drainInflight();
    if (this.current) this.seal(this.current, this.options.now());
    await this.drainInflight();
    const last = this.list[this.list.length - 1];
    if (last) await this.trimBefore({ ledgerId: last.ledgerId + 1, entryId: 0 });
    this.closed = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Tiered storage

  /** Reads of offloaded ledgers go to `t` (also the store offloads write to). */
  attachTieredStorage(t: TieredStorage | undefined): void {
    this.tiered = t;
    this.offloadedReaders.clear();
  }

  private requireTiered(): TieredStorage {
    if (!this.tiered) throw new MillraceError('OFFLOAD_NOT_CONFIGURED', `${this.name} has offloaded ledgers but the broker has no tieredStorage configured`);
    return this.tiered;
  }

  /**
   * A read is in offloaded ledger `l`: open the next offloaded ledgers' objects and fetch their first
   * blocks now (index, then data with read-ahead), once each, so a sequential reader does not wait
   * for them when it gets there. Read-ahead inside an object does not cross to the next one by itself.
   */
  private prefetchAfter(l: LedgerInfo): void {
    const at = searchLedgers(this.list, l.ledgerId);
    for (let i = at + 1; i <= at + PREFETCH_LEDGERS && i < this.list.length; i++) {
      const next = this.list[i]!;
      if (next.state !== 'offloaded') return;
      if (next.entries === 0 || this.prefetched.has(next.ledgerId)) continue;
      this.prefetched.add(next.ledgerId);
      this.offloadedReader(next).then((r) => r.readRange(r.firstEntryId, { maxEntries: 1, maxBytes: 1 })).catch(() => undefined);
    }
  }

  private offloadedReader(l: LedgerInfo): Promise<OffloadedLedgerReader> {
    let r = this.offloadedReaders.get(l.ledgerId);
    if (!r) {
      const o = l.offload!;
      const t = this.requireTiered();
      r = OffloadedLedgerReader.open(t.objects, o.key, { ledgerId: l.ledgerId, size: o.size!, indexChecksum: o.indexChecksum! }, t.cache);
      // A failed open (store unreachable) is retried by the next read, not remembered.
      r.catch(() => this.offloadedReaders.delete(l.ledgerId));
      this.offloadedReaders.set(l.ledgerId, r);
    }
    return r;
  }

  /**
   * Copies a sealed ledger to the object store and records the offload in its row, once the object
   * is written and verified (ledger-object.ts re-reads its trailer and index). The local copy stays:
   * {@link deleteLocalCopy} removes it later. An offload left incomplete by a crash is restarted
   * under a new uid and its partial object deleted. Resolves with the complete record.
   */
  async offloadLedger(ledgerId: number): Promise<OffloadRecord> {
    this.assertOpen();
    const t = this.requireTiered();
    const l = this.ledgerById(ledgerId);
    if (!l || l.state === 'open') throw new MillraceError('INVALID_ARGUMENT', `ledger ${ledgerId} of ${this.name} is not a sealed ledger`);
    if (l.offload?.complete) return { ...l.offload };
    if (l.offload) await t.objects.delete(l.offload.key).catch(() => undefined);
    const uid = randomUUID();
    const record: OffloadRecord = { uid, key: `${encodeURIComponent(this.name)}/${ledgerId}-${uid}`, complete: false };
    await this.putRow({ ...l, offload: record });
    l.offload = record;
    this.closedChanged();
    const summary = await writeLedgerObject(t.objects, record.key, ledgerId, this.localEntries(l));
    if (summary.entries !== l.entries) {
      throw new MillraceError('OFFLOAD_FAILED', `offload of ledger ${ledgerId} of ${this.name} wrote ${summary.entries} entries, the ledger holds ${l.entries}`);
    }
    const complete: OffloadRecord = { ...record, complete: true, size: summary.size, dataChecksum: summary.dataChecksum, indexChecksum: summary.indexChecksum, completedAt: this.options.now() };
    await this.putRow({ ...l, offload: complete });
    l.offload = complete;
    this.closedChanged();
    return { ...complete };
  }

  /** A sealed ledger's stored entries, validated, in chunks (never a torn or corrupt entry offloaded). */
  private async *localEntries(l: LedgerInfo): AsyncGenerator<OffloadEntry> {
    let from = 0;
    for (;;) {
      const chunk: OffloadEntry[] = [];
      for (const { key, value } of this.store.entries.getRange({ start: [this.mlId, l.ledgerId, from], end: [this.mlId, l.ledgerId, l.lastEntryId + 1], limit: OFFLOAD_CHUNK_ENTRIES })) {
        const position = { ledgerId: smallId(key[1]), entryId: smallId(key[2]) };
        const entry = this.checked(position, value);
        chunk.push({ entryId: smallId(key[2]), entry, publishTime: entryPublishTime(entry) });
      }
      if (chunk.length === 0) return;
      yield* chunk;
      from = chunk[chunk.length - 1]!.entryId + 1;
    }
  }

  /**
   * Deletes the local copy of a ledger whose offload is complete, after checking the object once
   * more (trailer and index checksums, entry count). The row keeps the ledger's figures, its gaps
   * and its per-entry message counts, so cursors and stats see no difference.
   */
  async deleteLocalCopy(ledgerId: number): Promise<void> {
    this.assertOpen();
    const t = this.requireTiered();
    const l = this.ledgerById(ledgerId);
    if (!l || l.state !== 'sealed' || !l.offload?.complete) {
      throw new MillraceError('INVALID_ARGUMENT', `ledger ${ledgerId} of ${this.name} has no complete offload to rely on`);
    }
    const reader = await OffloadedLedgerReader.open(t.objects, l.offload.key, { ledgerId, size: l.offload.size!, indexChecksum: l.offload.indexChecksum! }, t.cache);
    if (reader.entries !== l.entries) {
      throw new MillraceError('OFFLOAD_FAILED', `offloaded ledger ${ledgerId} of ${this.name} holds ${reader.entries} entries, the ledger ${l.entries}`);
    }
    const counts = new Uint16Array(l.lastEntryId + 1);
    const gaps: number[] = [];
    const keys: [number, number, number][] = [];
    let next = 0;
    for (const { key, value } of this.store.entries.getRange({ start: [this.mlId, ledgerId, 0], end: [this.mlId, ledgerId, l.lastEntryId + 1] })) {
      for (; next < key[2]; next++) gaps.push(next);
      counts[key[2]] = entryCount(value);
      keys.push(key);
      next = key[2] + 1;
    }
    for (; next <= l.lastEntryId; next++) gaps.push(next);
    const row: LedgerInfo = { ...l, state: 'offloaded', localDeletedAt: this.options.now(), ...(gaps.length > 0 ? { gaps } : {}) };
    try {
      await this.store.settle(this.store.root.transaction(() => {
        for (const k of keys) void this.store.entries.remove(k);
        void this.store.meta.put(['offload-counts', this.mlId, ledgerId], Buffer.from(counts.buffer, counts.byteOffset, counts.byteLength));
        void this.store.ledgers.put([this.mlId, ledgerId], row);
      }));
    } catch (cause) {
      throw new MillraceError('STORAGE_WRITE_FAILED', `deleting the local copy of ledger ${ledgerId} of ${this.name} failed`, { cause });
    }
    Object.assign(l, row);
    this.closedChanged();
    this.offloadedCounts.set(ledgerId, counts);
  }

  private async putRow(row: LedgerInfo): Promise<void> {
    try {
      await this.store.settle(this.store.ledgers.put([this.mlId, row.ledgerId], row));
    } catch (cause) {
      throw new MillraceError('STORAGE_WRITE_FAILED', `recording ledger ${row.ledgerId} of ${this.name} failed`, { cause });
    }
  }

  /** Whether an entry ID of a listed ledger holds an entry (false for a gap left by a failed write). */
  isStored(ledgerId: number, entryId: number): boolean {
    const l = this.ledgerById(ledgerId);
    if (!l || entryId < 0 || entryId > l.lastEntryId) return false;
    if (l.entries === l.lastEntryId + 1) return true;
    if (l.state === 'offloaded') return !(l.gaps ?? []).includes(entryId);
    return this.store.entries.doesExist([this.mlId, ledgerId, entryId]);
  }

  /** Messages in the stored entries [from, to] of a ledger, local or offloaded. */
  countMessages(ledgerId: number, from: number, to: number): number {
    if (to < from) return 0;
    const l = this.ledgerById(ledgerId);
    if (l?.state === 'offloaded') {
      let counts = this.offloadedCounts.get(ledgerId);
      if (!counts) {
        const raw = this.store.meta.get(['offload-counts', this.mlId, ledgerId]) as Uint8Array | undefined;
        counts = raw ? new Uint16Array(new Uint8Array(raw).buffer) : new Uint16Array(0);
        this.offloadedCounts.set(ledgerId, counts);
      }
      let n = 0;
      for (let i = Math.max(0, from); i <= to && i < counts.length; i++) n += counts[i]!;
      return n;
    }
    let n = 0;
    for (const { value } of this.store.entries.getRange({ start: [this.mlId, ledgerId, from], end: [this.mlId, ledgerId, to + 1] })) {
      n += entryCount(value);
    }
    return n;
  }

  /**
   * The oldest ledger when it is sealed or offloaded (the first one retention could delete), else
   * undefined. Not a copy, unlike {@link ledgers}: the cheap check made after every ack.
   */
  get oldestClosedLedger(): Readonly<LedgerInfo> | undefined {
    const l = this.list[0];
    return l && l.state !== 'open' ? l : undefined;
  }

  /** Ledgers in the list now, open one included. */
  get ledgerCount(): number {
    return this.list.length;
  }

  /**
   * The ledger list, oldest first, as frozen copies (the open ledger's copy is taken now). Only the
   * open ledger's copy is new on each call; the closed ones are shared until one of them changes.
   */
  ledgers(): Readonly<LedgerInfo>[] {
    const out = this.closedRows().slice();
    const open = this.openRow();
    if (open) out.push(open);
    return out;
  }

  /**
   * For a caller that keeps its own copy of the list and retakes it after every append (a cursor):
   * brings `copy` up to date and returns it. When no closed ledger changed since `copy` was made,
   * only its open ledger's row is replaced, in place: O(1) per append instead of a copy of every
   * row (thousands with long retention). Pass undefined the first time; never share the result.
   */
  refreshLedgers(copy: LedgerListCopy | undefined): LedgerListCopy {
    const closed = this.closedRows();
    const open = this.openRow();
    if (copy === undefined || copy.closed !== closed) {
      const list = closed.slice();
      if (open) list.push(open);
      return { closed, list };
    }
    const list = copy.list;
    list.length = closed.length;
    if (open) list.push(open);
    return copy;
  }

  /** The frozen copies of the closed ledgers, made again only after one of them changed. */
  private closedRows(): readonly Readonly<LedgerInfo>[] {
    if (this.closedCopies) return this.closedCopies;
    const list = this.list;
    const n = list.length > 0 && list[list.length - 1]!.state === 'open' ? list.length - 1 : list.length;
    const copies: Readonly<LedgerInfo>[] = new Array(n);
    for (let i = 0; i < n; i++) copies[i] = Object.freeze({ ...list[i]! });
    this.closedCopies = copies;
    return copies;
  }

  /** A frozen copy of the open ledger's row, undefined when there is none. */
  private openRow(): Readonly<LedgerInfo> | undefined {
    const last = this.list[this.list.length - 1];
    return last && last.state === 'open' ? Object.freeze({ ...last }) : undefined;
  }

  /** A closed ledger, or the list, changed: the next {@link ledgers} copies them again. */
  private closedChanged(): void {
    this.closedCopies = undefined;
  }

  /** Ledger `ledgerId` of the list, or undefined. */
  private ledgerById(ledgerId: number): LedgerInfo | undefined {
    const i = searchLedgers(this.list, ledgerId);
    return i < 0 ? undefined : this.list[i];
  }

  /** Index of the first ledger with an ID at or after `ledgerId` (list.length if none). */
  private firstLedgerFrom(ledgerId: number): number {
    const i = searchLedgers(this.list, ledgerId);
    return i >= 0 ? i : -i - 1;
  }

  /** The last durable position, undefined while the log is empty. */
  get lastConfirmed(): Position | undefined {
    return this.confirmed;
  }

  stats(): ManagedLedgerStats {
    let entries = 0;
    let messages = 0;
    let bytes = 0;
    let localBytes = 0;
    let offloadedBytes = 0;
    let firstPosition: Position | undefined;
    for (const l of this.list) {
      entries += l.entries;
      messages += l.messages;
      bytes += l.bytes;
      if (l.state !== 'offloaded') localBytes += l.bytes;
      if (l.offload?.complete) offloadedBytes += l.bytes;
      if (!firstPosition && l.entries > 0) firstPosition = this.firstStored(l);
    }
    return { entries, messages, bytes, localBytes, offloadedBytes, ledgerCount: this.list.length, firstPosition, lastConfirmed: this.confirmed };
  }

  private firstStored(l: LedgerInfo): Position | undefined {
    if (l.state === 'offloaded') {
      for (let e = 0; e <= l.lastEntryId; e++) if (!(l.gaps ?? []).includes(e)) return { ledgerId: l.ledgerId, entryId: e };
      return undefined;
    }
    for (const key of this.store.entries.getKeys({ start: [this.mlId, l.ledgerId, 0], end: [this.mlId, l.ledgerId, Number.MAX_SAFE_INTEGER], limit: 1 })) {
      return { ledgerId: smallId(key[1]), entryId: smallId(key[2]) };
    }
    return undefined;
  }

  /** Waits for pending appends, then refuses further calls. The store stays open. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drainInflight();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private assertOpen(): void {
    if (this.closed) throw new MillraceError('CLOSED', `managed ledger ${this.name} is closed`);
    if (this.store.isClosed) throw new MillraceError('CLOSED', `the store of ${this.name} is closed`);
  }
}

const ignore = (): void => undefined;

function assertPosition(p: Position): void {
  if (p === null || typeof p !== 'object' || !Number.isSafeInteger(p.ledgerId) || !Number.isSafeInteger(p.entryId) || p.ledgerId < 0 || p.entryId < 0) {
    throw new MillraceError('INVALID_ARGUMENT', `a position is { ledgerId, entryId } of non-negative integers, got ${JSON.stringify(p)}`);
  }
}
