/**
 * A single-producer single-consumer ring of variable-length records in a SharedArrayBuffer, after
 * Aeron's OneToOneRingBuffer: the layout is drawn in ./ring-layout.ts. One thread writes (tryWrite /
 * tryClaim+commit, or the blocking and async variants), one other thread reads (read, batch drain
 * with one head update per batch). Hot-path methods return status codes and never throw for a full
 * ring; they throw MillraceError INVALID_ARGUMENT only for a caller bug (a record larger than
 * `maxRecordLength`, a bad type or range).
 */
import { MillraceError } from '../../core/errors.js';
import {
  HEADER_LENGTH, MAX_CAPACITY, MIN_CAPACITY, PADDING_TYPE, RING_LAYOUT_VERSION, RING_MAGIC,
  TRAILER_LENGTH, isPowerOfTwo, maxPayloadLength, trailerIndexes,
} from './ring-layout.js';
import { resolveRingOptions, type ResolvedRingOptions, type RingOptions } from './ring-options.js';
import { PAUSE_ITERATIONS, parkAsync, parkSync, pause, wakeIfParked } from './wait.js';

/** Called by {@link RingBuffer.read} per record; `bytes[offset, offset + length)` is the payload. */
export type RecordHandler = (type: number, bytes: Uint8Array, offset: number, length: number) => void;

/** Largest int32: the default read limit (the tail snapshot bounds a batch anyway). */
const NO_LIMIT = 0x7fffffff;

export class RingBuffer {
  /** The shared memory: hand it to the other thread, which calls {@link RingBuffer.attach}. */
  readonly buffer: SharedArrayBuffer;
  /** Bytes of the data region (a power of two). */
  readonly capacity: number;
  /** Largest payload tryWrite / tryClaim accept: capacity / 8. Larger is a caller bug (INVALID_ARGUMENT). */
  readonly maxRecordLength: number;
  /**
   * The data region. Write a claimed payload at the offset tryClaim returned; read a payload in the
   * handler at the offset it was given. The slot is reused once read() returns: copy what you keep.
   */
  readonly bytes: Uint8Array;

  private readonly i32: Int32Array;
  private readonly mask: number;
  private readonly tailIndex: number;
  private readonly headIndex: number;
  private readonly dataWaitIndex: number;
  private readonly spaceWaitIndex: number;
  private readonly options: ResolvedRingOptions;
  /** log2 of the stretch an empty ring checks at (64 KiB; an eighth of a smaller ring, so tests see it). */
  private readonly pageShift: number;
  /** Writer: last head it loaded; reloaded only when the cached value says "full" (Aeron's headCache). */
  private headCache: number;
  /** Reader: position of a claimed record seen at head, and since when (performance.now(); -1 = none). */
  private stuckPosition = 0;
  private stuckSinceMs = -1;

  private constructor(buffer: SharedArrayBuffer, capacity: number, options: ResolvedRingOptions) {
    this.buffer = buffer;
    this.capacity = capacity;
    this.maxRecordLength = maxPayloadLength(capacity);
    this.bytes = new Uint8Array(buffer, 0, capacity);
    this.i32 = new Int32Array(buffer);
    this.mask = capacity - 1;
    const t = trailerIndexes(capacity);
    this.tailIndex = t.tail;
    this.headIndex = t.head;
    this.dataWaitIndex = t.dataWait;
    this.spaceWaitIndex = t.spaceWait;
    this.options = options;
    this.pageShift = Math.log2(Math.min(65536, capacity / 8));
    this.headCache = Atomics.load(this.i32, this.headIndex);
  }

  /**
   * Allocates a ring of `capacityBytes` of data (a power of two, 1 KiB .. 1 GiB) plus a 640-byte
   * trailer. Throws MillraceError INVALID_ARGUMENT for any other capacity.
   */
  static create(capacityBytes: number, options?: RingOptions): RingBuffer {
    RingBuffer.checkCapacity(capacityBytes);
    const resolved = resolveRingOptions(options);
    const buffer = new SharedArrayBuffer(capacityBytes + TRAILER_LENGTH);
    const i32 = new Int32Array(buffer);
    const t = trailerIndexes(capacityBytes);
    i32[t.tail] = resolved.initialPosition;
    i32[t.head] = resolved.initialPosition;
    i32[t.magic] = RING_MAGIC;
    i32[t.version] = RING_LAYOUT_VERSION;
    // The last store is atomic: a thread that attaches after receiving the buffer sees all of the above.
    Atomics.store(i32, t.capacity, capacityBytes);
    return new RingBuffer(buffer, capacityBytes, resolved);
  }

  /** Throws MillraceError INVALID_ARGUMENT unless {@link RingBuffer.create} accepts `capacityBytes`. */
  static checkCapacity(capacityBytes: number): void {
    if (!isPowerOfTwo(capacityBytes) || capacityBytes < MIN_CAPACITY || capacityBytes > MAX_CAPACITY) {
      throw new MillraceError('INVALID_ARGUMENT',
        `ring capacity must be a power of two from ${MIN_CAPACITY} to ${MAX_CAPACITY} bytes, got ${capacityBytes}`);
    }
  }

  /** Attaches to a ring made by {@link RingBuffer.create} (usually on another thread); validates the layout. */
  static attach(buffer: SharedArrayBuffer, options?: RingOptions): RingBuffer {
    if (!(buffer instanceof SharedArrayBuffer)) {
      throw new MillraceError('INVALID_ARGUMENT', 'RingBuffer.attach needs the SharedArrayBuffer of a ring');
    }
    const capacity = buffer.byteLength - TRAILER_LENGTH;
    if (!isPowerOfTwo(capacity) || capacity < MIN_CAPACITY || capacity > MAX_CAPACITY) {
      throw new MillraceError('INVALID_ARGUMENT',
        `a ring buffer is a power-of-two data region plus a ${TRAILER_LENGTH}-byte trailer; got ${buffer.byteLength} bytes`);
    }
    const i32 = new Int32Array(buffer);
    const t = trailerIndexes(capacity);
    const magic = Atomics.load(i32, t.magic);
    const version = Atomics.load(i32, t.version);
    const stored = Atomics.load(i32, t.capacity);
    if (magic !== RING_MAGIC || stored !== capacity) {
      throw new MillraceError('INVALID_ARGUMENT',
        `buffer is not a Millrace ring (magic 0x${(magic >>> 0).toString(16)}, capacity word ${stored}, expected 0x${RING_MAGIC.toString(16)} and ${capacity})`);
    }
    if (version !== RING_LAYOUT_VERSION) {
      throw new MillraceError('INVALID_ARGUMENT', `ring layout version ${version} is not supported (this code reads version ${RING_LAYOUT_VERSION})`);
    }
    return new RingBuffer(buffer, capacity, resolveRingOptions(options));
  }

  // ---------------------------------------------------------------------------------------------
  // Writer

  /**
   * Copies one record into the ring and publishes it. Returns false when the ring has no room (the
   * caller decides: retry, writeBlocking, writeAsync). Throws INVALID_ARGUMENT for a type outside
   * 0..2^31-1, a range outside `src`, or a payload longer than {@link maxRecordLength}.
   */
  tryWrite(type: number, src: Uint8Array, srcOffset = 0, length = src.length - srcOffset): boolean {
    const at = this.reserve(type, length, srcOffset, src.length);
    if (at < 0) return false;
    const i32 = this.i32;
    const w = at >> 2;
    i32[w] = length + HEADER_LENGTH; // plain stores: published by the atomic tail store below
    i32[w + 1] = type;
    const bytes = this.bytes;
    const dst = at + HEADER_LENGTH;
    if (length <= 32) {
      // A loop beats TypedArray#set for a few bytes (set pays a call and a bounds check into C++).
      for (let i = 0; i < length; i++) bytes[dst + i] = src[srcOffset + i]!;
    } else {
      bytes.set(srcOffset === 0 && length === src.length ? src : src.subarray(srcOffset, srcOffset + length), dst);
    }
    Atomics.store(i32, this.tailIndex, this.pendingTail);
    if (Atomics.load(i32, this.dataWaitIndex) !== 0) wakeIfParked(i32, this.dataWaitIndex, this.tailIndex);
    return true;
  }

  /**
   * Reserves room for a payload of `length` bytes and publishes it as claimed (negative length): the
   * reader stops at it until {@link commit} or {@link abort}. Returns the offset in {@link bytes} where
   * the payload goes, or -1 when the ring is full. Several claims may be open at once; the reader
   * delivers in position order. Throws INVALID_ARGUMENT like {@link tryWrite}.
   */
  tryClaim(type: number, length: number): number {
    const at = this.reserve(type, length, 0, length);
    if (at < 0) return -1;
    const i32 = this.i32;
    const w = at >> 2;
    i32[w] = -(length + HEADER_LENGTH);
    i32[w + 1] = type;
    Atomics.store(i32, this.tailIndex, this.pendingTail);
    return at + HEADER_LENGTH;
  }

  /**
   * Commits a claimed record (negative length becomes positive, by compare-and-swap). Returns false
   * when the claim is no longer open: the reader unblocked it (it stayed claimed past
   * `claimTimeoutMs`, the record is lost and was never delivered), or `offset` was not a claim.
   */
  commit(offset: number): boolean {
    const w = this.claimWord(offset);
    const i32 = this.i32;
    const claimed = i32[w]!;
    if (claimed >= 0) return false;
    const won = Atomics.compareExchange(i32, w, claimed, -claimed) === claimed;
    if (won && Atomics.load(i32, this.dataWaitIndex) !== 0) wakeIfParked(i32, this.dataWaitIndex, this.tailIndex);
    return won;
  }

  /** Gives a claim back: the record becomes padding the reader skips. Returns false if it was not open. */
  abort(offset: number): boolean {
    const w = this.claimWord(offset);
    const i32 = this.i32;
    const claimed = i32[w]!;
    if (claimed >= 0) return false;
    i32[w + 1] = PADDING_TYPE; // published by the CAS below
    const won = Atomics.compareExchange(i32, w, claimed, -claimed) === claimed;
    if (won && Atomics.load(i32, this.dataWaitIndex) !== 0) wakeIfParked(i32, this.dataWaitIndex, this.tailIndex);
    return won;
  }

  /**
   * Worker threads: writes one record, waiting for room if needed: spins, then parks in Atomics.wait
   * on head (the reader notifies when it frees space while the writer's flag is up). Throws
   * MillraceError RING_FULL (retriable) when there is still no room after `timeoutMs`: it never drops.
   * On the main thread use {@link writeAsync} (Atomics.wait would freeze the event loop).
   */
  writeBlocking(type: number, src: Uint8Array, timeoutMs: number, srcOffset = 0, length = src.length - srcOffset): void {
    if (this.tryWrite(type, src, srcOffset, length)) return;
    for (let i = this.options.spinIterations; i > 0; i--) {
      pause(PAUSE_ITERATIONS); // do not hammer the reader's head line while it drains
      if (this.tryWrite(type, src, srcOffset, length)) return;
    }
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      Atomics.store(i32, this.spaceWaitIndex, 1);
      const head = Atomics.load(i32, this.headIndex);
      if (this.tryWrite(type, src, srcOffset, length)) {
        Atomics.store(i32, this.spaceWaitIndex, 0);
        return;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        Atomics.store(i32, this.spaceWaitIndex, 0);
        throw this.fullError(length, timeoutMs);
      }
      parkSync(i32, this.headIndex, head, remaining);
    }
  }

  /** Main thread: {@link writeBlocking} with Atomics.waitAsync; rejects with RING_FULL after `timeoutMs`. */
  async writeAsync(type: number, src: Uint8Array, timeoutMs: number, srcOffset = 0, length = src.length - srcOffset): Promise<void> {
    if (this.tryWrite(type, src, srcOffset, length)) return;
    for (let i = this.options.spinIterations; i > 0; i--) {
      pause(PAUSE_ITERATIONS); // do not hammer the reader's head line while it drains
      if (this.tryWrite(type, src, srcOffset, length)) return;
    }
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      Atomics.store(i32, this.spaceWaitIndex, 1);
      const head = Atomics.load(i32, this.headIndex);
      if (this.tryWrite(type, src, srcOffset, length)) {
        Atomics.store(i32, this.spaceWaitIndex, 0);
        return;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        Atomics.store(i32, this.spaceWaitIndex, 0);
        throw this.fullError(length, timeoutMs);
      }
      await parkAsync(i32, this.headIndex, head, remaining);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Reader

  /**
   * Delivers up to `limit` committed records to `handler`, in order, then advances head once for the
   * whole batch (one atomic store, one flag check). Stops early at a claimed record. Returns how many
   * records were delivered (padding is skipped and not counted). If the handler throws, the records
   * before it and the one that threw count as consumed, and the error propagates.
   */
  read(handler: RecordHandler, limit = NO_LIMIT): number {
    const i32 = this.i32;
    const bytes = this.bytes;
    const mask = this.mask;
    const head = i32[this.headIndex]!; // only this side writes head
    const tail = Atomics.load(i32, this.tailIndex);
    let position = head;
    let count = 0;
    try {
      while (position !== tail && count < limit) {
        const index = position & mask;
        const w = index >> 2;
        const length = Atomics.load(i32, w);
        if (length <= 0) {
          this.noteClaim(position);
          break;
        }
        const type = i32[w + 1]!;
        position = (position + ((length + 7) & ~7)) | 0;
        if (type !== PADDING_TYPE) {
          count++;
          handler(type, bytes, index + HEADER_LENGTH, length - HEADER_LENGTH);
        }
      }
    } finally {
      if (position !== head) {
        this.stuckSinceMs = -1;
        Atomics.store(i32, this.headIndex, position);
        if (Atomics.load(i32, this.spaceWaitIndex) !== 0) wakeIfParked(i32, this.spaceWaitIndex, this.headIndex);
      }
    }
    return count;
  }

  /** True when at least one committed, non-padding record is ready at head. Reader side. */
  hasData(): boolean {
    const i32 = this.i32;
    const tail = Atomics.load(i32, this.tailIndex);
    let position = i32[this.headIndex]!;
    while (position !== tail) {
      const w = (position & this.mask) >> 2;
      const length = Atomics.load(i32, w);
      if (length <= 0) {
        this.noteClaim(position);
        return false;
      }
      if (i32[w + 1] !== PADDING_TYPE) return true;
      position = (position + ((length + 7) & ~7)) | 0;
    }
    return false;
  }

  /**
   * Worker threads: waits until a record is ready or `timeoutMs` passes: spins `spinIterations`
   * times, then parks in Atomics.wait on tail with the dataWait flag up (the writer then notifies on
   * its next publish or commit). Returns true if data is ready. Main thread: {@link waitForDataAsync}.
   */
  waitForData(timeoutMs: number): boolean {
    // Pause before every poll, even the first: see pause() for the measurement.
    for (let i = this.options.spinIterations; i >= 0; i--) {
      pause(PAUSE_ITERATIONS);
      if (this.hasData()) return true;
    }
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      Atomics.store(i32, this.dataWaitIndex, 1);
      const tail = Atomics.load(i32, this.tailIndex);
      if (this.hasData()) {
        Atomics.store(i32, this.dataWaitIndex, 0);
        return true;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        Atomics.store(i32, this.dataWaitIndex, 0);
        return false;
      }
      parkSync(i32, this.tailIndex, tail, remaining);
    }
  }

  /** Main thread: {@link waitForData} with Atomics.waitAsync (the wait keeps the event loop alive). */
  async waitForDataAsync(timeoutMs: number): Promise<boolean> {
    // Pause before every poll, even the first: see pause() for the measurement.
    for (let i = this.options.spinIterations; i >= 0; i--) {
      pause(PAUSE_ITERATIONS);
      if (this.hasData()) return true;
    }
    const i32 = this.i32;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      Atomics.store(i32, this.dataWaitIndex, 1);
      const tail = Atomics.load(i32, this.tailIndex);
      if (this.hasData()) {
        Atomics.store(i32, this.dataWaitIndex, 0);
        return true;
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        Atomics.store(i32, this.dataWaitIndex, 0);
        return false;
      }
      await parkAsync(i32, this.tailIndex, tail, remaining);
    }
  }

  /**
   * Aeron's unblock, reader side: if the record at head has stayed claimed (negative length) for
   * `claimTimeoutMs` or more since this reader first saw it there, takes it over with a
   * compare-and-swap (so a late commit of a live writer either wins before, or fails and learns it),
   * skips it, and advances head. A writer killed between claim and commit thus blocks the reader for
   * `claimTimeoutMs`, not forever. Returns true if it unblocked a record.
   */
  unblock(): boolean {
    const i32 = this.i32;
    const head = i32[this.headIndex]!;
    const tail = Atomics.load(i32, this.tailIndex);
    if (head === tail) return false;
    const w = (head & this.mask) >> 2;
    const claimed = Atomics.load(i32, w);
    if (claimed >= 0) return false;
    this.noteClaim(head);
    if (performance.now() - this.stuckSinceMs < this.options.claimTimeoutMs) return false;
    if (Atomics.compareExchange(i32, w, claimed, -claimed) !== claimed) return false; // committed meanwhile
    i32[w + 1] = PADDING_TYPE;
    this.stuckSinceMs = -1;
    Atomics.store(i32, this.headIndex, (head + ((-claimed + 7) & ~7)) | 0);
    if (Atomics.load(i32, this.spaceWaitIndex) !== 0) wakeIfParked(i32, this.spaceWaitIndex, this.headIndex);
    return true;
  }

  /** Bytes in use: records not yet read, claims, and padding. */
  size(): number {
    const tail = Atomics.load(this.i32, this.tailIndex);
    const head = Atomics.load(this.i32, this.headIndex);
    return (tail - head) | 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** Tail after the record reserve() placed; stored by the caller once the header is written. */
  private pendingTail = 0;

  /**
   * Finds room for a record of `length` payload bytes: returns its data index (after writing a padding
   * record if it had to wrap) and sets pendingTail, or returns -1 when full. Validates the arguments.
   */
  private reserve(type: number, length: number, srcOffset: number, srcLength: number): number {
    if ((type | 0) !== type || type < 0 || !(length >= 0 && length <= this.maxRecordLength)
      || (length | 0) !== length || (srcOffset | 0) !== srcOffset || srcOffset < 0 || srcOffset + length > srcLength) {
      throw this.argumentError(type, length, srcOffset, srcLength);
    }
    const i32 = this.i32;
    const capacity = this.capacity;
    const tail = i32[this.tailIndex]!; // only the writer stores tail
    const aligned = (length + HEADER_LENGTH + 7) & ~7;
    const index = tail & this.mask;
    const toEnd = capacity - index;
    // An empty ring past its first eighth goes back to the start (a padding record to the end, as at
    // a wrap), so a ring drained as fast as it is written keeps reusing its first pages: memory a
    // ring has touched stays resident, and a busy process has a request and a reply ring per
    // client thread and host (2 MiB each by default). Checked only when the record crosses into the
    // next 64 KiB of the ring: loading the reader's head line once per 4 KiB page cost 7% of
    // ring.spsc.1KiB (the line bounces between the two cores at every read).
    const shift = this.pageShift;
    if (index >= this.maxRecordLength && ((index + aligned - 1) >> shift) !== (index >> shift) && aligned <= index) {
      this.headCache = Atomics.load(i32, this.headIndex);
      if (this.headCache === tail) {
        this.pendingTail = (tail + toEnd + aligned) | 0;
        i32[index >> 2] = toEnd;
        i32[(index >> 2) + 1] = PADDING_TYPE;
        return 0;
      }
    }
    const required = aligned <= toEnd ? aligned : aligned + toEnd;
    if (required > capacity - ((tail - this.headCache) | 0)) {
      this.headCache = Atomics.load(i32, this.headIndex);
      if (required > capacity - ((tail - this.headCache) | 0)) return -1;
    }
    this.pendingTail = (tail + required) | 0;
    if (aligned <= toEnd) return index;
    // Wrap: fill to the end with one padding record; the record goes at index 0.
    i32[index >> 2] = toEnd;
    i32[(index >> 2) + 1] = PADDING_TYPE;
    return 0;
  }

  private claimWord(offset: number): number {
    const at = offset - HEADER_LENGTH;
    if ((offset | 0) !== offset || at < 0 || at >= this.capacity || (at & 7) !== 0) {
      throw new MillraceError('INVALID_ARGUMENT', `${offset} is not an offset returned by tryClaim (an 8-aligned offset + 8 inside 0..${this.capacity})`);
    }
    return at >> 2;
  }

  private noteClaim(position: number): void {
    if (this.stuckSinceMs < 0 || this.stuckPosition !== position) {
      this.stuckPosition = position;
      this.stuckSinceMs = performance.now();
    }
  }

  private argumentError(type: number, length: number, srcOffset: number, srcLength: number): MillraceError {
    if ((type | 0) !== type || type < 0) {
      return new MillraceError('INVALID_ARGUMENT', `record type must be an integer from 0 to 2^31-1 (-1 is padding), got ${type}`);
    }
    if (length > this.maxRecordLength) {
      return new MillraceError('INVALID_ARGUMENT',
        `record payload of ${length} bytes exceeds maxRecordLength ${this.maxRecordLength} (capacity ${this.capacity} / 8); split it or use a larger ring`);
    }
    return new MillraceError('INVALID_ARGUMENT',
      `record range offset ${srcOffset}, length ${length} must be integers >= 0 inside the source of ${srcLength} bytes`);
  }

  private fullError(length: number, timeoutMs: number): MillraceError {
    return new MillraceError('RING_FULL',
      `ring stayed full for ${timeoutMs} ms: a ${length}-byte record did not fit (${this.size()} of ${this.capacity} bytes in use); the reader is slow or stopped`,
      { retriable: true });
  }
}
