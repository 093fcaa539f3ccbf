/**
 * A reader: a non-durable view of a topic from a chosen start (earliest, latest, after a message ID,
 * or at a publish time). It pulls entries from each partition with long-poll reads, keeps at most
 * `receiverQueueSize` messages buffered, and stores no cursor: nothing about it survives a restart.
 */
import { MillraceError } from '../../core/errors.js';
import { MessageId } from '../../core/topic/index.js';
import { Schemas, type Schema } from '../../core/schema/index.js';
import type { Position } from '../../core/log/index.js';
import { EntryMessage, MessageSource, OutEntry, type Message } from './message.js';
import { Fifo } from './fifo.js';
import { MAX_TIMEOUT_MS, signalOption, timeoutOption } from './call-options.js';
import { EntryView } from './entry-view.js';
import type { PartitionClient } from './partition-client.js';

/** Options of `broker.createReader`. */
export interface ReaderOptions<T = Uint8Array> {
  topic: string;
  /** Start after this message (exclusive), or at `MessageId.earliest` / `MessageId.latest`. @default MessageId.latest */
  startMessageId?: MessageId;
  /**
   * Start at `startMessageId` itself rather than after it (Pulsar's `startMessageIdInclusive`); with
   * `MessageId.latest`, at the last message stored, so the reader gets it first. @default false
   */
  startMessageIdInclusive?: boolean;
  /** Start at the first message published at or after this epoch ms (instead of startMessageId: not both). */
  startTimeMs?: number;
  /** @default 1000 */
  receiverQueueSize?: number;
  /** @default Schemas.bytes */
  schema?: Schema<T>;
}

interface Part {
  client: PartitionClient;
  partition: number;
  next: Position;
  /** Skip batch indexes up to this one in the entry at `next` (an exclusive start inside a batch). */
  skipThrough: number;
  fetching: boolean;
  /**
   * Bumped by seek: the fetch that was running (maybe parked in a long poll at the old end) drops
   * what it gets and leaves, and a new one starts from the new position at once.
   */
  fetchId: number;
  /** What this partition's messages share (made on the first fetch). */
  src?: MessageSource<unknown>;
}

// A long poll returns at once when entries arrive; this bounds how long a quiet one stays parked.
const POLL_WAIT_MS = 1_000;
// Entries per read at most (small entries: 64 round trips' worth of work per read).
const MAX_READ_ENTRIES = 64;
/** The last long-poll key given to a reader of this thread (keys are per client thread). */
let lastPollKey = 0;

export class Reader<T = Uint8Array> implements AsyncIterable<Message<T>>, AsyncDisposable {
  private readonly queue = new Fifo<Message<T>>();
  private readonly waiters: (() => void)[] = [];
  private readonly schema: Schema<T>;
  private readonly capacity: number;
  /** Buffered messages at or below which reading ahead starts again (see fill). */
  private readonly refillAt: number;
  private closed = false;
  /** Messages per entry seen so far (a moving average; 0 until one is seen): sizes each read. */
  private messagesPerEntry = 0;
  /** A partition's read failed for good (corrupt data): readNext throws it once the buffer is empty. */
  private failure: MillraceError | undefined;
  /** Names this reader's long polls at the partitions: the read a seek starts ends the one it left parked. */
  private readonly pollKey = (lastPollKey = (lastPollKey + 1) >>> 0 || 1);

  private constructor(readonly topic: string, private readonly parts: Part[], options: ReaderOptions<T>) {
    this.schema = options.schema ?? (Schemas.bytes as unknown as Schema<T>);
    this.capacity = options.receiverQueueSize ?? 1000;
    this.refillAt = Math.floor(this.capacity / 2);
  }

  /** @internal Created by `broker.createReader`. */
  static async create<T>(topic: string, clients: { client: PartitionClient; partition: number }[], options: ReaderOptions<T>): Promise<Reader<T>> {
    const rq = options.receiverQueueSize ?? 1000;
    // 0 or a negative size buffered nothing: every readNext returned null, as if the topic were empty.
    if (!Number.isInteger(rq) || rq < 1) throw new MillraceError('INVALID_ARGUMENT', `receiverQueueSize must be an integer >= 1, got ${String(rq)}`);
    // Both named two starts, and which one won was not said anywhere: startTimeMs did, silently.
    if (options.startTimeMs !== undefined && options.startMessageId !== undefined) {
      throw new MillraceError('INVALID_ARGUMENT', 'give a reader startMessageId or startTimeMs, not both');
    }
    const start = options.startMessageId ?? MessageId.latest;
    if (!(start instanceof MessageId)) throw new MillraceError('INVALID_ARGUMENT', 'startMessageId must be a MessageId');
    const inclusive = options.startMessageIdInclusive ?? false;
    if (typeof inclusive !== 'boolean') throw new MillraceError('INVALID_ARGUMENT', `startMessageIdInclusive must be a boolean, got ${String(inclusive)}`);
    const parts: Part[] = await Promise.all(clients.map(async ({ client, partition }) => {
      const part: Part = { client, partition, next: { ledgerId: 0, entryId: 0 }, skipThrough: -1, fetching: false, fetchId: 0 };
      if (options.startTimeMs !== undefined) {
        if (!Number.isFinite(options.startTimeMs)) throw new MillraceError('INVALID_ARGUMENT', `startTimeMs must be epoch ms, got ${options.startTimeMs}`);
        part.next = await startOf(client, options.startTimeMs);
      } else if (start.isLatest && inclusive) {
        // The last message itself: its entry, from its batch index (the whole entry's successor if
        // retention deleted it, which is where an exclusive latest starts too).
        const last = await client.lastMessage();
        if (last === undefined) part.next = await startOf(client, start);
        else if (last.batchIndex < 0) part.next = { ledgerId: last.position.ledgerId, entryId: last.position.entryId + 1 };
        else {
          part.next = last.position;
          part.skipThrough = last.batchIndex - 1;
        }
      } else if (start.isEarliest || start.isLatest) {
        part.next = await startOf(client, start);
      } else if (start.partition === partition || clients.length === 1) {
        // A batch index of -1 names the whole entry: after it, or (inclusive) from its first message.
        if (start.batchIndex < 0) part.next = { ledgerId: start.ledgerId, entryId: start.entryId + (inclusive ? 0 : 1) };
        else if (inclusive) {
          part.next = { ledgerId: start.ledgerId, entryId: start.entryId };
          part.skipThrough = start.batchIndex - 1;
        } else {
          part.next = { ledgerId: start.ledgerId, entryId: start.entryId };
          part.skipThrough = start.batchIndex;
        }
      } else {
        part.next = { ledgerId: 0, entryId: 0 };
      }
      return part;
    }));
    const r = new Reader<T>(topic, parts, options);
    r.fill();
    return r;
  }

  /**
   * Starts reading ahead once half the buffer has been taken, then reads until it is full again
   * (Pulsar's consumer asks for more permits at half its receiver queue): a read per message taken
   * made the reads one entry each, and the two threads took turns waiting for each other.
   */
  private fill(): void {
    if (this.failure || this.closed || this.size > this.refillAt) return;
    for (const p of this.parts) if (!p.fetching) void this.fetch(p);
  }

  private async fetch(p: Part): Promise<void> {
    p.fetching = true;
    const id = p.fetchId;
    try {
      while (!this.closed && this.size < this.capacity) {
        // Entries enough for the room left at the batch size seen so far (one until an entry was
        // seen): a fixed 64 entries of 1,000-message batches buffered 64 times receiverQueueSize.
        const room = this.capacity - this.size;
        const maxEntries = this.messagesPerEntry === 0 ? 1 : Math.max(1, Math.min(MAX_READ_ENTRIES, Math.ceil(room / this.messagesPerEntry)));
        const entries = await p.client.readRange(p.next, { maxEntries, waitMs: POLL_WAIT_MS, pollKey: this.pollKey });
        if (this.closed || id !== p.fetchId) return;
        const src = (p.src ??= new MessageSource<T>(this.topic, p.partition, this.schema, this)) as MessageSource<T>;
        for (const { position, entry } of entries) {
          // One header walk per entry; each message reads its fields only when asked.
          const view = new EntryView(entry);
          // A moving average, so one odd batch size does not swing the next read's length.
          this.messagesPerEntry = this.messagesPerEntry === 0 ? Math.max(1, view.count) : this.messagesPerEntry + (Math.max(1, view.count) - this.messagesPerEntry) / 8;
          const rec = new OutEntry(0, position.ledgerId, position.entryId, view.count, 0);
          const skip = position.ledgerId === p.next.ledgerId && position.entryId === p.next.entryId ? p.skipThrough : -1;
          for (let i = skip + 1; i < view.count; i++) {
            this.queue.push(new EntryMessage<T>(src, view, i, 0, rec));
          }
          p.next = { ledgerId: position.ledgerId, entryId: position.entryId + 1 };
          p.skipThrough = -1;
        }
        if (entries.length > 0) for (const w of this.waiters.splice(0)) w();
      }
    } catch (err) {
      if (id !== p.fetchId) return; // a seek moved this partition: what the old read met no longer matters
      if (this.closed || (err instanceof MillraceError && err.code === 'CLOSED')) {
        // closing: nothing to report
      } else if (err instanceof MillraceError && !err.retriable) {
        // Data that cannot be read as stored (a corrupt entry or offloaded object): report it, never
        // skip it silently and never retry forever.
        this.failure = err;
        for (const w of this.waiters.splice(0)) w();
        return;
      } else {
        // A worker death or an object store away: back off and read again from where this partition stopped.
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      if (id === p.fetchId) p.fetching = false;
    }
    if (id === p.fetchId && !this.closed && this.size < this.capacity) this.fill();
  }

  private get size(): number {
    return this.queue.size;
  }

  /** @internal Messages read ahead and not yet taken (tests read it). */
  get bufferedCount(): number {
    return this.queue.size;
  }

  private take(): Message<T> | undefined {
    return this.queue.shift();
  }

  /**
   * The next message, or null when none arrives within `timeoutMs` (default: wait) or the reader
   * closes meanwhile. On a reader closed already it rejects with CLOSED, as receive does.
   */
  readNext(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Message<T> | null> {
    if (this.closed) return Promise.reject(new MillraceError('CLOSED', 'the reader is closed'));
    // A buffered message without an async function's frame or a read of the clock: a replay takes
    // millions of them, and the two were a fifth of the application thread's time per message.
    // Its options are checked once it has to wait, as consumer.receive does.
    const m = this.take();
    if (m) {
      this.fill();
      return Promise.resolve(m);
    }
    return this.waitNext(options);
  }

  private async waitNext(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<Message<T> | null> {
    const timeoutMs = timeoutOption(options.timeoutMs);
    const signal = signalOption(options.signal);
    const deadline = timeoutMs === undefined ? Infinity : Date.now() + timeoutMs;
    for (;;) {
      if (this.closed) return null;
      const m = this.take();
      if (m) {
        this.fill();
        return m;
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0 || signal?.aborted) return null;
      await new Promise<void>((resolve) => {
        // Every way out removes the others: a signal kept for a whole read loop must not collect a
        // listener per call (Node warns past ten, and each holds its call's closure).
        const done = (): void => {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          const at = this.waiters.indexOf(done);
          if (at >= 0) this.waiters.splice(at, 1);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, MAX_TIMEOUT_MS));
        this.waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  /** True when a message is buffered or a partition has entries past where this reader is. */
  async hasMessageAvailable(): Promise<boolean> {
    if (this.size > 0) return true;
    for (const p of this.parts) {
      const last = await p.client.lastPosition();
      // A fetch may have landed during the await: what it moved past `next` is in the buffer now.
      if (this.size > 0) return true;
      if (last && (last.ledgerId > p.next.ledgerId || (last.ledgerId === p.next.ledgerId && last.entryId >= p.next.entryId))) return true;
    }
    return this.size > 0;
  }

  /**
   * Moves the reader, as Pulsar's `Reader.seek`: to a message ID (that message is the next one read;
   * only its partition moves), to `MessageId.earliest` or `MessageId.latest` (every partition), or to
   * a publish time in epoch ms (every partition: the first message published at or after it). What
   * was buffered from before is dropped, and so is a read that was in flight: the next message read
   * comes from the new position. Replaying a topic again (an ML epoch) is `seek(MessageId.earliest)`.
   */
  async seek(target: MessageId | number): Promise<void> {
    if (this.closed) throw new MillraceError('CLOSED', 'the reader is closed');
    let moves: { part: Part; next: Position; skipThrough: number }[];
    if (typeof target === 'number') {
      if (!Number.isFinite(target)) throw new MillraceError('INVALID_ARGUMENT', `seek takes a MessageId or a publish time in epoch ms, got ${target}`);
    } else if (!(target instanceof MessageId)) {
      throw new MillraceError('INVALID_ARGUMENT', 'seek takes a MessageId or a publish time in epoch ms');
    }
    if (typeof target === 'number' || target.isEarliest || target.isLatest) {
      moves = await Promise.all(this.parts.map(async (part) => ({ part, next: await startOf(part.client, target), skipThrough: -1 })));
    } else {
      const part = this.parts.length === 1 ? this.parts[0] : this.parts.find((p) => p.partition === target.partition);
      if (!part) throw new MillraceError('INVALID_ARGUMENT', `message ID ${target.toString()} is not of ${this.topic}`);
      // Inclusive: the entry from the message's batch index on (a whole-entry ID, index -1, from its start).
      moves = [{ part, next: { ledgerId: target.ledgerId, entryId: target.entryId }, skipThrough: Math.max(-1, target.batchIndex - 1) }];
    }
    if (this.closed) throw new MillraceError('CLOSED', 'the reader is closed');
    // A failure was of data behind the old position; reading from the new one may meet it again.
    this.failure = undefined;
    for (const m of moves) {
      m.part.next = m.next;
      m.part.skipThrough = m.skipThrough;
      m.part.fetchId++;
      m.part.fetching = false;
    }
    // Messages of a partition that did not move stay valid; the moved ones' buffered messages go.
    const moved = new Set(moves.map((m) => m.part.partition));
    this.queue.retain((msg) => !moved.has((msg as EntryMessage<T>).src.partition));
    this.fill();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message<T>> {
    while (!this.closed) {
      const m = await this.readNext();
      if (!m) return;
      yield m;
    }
  }

  /** Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) w();
    // A poll left parked at the end would wait out its second and then read an append for nobody;
    // a broker that is closing answers them all itself.
    await Promise.all(this.parts.map((p) => (p.fetching ? p.client.endPoll(this.pollKey).catch(() => undefined) : undefined)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Where a partition is read from for `MessageId.earliest`, for `MessageId.latest` (after its last
 * entry), or for a publish time (its first entry published at or after it, else after its last).
 */
async function startOf(client: PartitionClient, where: MessageId | number): Promise<Position> {
  if (typeof where === 'number') return (await client.findByTime(where)) ?? afterLast(client);
  return where.isLatest ? afterLast(client) : { ledgerId: 0, entryId: 0 };
}

async function afterLast(client: PartitionClient): Promise<Position> {
  const last = await client.lastPosition();
  return last ? { ledgerId: last.ledgerId, entryId: last.entryId + 1 } : { ledgerId: 0, entryId: 0 };
}
