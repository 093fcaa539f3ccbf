/**
 * The actor system, main-thread side: a piscina pool of host workers (one long-lived host loop per
 * thread), actor placement by rendezvous hashing, request/response correlation over the rings, and
 * supervision. When a worker dies its in-flight requests fail with WORKER_DIED (retriable), its
 * actors restart on live workers from what storage holds, and a replacement worker joins the pool.
 */
import os from 'node:os';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { setImmediate as immediate } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { MillraceError } from '../../core/errors.js';
import type { Durability } from '../../core/storage/store.js';
import { prepareDataDir } from '../../core/storage/data-dir.js';
import { RingBuffer } from '../ring/index.js';
import { Doorbell } from './doorbell.js';
import type { ControlToHost, HostToControl } from './control.js';
import type { HostInit } from './host-loop.js';
import { placeActor } from './placement.js';
import { EVENT_HEADER, RECORD_EVENT, RECORD_REQUEST, REQUEST_HEADER, STATUS_OK, decodeError } from './protocol.js';

/** Options of {@link ActorSystem.open}. */
export interface ActorSystemOptions {
  dataDir: string;
  /** Host worker threads. @default os.availableParallelism() */
  workers?: number;
  /** @default 'durable' */
  durability?: Durability;
  /** Data bytes of each request and reply ring (a power of two); a record may use 1/8 of it. @default 4 MiB */
  ringBytes?: number;
  /** Extra actor kinds: name -> module URL whose default export is an ActorFactory. */
  kinds?: Record<string, string>;
}

/** A handle on a spawned actor. Requests follow it when it moves or restarts. */
export interface ActorRef {
  readonly actorId: number;
  readonly kind: string;
  readonly name: string;
}

/**
 * Receives an actor's events (deliveries). `body` is a view into a ring slot, valid only during the
 * call: copy what is kept.
 */
export type EventHandler = (body: Uint8Array) => void;

/** Writes a request body into a ring slot (or an ordinary buffer on the cold path). */
export type BodyWriter = (bytes: Uint8Array, offset: number) => void;

interface Pending {
  resolve(body: Uint8Array): void;
  reject(err: unknown): void;
}

interface Host {
  index: number;
  generation: number;
  live: boolean;
  port: MessagePort;
  bell: Doorbell;
  requests: RingBuffer;
  replies: RingBuffer;
  requestView: DataView;
  replyView: DataView;
  pending: Map<number, Pending>;
  /** Resolves when the host loop is up and this client's rings are attached. */
  ready: Promise<void>;
  waiters: Map<number, { resolve(): void; reject(err: unknown): void }>;
  /** Resolves when the host task has ended, whatever the cause. */
  exited: Promise<void>;
}

interface ActorRecord extends ActorRef {
  config: unknown;
  host: Host | undefined;
  ready: Promise<void>;
}

const DEFAULT_RING_BYTES = 4 * 2 ** 20;
const PARK_MS = 20;
const SPIN_CHECKS = 200;
const MAIN_CLIENT_ID = 0;

const BUILTIN_KINDS: Record<string, string> = {
  partition: new URL('../partition/partition-actor.js', import.meta.url).href,
};

export class ActorSystem {
  private readonly hosts: Host[] = [];
  private readonly actors = new Map<number, ActorRecord>();
  private readonly clientBell = Doorbell.create();
  private readonly eventHandlers = new Map<number, EventHandler>();
  private nextActorId = 1;
  private nextRequestId = 1;
  private inflight = 0;
  private pumping = false;
  private closing = false;
  private closed = false;
  private readonly kinds: Record<string, string>;

  private constructor(private readonly pool: Piscina, private readonly options: Required<Omit<ActorSystemOptions, 'kinds'>>, kinds: Record<string, string>) {
    this.kinds = kinds;
  }

  /** Starts the pool and one host loop per worker. */
  static async open(options: ActorSystemOptions): Promise<ActorSystem> {
    const workers = options.workers ?? os.availableParallelism();
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
      throw new MillraceError('INVALID_ARGUMENT', `workers must be an integer from 1 to 256, got ${String(workers)}`);
    }
    const ringBytes = options.ringBytes ?? DEFAULT_RING_BYTES;
    const dataDir = prepareDataDir(options.dataDir);
    const pool = new Piscina({
      filename: new URL('./host-worker.js', import.meta.url).href,
      minThreads: workers,
      maxThreads: workers,
      // Each thread runs one task for its whole life; piscina must neither reap it as idle nor park
      // it in Atomics.wait between tasks (which would stall its event loop).
      idleTimeout: 2 ** 31 - 1,
      concurrentTasksPerWorker: 1,
      atomics: 'disabled',
    });
    const system = new ActorSystem(pool, { dataDir, workers, durability: options.durability ?? 'durable', ringBytes }, { ...BUILTIN_KINDS, ...(options.kinds ?? {}) });
    for (let i = 0; i < workers; i++) system.hosts.push(system.startHost(i, 0));
    await Promise.all(system.hosts.map((h) => h.ready));
    return system;
  }

  private startHost(index: number, generation: number): Host {
    const { port1, port2 } = new MessageChannel();
    const bell = Doorbell.create();
    const requests = RingBuffer.create(this.options.ringBytes);
    const replies = RingBuffer.create(this.options.ringBytes);
    let markReady!: () => void;
    let failReady!: (err: unknown) => void;
    const ready = new Promise<void>((res, rej) => {
      markReady = res;
      failReady = rej;
    });
    ready.catch(() => undefined);
    const host: Host = {
      index, generation, live: false, port: port1, bell, requests, replies,
      requestView: new DataView(requests.buffer), replyView: new DataView(replies.buffer),
      pending: new Map(), ready, waiters: new Map(), exited: Promise.resolve(),
    };
    port1.on('message', (m: HostToControl) => this.onHostMessage(host, m, markReady));
    const init: HostInit = {
      hostId: index, generation, port: port2, bell: bell.buffer, dataDir: this.options.dataDir,
      durability: this.options.durability, kinds: this.kinds,
    };
    const task = this.pool.run(init, { transferList: [port2] }) as Promise<void>;
    host.exited = task.then(
      () => this.onHostExit(host, undefined),
      (err: unknown) => {
        failReady(err);
        this.onHostExit(host, err);
      },
    );
    this.send(host, { t: 'attach', clientId: MAIN_CLIENT_ID, requests: requests.buffer, replies: replies.buffer, bell: this.clientBell.buffer });
    return host;
  }

  private onHostMessage(host: Host, m: HostToControl, markReady: () => void): void {
    switch (m.t) {
      case 'ready':
        return;
      case 'attached':
        host.live = true;
        markReady();
        return;
      case 'spawned':
      case 'stopped':
        host.waiters.get(m.actorId)?.resolve();
        host.waiters.delete(m.actorId);
        return;
      case 'spawn-failed':
        host.waiters.get(m.actorId)?.reject(decodeError(m.error));
        host.waiters.delete(m.actorId);
        return;
      case 'reply':
        this.settle(host, m.requestId, m.status, m.body);
        return;
      case 'event':
        this.deliver(new DataView(m.record.buffer, m.record.byteOffset).getUint32(0, true), m.record.subarray(EVENT_HEADER));
        return;
      case 'shutdown-done':
        return;
    }
  }

  /** A host task ended: an orderly shutdown, or the worker died. */
  private onHostExit(host: Host, err: unknown): void {
    host.live = false;
    host.port.close();
    const died = new MillraceError('WORKER_DIED', `host worker ${host.index} (generation ${host.generation}) died`, { cause: err });
    for (const p of host.pending.values()) p.reject(died);
    this.inflight -= host.pending.size;
    host.pending.clear();
    for (const w of host.waiters.values()) w.reject(died);
    host.waiters.clear();
    if (this.closing || err === undefined) return;
    // Supervision: a replacement worker takes the slot; the dead host's actors restart on live hosts.
    const replacement = this.startHost(host.index, host.generation + 1);
    this.hosts[host.index] = replacement;
    for (const a of this.actors.values()) {
      if (a.host === host) this.place(a, undefined);
    }
  }

  private liveIndexes(): number[] {
    const live = this.hosts.filter((h) => h.live).map((h) => h.index);
    return live.length > 0 ? live : this.hosts.map((h) => h.index);
  }

  /** Spawns an actor of `kind` named `name` on the host its name hashes to. Resolves once it is up. */
  async spawn(kind: string, name: string, config: unknown = {}): Promise<ActorRef> {
    this.assertOpen();
    if (!(kind in this.kinds)) throw new MillraceError('INVALID_ARGUMENT', `no actor kind named ${kind}; known: ${Object.keys(this.kinds).join(', ')}`);
    const rec: ActorRecord = { actorId: this.nextActorId++, kind, name, config, host: undefined, ready: Promise.resolve() };
    this.actors.set(rec.actorId, rec);
    this.place(rec, undefined);
    try {
      await rec.ready;
    } catch (err) {
      this.actors.delete(rec.actorId);
      throw err;
    }
    return { actorId: rec.actorId, kind, name };
  }

  /** Moves an actor to host `hostIndex`: stopped where it is (its pending work finished), started there. */
  async move(ref: ActorRef, hostIndex: number): Promise<void> {
    this.assertOpen();
    const rec = this.record(ref);
    if (!Number.isInteger(hostIndex) || hostIndex < 0 || hostIndex >= this.hosts.length) {
      throw new MillraceError('INVALID_ARGUMENT', `hostIndex must be 0..${this.hosts.length - 1}, got ${hostIndex}`);
    }
    await rec.ready.catch(() => undefined);
    const from = rec.host;
    if (from && from.index === hostIndex && from.live) return;
    if (from?.live) await this.waitFor(from, rec.actorId, { t: 'stop', actorId: rec.actorId });
    this.place(rec, hostIndex);
    await rec.ready;
  }

  /** The index of the host an actor is on (or being started on). */
  hostOf(ref: ActorRef): number {
    return this.record(ref).host?.index ?? -1;
  }

  private place(rec: ActorRecord, hostIndex: number | undefined): void {
    const index = hostIndex ?? placeActor(rec.name, this.liveIndexes());
    const host = this.hosts[index]!;
    rec.host = host;
    rec.ready = host.ready.then(() => this.waitFor(host, rec.actorId, { t: 'spawn', actorId: rec.actorId, kind: rec.kind, name: rec.name, config: rec.config }));
    rec.ready.catch(() => undefined);
  }

  private waitFor(host: Host, actorId: number, m: ControlToHost): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      host.waiters.set(actorId, { resolve, reject });
      this.send(host, m);
    });
  }

  private record(ref: ActorRef): ActorRecord {
    const rec = this.actors.get(ref.actorId);
    if (!rec) throw new MillraceError('INVALID_ARGUMENT', `actor ${ref.actorId} (${ref.name}) is not in this system`);
    return rec;
  }

  /**
   * Sends one request to an actor and resolves with the reply body (a copy). `bodyLength` bytes are
   * written in place into the ring by `write` (no intermediate buffer); a body too large for a ring
   * record goes over the control port. Rejects with the actor's MillraceError, or WORKER_DIED when
   * its host dies first (retriable: the actor restarts elsewhere).
   */
  async request(ref: ActorRef, op: number, bodyLength: number, write: BodyWriter): Promise<Uint8Array> {
    this.assertOpen();
    const rec = this.record(ref);
    await rec.ready;
    const host = rec.host!;
    if (!host.live) throw new MillraceError('WORKER_DIED', `host worker ${host.index} is down; ${rec.name} is restarting`);
    const requestId = this.nextRequestId;
    this.nextRequestId = (this.nextRequestId + 1) >>> 0 || 1;
    const promise = new Promise<Uint8Array>((resolve, reject) => host.pending.set(requestId, { resolve, reject }));
    this.inflight++;
    try {
      await this.writeRequest(host, requestId, rec.actorId, op, bodyLength, write);
    } catch (err) {
      if (host.pending.delete(requestId)) this.inflight--;
      throw err;
    }
    this.pump();
    return promise;
  }

  private async writeRequest(host: Host, requestId: number, actorId: number, op: number, bodyLength: number, write: BodyWriter): Promise<void> {
    const length = REQUEST_HEADER + bodyLength;
    if (length > host.requests.maxRecordLength) {
      const body = new Uint8Array(bodyLength);
      write(body, 0);
      this.send(host, { t: 'request', clientId: MAIN_CLIENT_ID, requestId, actorId, op, body });
      return;
    }
    for (;;) {
      const at = host.requests.tryClaim(RECORD_REQUEST, length);
      if (at >= 0) {
        try {
          host.requestView.setUint32(at, requestId, true);
          host.requestView.setUint32(at + 4, actorId, true);
          host.requestView.setUint16(at + 8, op, true);
          write(host.requests.bytes, at + REQUEST_HEADER);
        } catch (err) {
          host.requests.abort(at);
          throw err;
        }
        host.requests.commit(at);
        host.bell.ring();
        return;
      }
      // Ring full: the host is behind. Wait for it rather than queue without bound (backpressure).
      if (!host.live) throw new MillraceError('WORKER_DIED', `host worker ${host.index} died`);
      host.bell.ring();
      await immediate();
    }
  }

  private settle(host: Host, requestId: number, status: number, body: Uint8Array): void {
    const p = host.pending.get(requestId);
    if (!p) return;
    host.pending.delete(requestId);
    this.inflight--;
    if (status === STATUS_OK) p.resolve(body);
    else p.reject(decodeError(body));
  }

  /**
   * Drains reply rings while requests are in flight. It holds no handle of its own: while it parks in
   * Atomics.waitAsync the pool's worker threads keep the process alive, and once the system is closed
   * nothing does.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    void (async () => {
      try {
        while (this.inflight > 0 || (this.eventHandlers.size > 0 && !this.closing)) {
          if (this.drainReplies() > 0) {
            await immediate();
            continue;
          }
          let found = false;
          for (let i = 0; i < SPIN_CHECKS && !found; i++) found = this.hasReplies();
          if (found) continue;
          await this.clientBell.park(PARK_MS, () => this.hasReplies());
        }
      } finally {
        this.pumping = false;
      }
    })();
  }

  /**
   * Routes an actor's events to `handler` until the returned function is called. While any handler
   * is registered the reply pump runs (parked in Atomics.waitAsync, with a timer that keeps the
   * process alive: an open consumer keeps its process alive, a closed one does not).
   */
  onEvent(ref: ActorRef, handler: EventHandler): () => void {
    this.eventHandlers.set(ref.actorId, handler);
    this.pump();
    return () => {
      if (this.eventHandlers.get(ref.actorId) === handler) this.eventHandlers.delete(ref.actorId);
    };
  }

  private deliver(actorId: number, body: Uint8Array): void {
    const h = this.eventHandlers.get(actorId);
    if (h) h(body);
  }

  private hasReplies(): boolean {
    for (const h of this.hosts) if (h.replies.hasData()) return true;
    return false;
  }

  private drainReplies(): number {
    let n = 0;
    for (const h of this.hosts) {
      n += h.replies.read((type, bytes, offset, length) => {
        if (type === RECORD_EVENT) {
          this.deliver(h.replyView.getUint32(offset, true), bytes.subarray(offset + EVENT_HEADER, offset + length));
          return;
        }
        const requestId = h.replyView.getUint32(offset, true);
        const status = h.replyView.getInt32(offset + 4, true);
        this.settle(h, requestId, status, bytes.slice(offset + 8, offset + length));
      });
    }
    return n;
  }

  private send(host: Host, m: ControlToHost): void {
    host.port.postMessage(m);
  }

  /** Test hook: make host `index` die (process.exit in the worker, or an uncaught error). @internal */
  crashHost(index: number, how: 'exit' | 'throw' = 'exit'): void {
    this.send(this.hosts[index]!, { t: 'crash', how });
  }

  /** Number of host workers. */
  get workers(): number {
    return this.hosts.length;
  }

  /**
   * Orderly shutdown: every host answers what it has read, stops its actors (flushing their
   * ledgers), closes LMDB, and the pool is destroyed. No handle stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closing) {
      while (!this.closed) await immediate();
      return;
    }
    this.closing = true;
    // Let in-flight requests finish first (bounded: a dead host fails its own).
    const deadline = Date.now() + 10_000;
    while (this.inflight > 0 && Date.now() < deadline) await immediate();
    await Promise.all(this.hosts.map(async (h) => {
      this.send(h, { t: 'shutdown' });
      await h.exited;
    }));
    await this.pool.destroy();
    for (const h of this.hosts) h.port.close();
    this.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private assertOpen(): void {
    if (this.closing) throw new MillraceError('CLOSED', 'the actor system is closed');
  }
}
