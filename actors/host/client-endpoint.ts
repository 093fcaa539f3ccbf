/**
 * One client thread's side of the rings: per host slot a request ring (this thread writes) and a
 * reply ring (the host writes), request/reply correlation, the reply pump and the routing of actor
 * events. The main thread's ActorSystem has one (client 0); so has every thread that connected with
 * Broker.connect (its own client ID). Each ring has exactly one producer.
 *
 * A slot is one host generation: when a host dies its slot is failed (in-flight requests reject
 * with WORKER_DIED) and a fresh slot with fresh rings replaces it once the replacement host is up.
 * The dead writer may have left a claimed, uncommitted record in the old reply ring; a new ring
 * needs no unblocking.
 */
import { setImmediate as immediate } from 'node:timers/promises';
import { MillraceError } from '../../core/errors.js';
import { FragmentAssembler, RingBuffer, writeFragments } from '../ring/index.js';
import { holdEventLoop } from '../ring/wait.js';
import { Doorbell } from './doorbell.js';
import { EVENT_HEADER, RECORD_EVENT, RECORD_FRAGMENT, RECORD_REQUEST, REPLY_HEADER, REQUEST_HEADER, STATUS_OK, decodeError, writeRequestHeader } from './protocol.js';
import { deferred } from './deferred.js';

const EMPTY_BODY = new Uint8Array(0);

/**
 * Receives an actor's events (deliveries). `body` is a view into a ring slot, valid only during the
 * call: copy what is kept.
 */
export type EventHandler = (body: Uint8Array) => void;

/** Writes a request body into a ring slot (or, for a body too large for one record, an ordinary buffer sent in fragments). */
export type BodyWriter = (bytes: Uint8Array, offset: number) => void;

/** The rings a host must attach for one slot. */
export interface SlotRings {
  requests: SharedArrayBuffer;
  replies: SharedArrayBuffer;
  /** This client's doorbell: hosts ring it after writing a reply or an event. */
  bell: SharedArrayBuffer;
}

/**
 * Reads an OK reply's body in place, `view` over bytes [offset, offset + length) of the ring or of
 * an assembled record, and returns what the request resolves with. For small fixed replies read on
 * every message (an append's position): no copy of the body, no promise chained to decode it.
 * May throw (a malformed reply): the request then rejects with that error.
 */
export type ReplyDecoder<T> = (view: DataView, offset: number, length: number) => T;

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  decode: ReplyDecoder<unknown> | undefined;
}

interface Slot {
  index: number;
  generation: number;
  live: boolean;
  dead: boolean;
  hostBell: Doorbell;
  requests: RingBuffer;
  replies: RingBuffer;
  requestView: DataView;
  replyView: DataView;
  /** Rebuilds replies and events too large for one reply-ring record. */
  assembler: FragmentAssembler;
  pending: Map<number, Pending>;
  /**
   * Settles once the last request waiting for room in the request ring is written (or failed);
   * undefined when none waits. A later request goes behind it, never onto the ring first: requests
   * of one client reach the host in call order.
   */
  lastWaitingWrite: Promise<void> | undefined;
  /** Resolves once the host has attached this slot's rings; rejects if the slot fails first. */
  ready: Promise<void>;
  markReady(): void;
  failReady(err: unknown): void;
}

const PARK_MS = 20;
const noop = (): void => undefined;
const SPIN_CHECKS = 200;

export class ClientEndpoint {
  /** Rung by every host that writes to one of this client's reply rings. */
  readonly bell = Doorbell.create();
  private readonly slots: (Slot | undefined)[] = [];
  private readonly eventHandlers = new Map<number, EventHandler>();
  private nextRequestId = 1;
  private inflight = 0;
  private pumping = false;
  private releasePump: () => void = noop;
  private stopped = false;

  constructor(readonly clientId: number, private readonly ringBytes: number) {}

  /**
   * Opens slot `index` for host generation `generation` with fresh rings (failing an older slot of
   * that index, if any), and returns what the host must attach. Requests wait for `markLive`.
   */
  openSlot(index: number, generation: number, hostBell: SharedArrayBuffer): SlotRings {
    const old = this.slots[index];
    if (old && !old.dead) this.failSlot(index, old.generation, new MillraceError('WORKER_DIED', `host worker ${index} (generation ${old.generation}) was replaced`));
    const requests = RingBuffer.create(this.ringBytes);
    const replies = RingBuffer.create(this.ringBytes);
    const { promise: ready, resolve: markReady, reject: failReady } = deferred(true);
    this.slots[index] = {
      index, generation, live: false, dead: false, hostBell: Doorbell.attach(hostBell), requests, replies,
      requestView: new DataView(requests.buffer), replyView: new DataView(replies.buffer),
      assembler: new FragmentAssembler(), pending: new Map(), lastWaitingWrite: undefined, ready, markReady, failReady,
    };
    return { requests: requests.buffer, replies: replies.buffer, bell: this.bell.buffer };
  }

  /** The host of slot `index`, generation `generation`, attached the rings. */
  markLive(index: number, generation: number): void {
    const s = this.slots[index];
    if (!s || s.generation !== generation || s.dead) return;
    s.live = true;
    s.markReady();
  }

  /** The slot's host died (or the system is closing): its in-flight requests reject with `err`. */
  failSlot(index: number, generation: number, err: unknown): void {
    const s = this.slots[index];
    if (!s || s.generation !== generation || s.dead) return;
    s.live = false;
    s.dead = true;
    s.failReady(err);
    for (const p of s.pending.values()) p.reject(err);
    this.inflight -= s.pending.size;
    s.pending.clear();
  }

  /** Fails every slot (a shutdown of the whole system). */
  failAll(err: unknown): void {
    for (const s of this.slots) if (s) this.failSlot(s.index, s.generation, err);
  }

  /** Resolves once slot `index` is attached, following replacements made meanwhile. */
  async ready(index: number): Promise<void> {
    for (;;) {
      const s = this.slots[index];
      if (!s) throw new MillraceError('INVALID_ARGUMENT', `no host slot ${index}`);
      try {
        await s.ready;
        return;
      } catch (err) {
        if (this.slots[index] === s) throw err;
      }
    }
  }

  /** The generation of slot `index`, -1 when none is open. */
  generationOf(index: number): number {
    return this.slots[index]?.generation ?? -1;
  }

  get inflightCount(): number {
    return this.inflight;
  }

  /**
   * Sends one request to `actorId` on the host of slot `index`, which must still be generation
   * `generation` (else WORKER_DIED: the actor's host died since it was placed). The body is
   * written in place into the ring by `write`; a body too large for one ring record is written to
   * a buffer and goes through the ring in fragments. Resolves with a copy of the reply body or,
   * given `decode`, with what it reads from the body in place.
   */
  request(index: number, generation: number, actorId: number, op: number, bodyLength: number, write: BodyWriter): Promise<Uint8Array>;
  request<T>(index: number, generation: number, actorId: number, op: number, bodyLength: number, write: BodyWriter, decode: ReplyDecoder<T>): Promise<T>;
  request(index: number, generation: number, actorId: number, op: number, bodyLength: number, write: BodyWriter, decode?: ReplyDecoder<unknown>): Promise<unknown> {
    return this.requestWith(index, generation, actorId, op, bodyLength, write, decode);
  }

  /** {@link request} with its decoder given or not: for callers that pass one along. */
  requestWith(index: number, generation: number, actorId: number, op: number, bodyLength: number, write: BodyWriter, decode: ReplyDecoder<unknown> | undefined): Promise<unknown> {
    const slot = this.slots[index];
    if (!slot || slot.generation !== generation || slot.dead) {
      return Promise.reject(new MillraceError('WORKER_DIED', `host worker ${index} (generation ${generation}) is down; its actors are restarting`));
    }
    if (!slot.live) return slot.ready.then(() => this.requestWith(index, generation, actorId, op, bodyLength, write, decode));
    const requestId = this.nextRequestId;
    this.nextRequestId = (this.nextRequestId + 1) >>> 0 || 1;
    const promise = new Promise<unknown>((resolve, reject) => slot.pending.set(requestId, { resolve, reject, decode }));
    this.inflight++;
    let large: (() => boolean) | undefined;
    let written: boolean;
    try {
      if (REQUEST_HEADER + bodyLength > slot.requests.maxRecordLength) large = this.fragmented(slot, requestId, actorId, op, bodyLength, write);
      // Behind requests already waiting for room: written now, this one would reach the host before
      // them (an append of a later batch stored before an earlier one of the same producer, which
      // deduplication then took for a duplicate once the earlier one's gap had closed).
      written = slot.lastWaitingWrite === undefined && (large ? large() : this.tryWrite(slot, requestId, actorId, op, bodyLength, write));
    } catch (err) {
      this.forget(slot, requestId);
      return Promise.reject(err);
    }
    if (written) {
      this.pump();
      return promise;
    }
    // Nothing awaits `promise` until this request is on the ring: if the slot fails first, its
    // rejection (failSlot) must not be unhandled, which kills the process. The caller gets the
    // failure through `mine`.
    promise.catch(noop);
    const attempt = large ?? ((): boolean => this.tryWrite(slot, requestId, actorId, op, bodyLength, write));
    const before = slot.lastWaitingWrite ?? Promise.resolve();
    const mine = before.then(() => this.writeSlow(slot, attempt));
    // The next waiting request follows this one whatever becomes of it.
    const settled = mine.then(noop, noop);
    slot.lastWaitingWrite = settled;
    void settled.then(() => {
      if (slot.lastWaitingWrite === settled) slot.lastWaitingWrite = undefined;
    });
    return mine.then(() => {
      this.pump();
      return promise;
    }, (err: unknown) => {
      this.forget(slot, requestId);
      throw err;
    });
  }

  private forget(slot: Slot, requestId: number): void {
    if (slot.pending.delete(requestId)) this.inflight--;
  }

  /** One attempt: true when the request is on the ring, false when the ring is full. */
  private tryWrite(slot: Slot, requestId: number, actorId: number, op: number, bodyLength: number, write: BodyWriter): boolean {
    const at = slot.requests.tryClaim(RECORD_REQUEST, REQUEST_HEADER + bodyLength);
    if (at < 0) return false;
    try {
      writeRequestHeader(slot.requestView, at, requestId, actorId, op);
      write(slot.requests.bytes, at + REQUEST_HEADER);
    } catch (err) {
      slot.requests.abort(at);
      throw err;
    }
    slot.requests.commit(at);
    slot.hostBell.ring();
    return true;
  }

  /**
   * A request too large for one record: built whole in an ordinary buffer (where `write` throws,
   * if it does, before anything is on the ring), then written as fragments. The returned attempt
   * writes what fits and returns true once the last fragment is on the ring; called again, it
   * goes on where it stopped.
   */
  private fragmented(slot: Slot, requestId: number, actorId: number, op: number, bodyLength: number, write: BodyWriter): () => boolean {
    const record = new Uint8Array(REQUEST_HEADER + bodyLength);
    writeRequestHeader(new DataView(record.buffer), 0, requestId, actorId, op);
    write(record, REQUEST_HEADER);
    let sent = 0;
    return () => {
      const reached = writeFragments(slot.requests, RECORD_FRAGMENT, RECORD_REQUEST, record, sent);
      if (reached > sent) slot.hostBell.ring();
      sent = reached;
      return sent === record.length;
    };
  }

  private async writeSlow(slot: Slot, attempt: () => boolean): Promise<void> {
    // Ring full: the host is behind. Wait for it rather than queue without bound (backpressure).
    for (;;) {
      if (slot.dead) throw new MillraceError('WORKER_DIED', `host worker ${slot.index} died`);
      slot.hostBell.ring();
      await immediate();
      if (slot.dead) throw new MillraceError('WORKER_DIED', `host worker ${slot.index} died`);
      if (attempt()) return;
    }
  }

  /**
   * Routes an actor's events to `handler` until the returned function is called. While any handler
   * is registered the reply pump runs (parked in Atomics.waitAsync, with a timer that keeps the
   * process alive: an open consumer keeps its thread alive, a closed one does not).
   */
  onEvent(actorId: number, handler: EventHandler): () => void {
    this.eventHandlers.set(actorId, handler);
    this.pump();
    return () => {
      if (this.eventHandlers.get(actorId) === handler) this.eventHandlers.delete(actorId);
    };
  }

  /** Stops the pump once nothing is in flight; event handlers no longer keep it running. */
  stop(): void {
    this.stopped = true;
    this.bell.ring();
  }

  private deliver(actorId: number, body: Uint8Array): void {
    const h = this.eventHandlers.get(actorId);
    if (h) h(body);
  }

  /**
   * Drains reply rings while requests are in flight or events are awaited. It holds no handle of
   * its own between parks: once nothing is in flight and no handler listens, it ends.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    // Held while the pump runs (it is always parked or waiting for setImmediate), not per park.
    this.releasePump = holdEventLoop();
    this.pumpTurn();
  }

  /**
   * The pump, a pass at a time, as the host loop's turn: a setImmediate callback and a park's
   * then(), not an async loop awaiting timers/promises' setImmediate, whose promises were the
   * largest part of this thread's garbage per message at low rates (about 1.8 KB a wake-up).
   */
  private readonly pumpTurn = (): void => {
    try {
      for (;;) {
        if (!(this.inflight > 0 || (this.eventHandlers.size > 0 && !this.stopped))) {
          this.endPump();
          return;
        }
        if (this.drainReplies() > 0) {
          setImmediate(this.pumpTurn);
          return;
        }
        let found = false;
        for (let i = 0; i < SPIN_CHECKS && !found; i++) found = this.hasReplies();
        if (found) continue;
        this.bell.park(PARK_MS, this.hasRepliesNow).then(this.pumpTurn, this.pumpFailed);
        return;
      }
    } catch (err) {
      this.pumpFailed(err);
    }
  };

  private readonly pumpFailed = (err: unknown): void => {
    this.endPump();
    throw err;
  };

  private endPump(): void {
    this.releasePump();
    this.releasePump = noop;
    this.pumping = false;
  }

  private readonly hasRepliesNow = (): boolean => this.hasReplies();

  private hasReplies(): boolean {
    for (const s of this.slots) if (s && s.replies.hasData()) return true;
    return false;
  }

  private drainReplies(): number {
    let n = 0;
    for (const s of this.slots) {
      if (!s) continue;
      n += s.replies.read((type, bytes, offset, length) => {
        if (type !== RECORD_FRAGMENT) {
          this.onRecord(s, type, bytes, s.replyView, offset, length, false);
          return;
        }
        const record = s.assembler.add(bytes, offset, length);
        if (record) this.onRecord(s, s.assembler.type, record, new DataView(record.buffer, record.byteOffset, record.byteLength), 0, record.length, true);
      });
    }
    return n;
  }

  /**
   * One reply or event, `bytes[offset, offset + length)`, read through `view` (a view of `bytes`).
   * `owned`: `bytes` is a record assembled from fragments, nobody else's, so a reply body is a view
   * of it; a body in the ring is copied out before the ring reuses its bytes.
   */
  private onRecord(s: Slot, type: number, bytes: Uint8Array, view: DataView, offset: number, length: number, owned: boolean): void {
    if (type === RECORD_EVENT) {
      this.deliver(view.getUint32(offset, true), bytes.subarray(offset + EVENT_HEADER, offset + length));
      return;
    }
    const requestId = view.getUint32(offset, true);
    const status = view.getInt32(offset + 4, true);
    const p = s.pending.get(requestId);
    if (!p) return;
    s.pending.delete(requestId);
    this.inflight--;
    if (status === STATUS_OK && p.decode !== undefined) {
      let value: unknown;
      try {
        value = p.decode(view, offset + REPLY_HEADER, length - REPLY_HEADER);
      } catch (err) {
        p.reject(err);
        return;
      }
      p.resolve(value);
      return;
    }
    // Most replies to acks and flows are empty: one shared empty body, not a new buffer each.
    const at = offset + REPLY_HEADER;
    const body = length === REPLY_HEADER ? EMPTY_BODY : owned ? bytes.subarray(at, offset + length) : bytes.slice(at, offset + length);
    if (status === STATUS_OK) p.resolve(body);
    else p.reject(decodeError(body));
  }
}
