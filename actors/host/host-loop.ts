/**
 * The host loop: what one pool worker runs for its whole life. It serves many actors: it drains the
 * request ring of every attached client thread, hands each request to its actor, and writes replies
 * to that client's reply ring. When there is no work it re-checks briefly, then, as its idle
 * strategy says (idle-strategy.ts), keeps polling in short slices while traffic is recent and a core
 * is spare, or parks on its doorbell with Atomics.waitAsync. Either way the worker's event loop
 * (LMDB commit callbacks, actor timers, the control port) keeps running, and no core burns while
 * nothing happens.
 */
import type { MessagePort } from 'node:worker_threads';
import { MillraceError } from '../../core/errors.js';
import { Store, type Durability } from '../../core/storage/store.js';
import { FragmentAssembler, RingBuffer, copyRecord, recordLength, splitFragments, writeFragments, type RecordParts } from '../ring/index.js';
import { holdEventLoop } from '../ring/wait.js';
import { Doorbell } from './doorbell.js';
import { IdleGate, LONG_SLICE_MS, SLICE_MS, SpinToken, type IdleStrategy } from './idle-strategy.js';
import type { Actor, ActorFactory, Reply } from './actor.js';
import { EVENT_HEADER, RECORD_EVENT, RECORD_FRAGMENT, RECORD_REPLY, OP_QUIET_REPLY, REPLY_HEADER, REQUEST_HEADER, STATUS_ERROR, STATUS_OK, encodeError } from './protocol.js';
import type { ControlToHost, HostToControl } from './control.js';

/** What the pool hands each host task. Plain data, a MessagePort and SharedArrayBuffers only. */
export interface HostInit {
  hostId: number;
  generation: number;
  port: MessagePort;
  bell: SharedArrayBuffer;
  dataDir: string;
  durability: Durability;
  idleStrategy: IdleStrategy;
  /** The process's {@link SpinToken}: under 'adaptive', one host spins at a time. */
  spinToken: SharedArrayBuffer;
  /** Actor kinds: name -> module URL whose `default` export is an ActorFactory. */
  kinds: Record<string, string>;
}

interface ClientLink {
  id: number;
  requests: RingBuffer;
  replies: RingBuffer;
  requestView: DataView;
  replyView: DataView;
  bell: Doorbell;
  /** Rebuilds requests too large for one request-ring record. */
  assembler: FragmentAssembler;
  /** Replies and events that found the reply ring full, in order; flushed before anything newer. */
  backlog: { type: number; record: Uint8Array }[];
}

/**
 * An actor that wants to know when a client thread detaches (closed or ended) may implement this;
 * the host calls it after dropping the client's rings, e.g. to remove that client's consumers at
 * once so what they held is redelivered, instead of on the next failed delivery.
 */
export interface ClientAware {
  detachClient?(clientId: number): void;
}

interface Hosted {
  actor: Actor;
  timers: Set<NodeJS.Timeout>;
}

// Re-checks of the rings before parking: about 20-40 us here, less than one futex wake.
const SPIN_CHECKS = 200;
// Park at most this long: a safety net, the doorbell wakes the host at once.
const PARK_MS = 50;
// With replies waiting for room, the client frees space without ringing; look again soon.
const BACKLOG_PARK_MS = 1;
// Records per ring per pass, so one busy client cannot starve the others.
const DRAIN_LIMIT = 256;

export class HostLoop {
  private readonly clients = new Map<number, ClientLink>();
  /**
   * The same clients as an array, for the idle checks: a spinning host checks its rings millions of
   * times a second, and an indexed loop has no iterator for the optimizer to elide (or not).
   */
  private clientList: ClientLink[] = [];
  private readonly actors = new Map<number, Hosted>();
  private readonly factories = new Map<string, Promise<ActorFactory>>();
  /** Actors stopped for good with a reason (see ControlToHost 'stop'), by ID: their requests' error. */
  private readonly gone = new Map<number, Uint8Array>();
  private readonly bell: Doorbell;
  private readonly idle: IdleGate;
  private stopping = false;
  /** performance.now() of the last pass that found work (the idle strategy spins only while it is recent). */
  private lastWork = -Infinity;
  /** Settles run()'s loop: resolved once stopping, rejected if a pass throws. */
  private loopDone: { resolve(): void; reject(err: unknown): void } | undefined;

  constructor(private readonly init: HostInit, private readonly store: Store) {
    this.bell = Doorbell.attach(init.bell);
    // Writes that commit on this thread report nothing through the event loop: it can wait longer.
    const sliceMs = store.putCommitsNow ? LONG_SLICE_MS : SLICE_MS;
    this.idle = new IdleGate(init.idleStrategy, { token: SpinToken.attach(init.spinToken), holder: init.hostId + 1 }, undefined, undefined, undefined, sliceMs);
    init.port.on('message', (m: ControlToHost) => this.control(m));
  }

  async run(): Promise<void> {
    this.post({ t: 'ready' });
    // One handle for the whole loop rather than one per park: the loop is always parked or waiting
    // for setImmediate, so this keeps the thread alive exactly as long as before.
    const release = holdEventLoop();
    try {
      await new Promise<void>((resolve, reject) => {
        this.loopDone = { resolve, reject };
        this.turn();
      });
    } finally {
      release();
    }
    await this.shutdown();
  }

  /**
   * The loop, a pass at a time: it drains the request rings until they are empty, then spins or
   * parks as the idle strategy says, and schedules the next pass. Between batches of requests and
   * between spin slices the event loop gets a turn (commit callbacks, timers) through a setImmediate
   * callback rather than an awaited promise: a spinning host yields 20,000 times a second, and an
   * awaited timers/promises setImmediate left about 970 bytes of garbage a turn against 350 for the
   * callback, and took 3.4 us against 1.9.
   */
  private readonly turn = (): void => {
    try {
      for (;;) {
        if (this.stopping) return this.loopDone!.resolve();
        if (this.drain() > 0) {
          this.lastWork = performance.now();
          setImmediate(this.turn);
          return;
        }
        let found = false;
        for (let i = 0; i < SPIN_CHECKS && !found; i++) found = this.hasWork();
        if (found) continue;
        const spun = this.idle.spin(this.lastWork, this.hasWorkOrStopping);
        if (spun === true) continue;
        if (spun === false) {
          setImmediate(this.turn);
          return;
        }
        this.bell.park(this.hasBacklog() ? BACKLOG_PARK_MS : PARK_MS, this.hasWorkOrStopping).then(this.turn, this.loopDone!.reject);
        return;
      }
    } catch (err) {
      this.loopDone!.reject(err);
    }
  };

  private readonly hasWorkOrStopping = (): boolean => this.stopping || this.hasWork();

  private hasWork(): boolean {
    const list = this.clientList;
    for (let i = 0; i < list.length; i++) if (list[i]!.requests.hasData()) return true;
    return false;
  }

  private hasBacklog(): boolean {
    const list = this.clientList;
    for (let i = 0; i < list.length; i++) if (list[i]!.backlog.length > 0) return true;
    return false;
  }

  private drain(): number {
    let n = 0;
    const list = this.clientList;
    for (let i = 0; i < list.length; i++) {
      const c = list[i]!;
      if (c.backlog.length > 0) this.flushBacklog(c);
      this.draining = c;
      n += c.requests.read(this.onRecord, DRAIN_LIMIT);
    }
    return n;
  }

  /** The client whose request ring drain() reads. */
  private draining: ClientLink | undefined;

  /** drain()'s record handler: one function for the loop's life, not a closure per ring and pass. */
  private readonly onRecord = (type: number, bytes: Uint8Array, offset: number, length: number): void => {
    const c = this.draining!;
    if (type !== RECORD_FRAGMENT) {
      this.onRequest(c, bytes, c.requestView, offset, length);
      return;
    }
    const record = c.assembler.add(bytes, offset, length);
    if (record) this.onRequest(c, record, new DataView(record.buffer), 0, record.length);
  };

  /** One request record, `bytes[offset, offset + length)`, read through `v` (a view of `bytes`). */
  private onRequest(c: ClientLink, bytes: Uint8Array, v: DataView, offset: number, length: number): void {
    const requestId = v.getUint32(offset, true);
    const actorId = v.getUint32(offset + 4, true);
    const op = v.getUint16(offset + 8, true);
    this.dispatch(c, requestId, actorId, op & ~OP_QUIET_REPLY, bytes.subarray(offset + REQUEST_HEADER, offset + length), (op & OP_QUIET_REPLY) !== 0);
  }

  private dispatch(c: ClientLink, requestId: number, actorId: number, op: number, body: Uint8Array, quiet: boolean): void {
    const hosted = this.actors.get(actorId);
    if (!hosted) {
      const gone = this.gone.get(actorId);
      this.reply(c, requestId, STATUS_ERROR, gone ?? encodeError(new MillraceError('ACTOR_NOT_FOUND', `actor ${actorId} is not on host ${this.init.hostId}`)));
      return;
    }
    const reply = new RingReply(this, c, requestId, quiet);
    try {
      hosted.actor.handle(op, body, reply);
    } catch (err) {
      reply.fail(err);
    }
  }

  /**
   * Sends a reply; `body` is copied before this returns. A body given as parts goes into the ring
   * as it is, without being gathered into one buffer first: a read's reply is its entries, up to
   * megabytes, and gathering them was a copy and an allocation per read. A `quiet` reply does not
   * wake a parked client (OP_QUIET_REPLY).
   */
  reply(c: ClientLink, requestId: number, status: number, body: RecordParts, quiet = false): void {
    const length = REPLY_HEADER + recordLength(body);
    if (length > c.replies.maxRecordLength) {
      const header = new Uint8Array(REPLY_HEADER);
      fillReplyHeader(new DataView(header.buffer), 0, requestId, status);
      this.writeFragmented(c, RECORD_REPLY, body instanceof Uint8Array ? [header, body] : [header, ...body]);
      return;
    }
    // Not through write(): one reply per request, and its fill closure was garbage each time.
    // Nothing below throws once the record is claimed.
    if (c.backlog.length === 0) {
      const at = c.replies.tryClaim(RECORD_REPLY, length);
      if (at >= 0) {
        fillReplyHeader(c.replyView, at, requestId, status);
        copyRecord(body, c.replies.bytes, at + REPLY_HEADER);
        c.replies.commit(at);
        if (!quiet) c.bell.ring();
        return;
      }
    }
    const record = new Uint8Array(length);
    fillReplyHeader(new DataView(record.buffer), 0, requestId, status);
    copyRecord(body, record, REPLY_HEADER);
    c.backlog.push({ type: RECORD_REPLY, record });
  }

  /** An event for a client; see ActorContext.emit. */
  private emit(actorId: number, clientId: number, length: number, fill: (bytes: Uint8Array, offset: number) => void): boolean {
    const c = this.clients.get(clientId);
    if (!c) return false;
    if (EVENT_HEADER + length > c.replies.maxRecordLength) {
      const record = new Uint8Array(EVENT_HEADER + length);
      new DataView(record.buffer).setUint32(0, actorId, true);
      fill(record, EVENT_HEADER);
      this.writeFragmented(c, RECORD_EVENT, record);
      return true;
    }
    this.write(c, RECORD_EVENT, EVENT_HEADER + length, (bytes, view, at) => {
      view.setUint32(at, actorId, true);
      fill(bytes, at + EVENT_HEADER);
    });
    return true;
  }

  /**
   * Writes one record to a client's reply ring in place; when the ring is full (or older records
   * wait), the record is built in an ordinary buffer and queued, so order is kept and nothing drops.
   */
  private write(c: ClientLink, type: number, length: number, fill: (bytes: Uint8Array, view: DataView, offset: number) => void): void {
    if (c.backlog.length === 0) {
      const at = c.replies.tryClaim(type, length);
      if (at >= 0) {
        try {
          fill(c.replies.bytes, c.replyView, at);
        } catch (err) {
          c.replies.abort(at);
          throw err;
        }
        c.replies.commit(at);
        c.bell.ring();
        return;
      }
    }
    const record = new Uint8Array(length);
    fill(record, new DataView(record.buffer), 0);
    c.backlog.push({ type, record });
  }

  /**
   * A record too large for one reply-ring record goes through the ring as fragments: what fits
   * now, the rest queued behind it, so it stays in order with the records around it.
   */
  private writeFragmented(c: ClientLink, type: number, record: RecordParts): void {
    let from = 0;
    if (c.backlog.length === 0) {
      from = writeFragments(c.replies, RECORD_FRAGMENT, type, record, 0);
      if (from > 0) c.bell.ring();
    }
    for (const f of splitFragments(c.replies.maxRecordLength, type, record, from)) c.backlog.push({ type: RECORD_FRAGMENT, record: f });
  }

  private flushBacklog(c: ClientLink): void {
    while (c.backlog.length > 0) {
      const r = c.backlog[0]!;
      if (!c.replies.tryWrite(r.type, r.record)) return;
      c.backlog.shift();
      c.bell.ring();
    }
  }

  private control(m: ControlToHost): void {
    switch (m.t) {
      case 'attach': {
        const requests = RingBuffer.attach(m.requests);
        const replies = RingBuffer.attach(m.replies);
        this.clients.set(m.clientId, {
          id: m.clientId, requests, replies, backlog: [], assembler: new FragmentAssembler(),
          requestView: new DataView(requests.buffer), replyView: new DataView(replies.buffer),
          bell: Doorbell.attach(m.bell),
        });
        this.clientList = [...this.clients.values()];
        this.post({ t: 'attached', clientId: m.clientId });
        return;
      }
      case 'detach':
        // A connected client thread left: drop its rings (emitting to it now fails, and a
        // subscription drops a consumer it cannot reach), and tell actors that listen for it.
        this.clients.delete(m.clientId);
        this.clientList = [...this.clients.values()];
        for (const { actor } of this.actors.values()) (actor as ClientAware).detachClient?.(m.clientId);
        return;
      case 'spawn':
        void this.spawn(m.actorId, m.kind, m.name, m.config);
        return;
      case 'stop':
        if (m.gone) this.gone.set(m.actorId, m.gone);
        void this.stopActor(m.actorId).then(() => this.post({ t: 'stopped', actorId: m.actorId }));
        return;
      case 'crash':
        // Test hook for supervision: die the ways a worker dies.
        if (m.how === 'exit') process.exit(1);
        setImmediate(() => {
          throw new Error('host crash requested by a test');
        });
        return;
      case 'shutdown':
        this.stopping = true;
        this.bell.ring();
        return;
    }
  }

  private async spawn(actorId: number, kind: string, name: string, config: unknown): Promise<void> {
    try {
      // lmdb-js keeps a per-thread read snapshot until its next tick: an actor restarted here after
      // its host died must start from the latest commit (its ledger, cursors, dedup state), not from
      // what this thread read a moment ago.
      this.store.root.resetReadTxn();
      const factory = await this.factory(kind);
      const timers = new Set<NodeJS.Timeout>();
      const actor = await factory({
        actorId, name, store: this.store,
        emit: (clientId, length, fill) => this.emit(actorId, clientId, length, fill),
        log: (level, obj, msg) => this.post({ t: 'log', level, obj: { actor: name, ...obj }, msg }),
        setTimer: (ms, fn) => {
          const t = setTimeout(() => {
            timers.delete(t);
            fn();
          }, ms);
          timers.add(t);
          return () => {
            clearTimeout(t);
            timers.delete(t);
          };
        },
      }, config);
      this.actors.set(actorId, { actor, timers });
      this.post({ t: 'spawned', actorId });
    } catch (err) {
      this.post({ t: 'spawn-failed', actorId, error: encodeError(err) });
    }
  }

  private factory(kind: string): Promise<ActorFactory> {
    let f = this.factories.get(kind);
    if (!f) {
      const url = this.init.kinds[kind];
      if (!url) return Promise.reject(new MillraceError('INVALID_ARGUMENT', `no actor kind named ${kind}; known: ${Object.keys(this.init.kinds).join(', ')}`));
      f = import(url).then((mod: { default: ActorFactory }) => mod.default);
      this.factories.set(kind, f);
    }
    return f;
  }

  private async stopActor(actorId: number): Promise<void> {
    const hosted = this.actors.get(actorId);
    if (!hosted) return;
    this.actors.delete(actorId);
    for (const t of hosted.timers) clearTimeout(t);
    await hosted.actor.stop();
  }

  private async shutdown(): Promise<void> {
    // Answer what was already read, then stop every actor (flushing its ledger) and close LMDB.
    for (const c of this.clients.values()) this.flushBacklog(c);
    await Promise.all([...this.actors.keys()].map((id) => this.stopActor(id)));
    await this.store.close();
    this.post({ t: 'shutdown-done' });
    this.init.port.close();
  }

  private post(m: HostToControl): void {
    this.init.port.postMessage(m);
  }
}

/** The host task body: open the store, serve until shutdown. */
export async function runHost(init: HostInit): Promise<void> {
  const store = Store.open(init.dataDir, { durability: init.durability });
  await new HostLoop(init, store).run();
}

const EMPTY = new Uint8Array(0);

/** A reply record's header at `at`: request ID and status (the body follows it). */
function fillReplyHeader(view: DataView, at: number, requestId: number, status: number): void {
  view.setUint32(at, requestId, true);
  view.setInt32(at + 4, status, true);
}

/** One request's Reply: a small object, not an object and two closures per request. */
class RingReply implements Reply {
  private answered = false;
  readonly clientId: number;

  constructor(private readonly loop: HostLoop, private readonly c: ClientLink, private readonly requestId: number, private readonly quiet: boolean) {
    this.clientId = c.id;
  }

  ok(body: RecordParts = EMPTY): void {
    if (this.answered) return;
    this.answered = true;
    this.loop.reply(this.c, this.requestId, STATUS_OK, body, this.quiet);
  }

  fail(err: unknown): void {
    if (this.answered) return;
    this.answered = true;
    this.loop.reply(this.c, this.requestId, STATUS_ERROR, encodeError(err), this.quiet);
  }
}
