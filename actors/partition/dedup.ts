/**
 * Producer deduplication of one partition, by exact sequence-ID ranges. Per producer name: a low
 * watermark (every ID at or below it counts as persisted, Pulsar's rule) and the exact ranges
 * persisted above it (at most {@link MAX_RANGES}; the oldest is folded into the watermark when
 * there are more). A batch is a duplicate only for the IDs it shares with what is persisted or in
 * flight; its other IDs are stored even when higher ones already are. So a resend that a later batch
 * overtook (a producer resending after WORKER_DIED) is stored, where Pulsar's "highest ID" rule
 * would drop it as a duplicate and lose it.
 *
 * The state is rebuilt from the log itself: every entry carries its producer name and sequence IDs.
 * A snapshot (watermarks, ranges and the position they cover) is written now and then so a restart
 * only scans the entries after it. The snapshot is only ever written for durable entries, so it
 * never claims a sequence ID the log does not hold (that would drop a real message as a duplicate).
 */
import type { ManagedLedger, Position } from '../../core/log/index.js';
import type { Store } from '../../core/storage/store.js';
import { ENTRY_HEADER_SIZE, MESSAGE_HEADER_SIZE, OFF_COUNT, OFF_PRODUCER_LEN } from '../../wasm/entry-format.js';
import { entryBaseSequenceId } from '../../wasm/index.js';

/**
 * The stored snapshot. Version 1 had `producers` only (the highest persisted ID each); read as
 * watermarks it means the same thing, so an old data directory keeps working.
 */
interface Snapshot {
  ledgerId: number;
  entryId: number;
  /** Low watermark per producer key. */
  producers: Record<string, number>;
  /** Exact persisted ranges above the watermark, flat [first, last, first, last, ...], sorted. */
  ranges?: Record<string, number[]>;
}

// Entries between snapshots: a restart rescans at most this many (about a second of heavy traffic).
const SNAPSHOT_EVERY_ENTRIES = 5_000;

/**
 * Exact ranges kept per producer above its watermark. Ranges only stay apart while a gap is open (a
 * batch overtaken, not yet resent); an in-order producer has none. A gap older than this many
 * ranges is closed by Pulsar's rule: its IDs count as persisted.
 */
export const MAX_RANGES = 64;

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');

// The last key made and its bytes: an append looks its producer up three times (check, accept,
// persisted) and a producer sends many entries, so the string is made once, not once per lookup.
let lastKeyBytes = new Uint8Array(0);
let lastKey = '';

/** The producer name stored in an entry (bytes 32..32+prodLen), as a latin1 key. */
export function entryProducerKey(entry: Uint8Array): string {
  const len = entry[12]! | (entry[13]! << 8);
  const end = Math.min(32 + len, entry.length);
  const n = end > 32 ? end - 32 : 0;
  if (n === lastKeyBytes.length) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (entry[32 + i] !== lastKeyBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastKey;
  }
  lastKey = latin1(entry.subarray(32, 32 + len));
  lastKeyBytes = entry.slice(32, 32 + n);
  return lastKey;
}

/**
 * The sequence IDs of an entry as runs of consecutive IDs, flat [first, last, ...] in increasing
 * order; undefined when the entry has none. Walks the record headers only. Called before the ledger
 * validates the entry, so a malformed one gives undefined (and the ledger then refuses it) instead of
 * a throw or a wrong range.
 */
export function entrySequenceRuns(entry: Uint8Array): number[] | undefined {
  if (entry.length < ENTRY_HEADER_SIZE) return undefined;
  const base = entryBaseSequenceId(entry);
  if (base < 0 || !Number.isSafeInteger(base)) return undefined;
  const dv = new DataView(entry.buffer, entry.byteOffset, entry.length);
  const count = dv.getUint16(OFF_COUNT, true);
  let pos = ENTRY_HEADER_SIZE + dv.getUint16(OFF_PRODUCER_LEN, true);
  const runs: number[] = [];
  let prev = -1;
  for (let i = 0; i < count; i++) {
    if (pos + MESSAGE_HEADER_SIZE > entry.length) return undefined;
    const size = dv.getUint32(pos, true);
    const id = base + dv.getUint32(pos + 12, true);
    if (size < MESSAGE_HEADER_SIZE || id <= prev || !Number.isSafeInteger(id)) return undefined;
    if (runs.length > 0 && id === prev + 1) runs[runs.length - 1] = id;
    else runs.push(id, id);
    prev = id;
    pos += size;
  }
  return runs.length > 0 ? runs : undefined;
}

/** One producer's state. */
interface ProducerIds {
  /** Every ID at or below it counts as persisted; -1: none. */
  low: number;
  /** Exact persisted ranges above `low + 1`: flat, sorted, disjoint and not adjacent. */
  ranges: number[];
  /** Highest ID persisted or in flight: a batch starting above it is new without looking further. */
  top: number;
  /** Runs of the entries accepted and neither persisted nor rejected yet, by entry. */
  inflight: Map<Uint8Array, number[]>;
}

/** What {@link DedupState.check} found. */
export interface DedupCheck {
  /** 'append': every ID is new; 'duplicate': none is; 'partial': some are (keep those, see isNew). */
  verdict: 'append' | 'duplicate' | 'partial';
  /** The producer key of the entry ('' when it has no name or no sequence IDs). */
  producer: string;
}

const APPEND_UNNAMED: DedupCheck = Object.freeze({ verdict: 'append', producer: '' });

export class DedupState {
  private readonly ids = new Map<string, ProducerIds>();
  private sinceSnapshot = 0;

  private constructor(private readonly store: Store, private readonly ml: ManagedLedger, private readonly maxRanges: number) {}

  /** Loads the snapshot and replays the entries after it. `maxRanges` is for tests. */
  static async recover(store: Store, ml: ManagedLedger, options: { maxRanges?: number } = {}): Promise<DedupState> {
    const d = new DedupState(store, ml, Math.max(1, options.maxRanges ?? MAX_RANGES));
    const covered = d.load(store.topics.get(['dedup', ml.name]));
    let from: Position = covered ? { ledgerId: covered.ledgerId, entryId: covered.entryId + 1 } : { ledgerId: 0, entryId: 0 };
    for (;;) {
      const rs = await ml.readRange(from, { maxEntries: 1000 });
      if (rs.length === 0) break;
      for (const r of rs) d.notePersisted(r.entry, undefined);
      const last = rs[rs.length - 1]!.position;
      from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
    }
    return d;
  }

  /**
   * Takes a stored snapshot and returns the position it covers; undefined (and nothing taken) when
   * there is none or it is malformed, and then the whole log is replayed: slower, never wrong.
   */
  private load(raw: unknown): Position | undefined {
    if (raw === null || typeof raw !== 'object') return undefined;
    const snap = raw as Partial<Snapshot>;
    if (!Number.isSafeInteger(snap.ledgerId) || !Number.isSafeInteger(snap.entryId) || snap.producers === null || typeof snap.producers !== 'object') return undefined;
    const taken = new Map<string, ProducerIds>();
    for (const [k, low] of Object.entries(snap.producers)) {
      if (!Number.isSafeInteger(low) || low < -1) return undefined;
      taken.set(k, { low, ranges: [], top: low, inflight: new Map() });
    }
    if (snap.ranges !== undefined) {
      if (snap.ranges === null || typeof snap.ranges !== 'object') return undefined;
      for (const [k, r] of Object.entries(snap.ranges)) {
        const p = taken.get(k);
        if (!p || !Array.isArray(r) || r.length % 2 !== 0) return undefined;
        let prev = p.low + 1;
        for (let i = 0; i < r.length; i += 2) {
          const first = r[i] as unknown;
          const last = r[i + 1] as unknown;
          if (!Number.isSafeInteger(first) || !Number.isSafeInteger(last) || (first as number) <= prev || (last as number) < (first as number)) return undefined;
          prev = (last as number) + 1;
        }
        p.ranges = r.slice() as number[];
        if (r.length > 0) p.top = r[r.length - 1] as number;
      }
    }
    for (const [k, p] of taken) this.ids.set(k, p);
    return { ledgerId: snap.ledgerId!, entryId: snap.entryId! };
  }

  /**
   * Checks a laid-out entry before it is appended. 'append': every ID is new; 'duplicate': every ID
   * is persisted or in flight; 'partial': some are new, the others are to be dropped (see isNew).
   */
  check(entry: Uint8Array): DedupCheck {
    if (entry.length < ENTRY_HEADER_SIZE) return APPEND_UNNAMED;
    const base = entryBaseSequenceId(entry);
    if (base < 0) return APPEND_UNNAMED;
    const producer = entryProducerKey(entry);
    if (producer === '') return APPEND_UNNAMED;
    const p = this.ids.get(producer);
    // The hot path: an in-order producer's next batch starts above everything it sent.
    if (!p || base > p.top) return { verdict: 'append', producer };
    const runs = entrySequenceRuns(entry);
    if (!runs) return { verdict: 'append', producer };
    let fresh = 0;
    let old = 0;
    for (let i = 0; i < runs.length; i += 2) {
      for (let id = runs[i]!; id <= runs[i + 1]!; id++) {
        if (this.known(p, id)) old++;
        else fresh++;
        if (fresh > 0 && old > 0) return { verdict: 'partial', producer };
      }
    }
    return { verdict: fresh === 0 ? 'duplicate' : 'append', producer };
  }

  /** Whether `sequenceId` of the producer `producerKey` is neither persisted nor in flight. */
  isNew(producerKey: string, sequenceId: number): boolean {
    const p = this.ids.get(producerKey);
    return !p || !this.known(p, sequenceId);
  }

  private known(p: ProducerIds, id: number): boolean {
    if (id <= p.low || id > p.top) return id <= p.low;
    if (inRanges(p.ranges, id)) return true;
    for (const runs of p.inflight.values()) if (inRanges(runs, id)) return true;
    return false;
  }

  /** The entry was accepted for appending (in flight): a resend of it meanwhile is a duplicate. */
  accept(entry: Uint8Array): void {
    const runs = entrySequenceRuns(entry);
    if (!runs) return;
    const producer = entryProducerKey(entry);
    if (producer === '') return;
    const p = this.producer(producer);
    p.inflight.set(entry, runs);
    p.top = Math.max(p.top, runs[runs.length - 1]!);
  }

  /** The append failed: forget its IDs, so a retry is not dropped. */
  reject(entry: Uint8Array): void {
    const p = this.ids.get(entryProducerKey(entry));
    // `top` stays: it only bounds the fast path, and a retry below it takes the exact one.
    p?.inflight.delete(entry);
  }

  /** The entry is durable at `position`. */
  persistedAt(entry: Uint8Array, position: Position): void {
    this.notePersisted(entry, entry);
    if (++this.sinceSnapshot >= SNAPSHOT_EVERY_ENTRIES) {
      this.sinceSnapshot = 0;
      void this.snapshot(position).catch(() => undefined);
    }
  }

  private notePersisted(entry: Uint8Array, inflightKey: Uint8Array | undefined): void {
    const producer = entryProducerKey(entry);
    if (producer === '') return;
    const known = inflightKey && this.ids.get(producer)?.inflight.get(inflightKey);
    const runs = known || entrySequenceRuns(entry);
    if (!runs) return;
    const p = this.producer(producer);
    if (inflightKey) p.inflight.delete(inflightKey);
    for (let i = 0; i < runs.length; i += 2) this.addPersisted(p, runs[i]!, runs[i + 1]!);
    p.top = Math.max(p.top, runs[runs.length - 1]!);
  }

  private addPersisted(p: ProducerIds, first: number, last: number): void {
    if (last <= p.low) return;
    first = Math.max(first, p.low + 1);
    const r = p.ranges;
    if (first === p.low + 1 && (r.length === 0 || last + 1 < r[0]!)) {
      p.low = last; // in order: the usual case, nothing to merge
      return;
    }
    // Merge [first, last] with every range it overlaps or touches.
    let i = 0;
    while (i < r.length && r[i + 1]! + 1 < first) i += 2;
    let j = i;
    while (j < r.length && r[j]! <= last + 1) {
      first = Math.min(first, r[j]!);
      last = Math.max(last, r[j + 1]!);
      j += 2;
    }
    r.splice(i, j - i, first, last);
    // A range that now starts right after the watermark joins it.
    if (r[0] === p.low + 1) {
      p.low = r[1]!;
      r.splice(0, 2);
    }
    // Too many gaps open: the oldest closes (its IDs count as persisted, Pulsar's rule).
    while (r.length > this.maxRanges * 2) {
      p.low = r[1]!;
      r.splice(0, 2);
    }
  }

  private producer(key: string): ProducerIds {
    let p = this.ids.get(key);
    if (!p) this.ids.set(key, (p = { low: -1, ranges: [], top: -1, inflight: new Map() }));
    return p;
  }

  /** The highest sequence ID persisted for a producer name (its UTF-8 bytes as latin1), -1 if none. */
  lastSequenceId(producerKey: string): number {
    const p = this.ids.get(producerKey);
    if (!p) return -1;
    return p.ranges.length > 0 ? p.ranges[p.ranges.length - 1]! : p.low;
  }

  /** @internal For tests: a producer's watermark and exact ranges. */
  persistedRanges(producerKey: string): { low: number; ranges: number[] } {
    const p = this.ids.get(producerKey);
    return { low: p?.low ?? -1, ranges: p ? p.ranges.slice() : [] };
  }

  /** Writes the snapshot covering every entry up to `position` (all durable). */
  async snapshot(position: Position | undefined = this.ml.lastConfirmed): Promise<void> {
    if (!position) return;
    const producers: Record<string, number> = {};
    const ranges: Record<string, number[]> = {};
    for (const [k, p] of this.ids) {
      if (p.low < 0 && p.ranges.length === 0) continue;
      producers[k] = p.low;
      if (p.ranges.length > 0) ranges[k] = p.ranges.slice();
    }
    const snap: Snapshot = { ledgerId: position.ledgerId, entryId: position.entryId, producers, ranges };
    await this.store.settle(this.store.topics.put(['dedup', this.ml.name], snap));
  }
}

/** Whether `id` is in the flat sorted ranges (binary search). */
function inRanges(r: number[], id: number): boolean {
  let lo = 0;
  let hi = r.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (id < r[mid * 2]!) hi = mid - 1;
    else if (id > r[mid * 2 + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}
