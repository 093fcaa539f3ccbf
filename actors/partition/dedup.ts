/**
 * Producer deduplication of one partition, as Pulsar's MessageDeduplication: the highest sequence ID
 * persisted per producer name. A batch whose IDs are all at or below it is a duplicate (a producer
 * resending after a crash or a WORKER_DIED): dropped and acknowledged as such.
 *
 * The state is rebuilt from the log itself: every entry carries its producer name and sequence IDs.
 * A snapshot (the map and the position it covers) is written now and then so a restart only scans
 * the entries after it. The snapshot is only ever written for durable entries, so it never claims
 * a sequence ID the log does not hold (that would drop a real message as a duplicate).
 */
import type { ManagedLedger, Position } from '../../core/log/index.js';
import type { Store } from '../../core/storage/store.js';
import { entryBaseSequenceId, entryLastSequenceId } from '../../wasm/index.js';

interface Snapshot {
  ledgerId: number;
  entryId: number;
  producers: Record<string, number>;
}

// Entries between snapshots: a restart rescans at most this many (about a second of heavy traffic).
const SNAPSHOT_EVERY_ENTRIES = 5_000;

const latin1 = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');

/** The producer name stored in an entry (bytes 32..32+prodLen), as a latin1 key. */
export function entryProducerKey(entry: Uint8Array): string {
  const len = entry[12]! | (entry[13]! << 8);
  return latin1(entry.subarray(32, 32 + len));
}

export class DedupState {
  /** Highest sequence ID persisted, per producer name (latin1 of its UTF-8 bytes). */
  private readonly persisted = new Map<string, number>();
  /** Highest sequence ID accepted, persisted or in flight: a resend of an in-flight batch is a duplicate too. */
  private readonly accepted = new Map<string, number>();
  private sinceSnapshot = 0;

  private constructor(private readonly store: Store, private readonly ml: ManagedLedger) {}

  /** Loads the snapshot and replays the entries after it. */
  static async recover(store: Store, ml: ManagedLedger): Promise<DedupState> {
    const d = new DedupState(store, ml);
    const snap = store.topics.get(['dedup', ml.name]) as Snapshot | undefined;
    let from: Position = { ledgerId: 0, entryId: 0 };
    if (snap && typeof snap.ledgerId === 'number') {
      for (const [k, v] of Object.entries(snap.producers)) d.persisted.set(k, v);
      from = { ledgerId: snap.ledgerId, entryId: snap.entryId + 1 };
    }
    for (;;) {
      const rs = await ml.readRange(from, { maxEntries: 1000 });
      if (rs.length === 0) break;
      for (const r of rs) d.note(r.entry, d.persisted);
      const last = rs[rs.length - 1]!.position;
      from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
    }
    for (const [k, v] of d.persisted) d.accepted.set(k, v);
    return d;
  }

  private note(entry: Uint8Array, into: Map<string, number>): void {
    if (entryBaseSequenceId(entry) < 0) return;
    const name = entryProducerKey(entry);
    if (name === '') return;
    const last = entryLastSequenceId(entry);
    if (last > (into.get(name) ?? -1)) into.set(name, last);
  }

  /**
   * Checks a laid-out entry before it is appended. 'append': new; 'duplicate': every ID is at or
   * below what was accepted; 'partial': some IDs are new (the caller drops the old ones).
   */
  check(entry: Uint8Array): { verdict: 'append' | 'duplicate' | 'partial'; highest: number } {
    const base = entryBaseSequenceId(entry);
    if (base < 0) return { verdict: 'append', highest: -1 };
    const name = entryProducerKey(entry);
    if (name === '') return { verdict: 'append', highest: -1 };
    const highest = this.accepted.get(name) ?? -1;
    const last = entryLastSequenceId(entry);
    if (last <= highest) return { verdict: 'duplicate', highest };
    return { verdict: base > highest ? 'append' : 'partial', highest };
  }

  /** The entry was accepted for appending (in flight). */
  accept(entry: Uint8Array): void {
    this.note(entry, this.accepted);
  }

  /** The append failed: forget what was accepted but never persisted, so a retry is not dropped. */
  reject(entry: Uint8Array): void {
    const name = entryProducerKey(entry);
    const p = this.persisted.get(name);
    if (p === undefined) this.accepted.delete(name);
    else this.accepted.set(name, p);
  }

  /** The entry is durable at `position`. */
  persistedAt(entry: Uint8Array, position: Position): void {
    this.note(entry, this.persisted);
    if (++this.sinceSnapshot >= SNAPSHOT_EVERY_ENTRIES) {
      this.sinceSnapshot = 0;
      void this.snapshot(position).catch(() => undefined);
    }
  }

  /** The last sequence ID persisted for a producer name (its UTF-8 bytes as latin1), -1 if none. */
  lastSequenceId(producerKey: string): number {
    return this.persisted.get(producerKey) ?? -1;
  }

  /** Writes the snapshot covering every entry up to `position` (all durable). */
  async snapshot(position: Position | undefined = this.ml.lastConfirmed): Promise<void> {
    if (!position) return;
    const snap: Snapshot = { ledgerId: position.ledgerId, entryId: position.entryId, producers: Object.fromEntries(this.persisted) };
    await this.store.settle(this.store.topics.put(['dedup', this.ml.name], snap));
  }
}
