/**
 * The actor system. On the thread that opens it (`ActorSystem.open`): a piscina pool of host
 * workers (one long-lived host loop per thread), actor placement by rendezvous hashing, and
 * supervision: when a worker dies its in-flight requests fail with WORKER_DIED (retriable), its
 * actors restart on live workers from what storage holds, a replacement worker joins the pool, and
 * whoever listens (`onRestart`) is told, so consumers can subscribe again.
 *
 * On any other worker thread of the process (`ActorSystem.connect(handle)`): the same request,
 * event and restart API over this thread's own rings; spawning and placement are asked of the
 * opening thread over the connect channel (./control.ts). Either way the rings of one thread are a
 * ClientEndpoint (./client-endpoint.ts).
 */
import os from 'node:os';
import { MessageChannel, type MessagePort, type ResourceLimits } from 'node:worker_threads';
import { setImmediate as immediate } from 'node:timers/promises';
import { Piscina } from 'piscina';
import { MillraceError } from '../../core/errors.js';
import { DEFAULTS, defaultWorkers } from '../../core/defaults.js';
import type { Durability } from '../../core/storage/store.js';
import { prepareDataDir } from '../../core/storage/data-dir.js';
import { RingBuffer } from '../ring/index.js';
import { Doorbell } from './doorbell.js';
import { IDLE_STRATEGIES, SpinToken, type IdleStrategy } from './idle-strategy.js';
import type { ControlToHost, HostInfo, HostToControl, SystemHandle } from './control.js';
import type { HostInit } from './host-loop.js';
import { placeActor } from './placement.js';
import { decodeError, encodeError } from './protocol.js';
import { ClientEndpoint, type BodyWriter, type EventHandler, type ReplyDecoder } from './client-endpoint.js';
import { ConnectServer } from './connect-server.js';
import { ConnectClient } from './connect-client.js';
import { deferred } from './deferred.js';
import { silentLogger, writeLog, type Logger } from '../../core/observability/logger.js';

export type { BodyWriter, EventHandler, ReplyDecoder } from './client-endpoint.js';
export type { SystemHandle } from './control.js';

/** Options of {@link ActorSystem.open}. */
export interface ActorSystemOptions {
  dataDir: string;
  /** Host worker threads. @default one per core but one, at least one (defaultWorkers) */
  workers?: number;
  /** @default 'durable' */
  durability?: Durability;
  /** What a host worker does when its rings are empty: spin or park (see {@link IdleStrategy}); client threads always park. @default 'adaptive' */
  idleStrategy?: IdleStrategy;
  /**
   * Data bytes of each request and reply ring (a power of two); a record may use 1/8 of it, larger
   * ones go through the ring in fragments. Each client thread has two rings per host worker, and
   * all of a busy ring is resident. @default 2 MiB (DEFAULTS.ringBytes)
   */
  ringBytes?: number;
  /**
   * V8 limits of each host worker thread (Node's Worker `resourceLimits`), merged over the default
   * `{ maxYoungGenerationSizeMb: 16 }` (DEFAULTS.workerMaxYoungGenerationSizeMb). Setting
   * `maxOldGenerationSizeMb` bounds a worker's heap, but a worker that reaches it dies (its actors
   * restart elsewhere): leave it unset unless memory matters more than that.
   */
  workerResourceLimits?: ResourceLimits;
  /** Extra actor kinds: name -> module URL whose default export is an ActorFactory. */
  kinds?: Record<string, string>;
  /** Where actors' log records go (pino-compatible). @default silent */
  logger?: Logger;
}

/** A handle on a spawned actor. Requests follow it when it moves or restarts. */
export interface ActorRef {
  readonly actorId: number;
  readonly kind: string;
  readonly name: string;
}

interface Host {
  index: number;
  generation: number;
  live: boolean;
  port: MessagePort;
  bell: Doorbell;
  /** Resolves when the host loop is up and the main client's rings are attached. */
  ready: Promise<void>;
  waiters: Map<number, { resolve(): void; reject(err: unknown): void }>;
  /** Resolves when the host task has ended, whatever the cause. */
  exited: Promise<void>;
  /** Aborts the host task: one stuck in piscina's queue behind a worker that failed to start. */
  abort: AbortController;
}

interface ActorRecord extends ActorRef {
  config: unknown;
  host: Host | undefined;
  ready: Promise<void>;
  /** `ready` once a request has seen it resolve: later requests skip awaiting it. */
  settledReady?: Promise<void>;
  /** Requests awaiting `ready`: while any do, later ones wait too, so none overtakes another. */
  waiting: number;
}

const MAIN_CLIENT_ID = 0;

const BUILTIN_KINDS: Record<string, string> = {
  partition: new URL('../partition/partition-actor.js', import.meta.url).href,
};

const LIMIT_FIELDS = ['maxYoungGenerationSizeMb', 'maxOldGenerationSizeMb', 'codeRangeSizeMb', 'stackSizeMb'] as const;

/** The host workers' V8 limits: the default young-generation cap under what the caller gave. */
function resolveResourceLimits(given: ResourceLimits | undefined): ResourceLimits {
  if (given !== undefined && (given === null || typeof given !== 'object')) {
    throw new MillraceError('INVALID_ARGUMENT', `workerResourceLimits must be an object of ${LIMIT_FIELDS.join(', ')}, got ${String(given)}`);
  }
  const limits: ResourceLimits = { maxYoungGenerationSizeMb: DEFAULTS.workerMaxYoungGenerationSizeMb };
  for (const [k, v] of Object.entries(given ?? {})) {
    if (!(LIMIT_FIELDS as readonly string[]).includes(k)) {
      throw new MillraceError('INVALID_ARGUMENT', `workerResourceLimits.${k} is not a limit; known: ${LIMIT_FIELDS.join(', ')}`);
    }
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new MillraceError('INVALID_ARGUMENT', `workerResourceLimits.${k} must be a number of MB above 0, got ${String(v)}`);
    }
    limits[k as typeof LIMIT_FIELDS[number]] = v;
  }
  return limits;
}

/** The opening thread's part: the pool, the hosts and the actors' placement. */
interface Local {
  pool: Piscina;
  options: Required<Omit<ActorSystemOptions, 'kinds' | 'logger' | 'workerResourceLimits'>>;
  logger: Logger;
  kinds: Record<string, string>;
  hosts: Host[];
  actors: Map<number, ActorRecord>;
  /** `kind\0name` -> actor: one actor per name, so one writer per managed ledger. */
  byName: Map<string, ActorRecord>;
  /** Actors despawned with a reason (a deleted topic), by ID: what their requests fail with. IDs are never reused. */
  gone: Map<number, MillraceError>;
  server: ConnectServer | undefined;
  /** Under 'adaptive', one host spins at a time (see SpinToken). */
  spinToken: SpinToken;
  /** Pool errors since a host last came up: the exponent of the next start retry's delay. */
  startFailures: number;
}

export class ActorSystem {
  private readonly endpoint: ClientEndpoint;
  private readonly restartHandlers = new Map<number, Set<() => void>>();
  private nextActorId = 1;
  private closing = false;
  private closed = false;

  private constructor(private readonly local: Local | undefined, private readonly remote: ConnectClient | undefined) {
    this.endpoint = remote?.endpoint ?? new ClientEndpoint(MAIN_CLIENT_ID, local!.options.ringBytes);
  }

  /** Starts the pool and one host loop per worker. */
  static async open(options: ActorSystemOptions): Promise<ActorSystem> {
    const workers = options.workers ?? defaultWorkers(os.availableParallelism());
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
      throw new MillraceError('INVALID_ARGUMENT', `workers must be an integer from 1 to 256, got ${String(workers)}`);
    }
    const ringBytes = options.ringBytes ?? DEFAULTS.ringBytes;
    // Checked before the pool starts: found by the first slot's rings, it left the pool running.
    RingBuffer.checkCapacity(ringBytes);
    const idleStrategy = options.idleStrategy ?? DEFAULTS.idleStrategy;
    if (!IDLE_STRATEGIES.includes(idleStrategy)) {
      throw new MillraceError('INVALID_ARGUMENT', `idleStrategy must be one of ${IDLE_STRATEGIES.join(', ')}, got ${String(idleStrategy)}`);
    }
    const resourceLimits = resolveResourceLimits(options.workerResourceLimits);
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
      // Left to V8, each busy worker's young generation grows to 32 MB and stays (see DEFAULTS).
      resourceLimits,
    });
    const local: Local = {
      pool, options: { dataDir, workers, durability: options.durability ?? 'durable', ringBytes, idleStrategy },
      kinds: { ...BUILTIN_KINDS, ...(options.kinds ?? {}) }, hosts: [], actors: new Map(), byName: new Map(), gone: new Map(), server: undefined, spinToken: SpinToken.create(),
      logger: options.logger ?? silentLogger, startFailures: 0,
    };
    const system = new ActorSystem(local, undefined);
    // A worker that fails outside a task (one that dies while starting, before its host task reaches
    // it) is an 'error' event on the pool: unhandled, it took the whole process down. A worker that
    // fails inside its task is handled where the task settles (onHostExit).
    pool.on('error', (err: unknown) => system.onPoolError(err));
    // A worker that dies while starting (a heap limit too small to load the host) fails no task:
    // piscina reports it as a pool 'error' and starts no other, so the host tasks would wait forever.
    let startFailed!: (err: unknown) => void;
    const failedToStart = new Promise<never>((_resolve, reject) => {
      startFailed = reject;
    });
    failedToStart.catch(() => undefined);
    pool.once('error', startFailed);
    for (let i = 0; i < workers; i++) local.hosts.push(system.startHost(i, 0));
    try {
      await Promise.race([Promise.all(local.hosts.map((h) => h.ready)), failedToStart]);
    } catch (err) {
      // Nothing of a failed open may outlive it: the pool, the hosts that did start and the control
      // ports kept the process from exiting. close() aborts the hosts that never came up.
      await system.close().catch(() => undefined);
      if (err instanceof MillraceError) throw err;
      throw new MillraceError('WORKER_DIED', `a host worker failed to start: ${err instanceof Error ? err.message : String(err)}`, { cause: err, retriable: false });
    } finally {
      pool.off('error', startFailed);
    }
    return system;
  }

  /**
   * Joins, from another worker thread of the same process, the system whose `handle()` was posted
   * here. Resolves once every host has attached this thread's rings.
   */
  static async connect(handle: SystemHandle): Promise<ActorSystem> {
    let system: ActorSystem | undefined;
    const remote = await ConnectClient.connect(handle, (actorId) => system?.restarted(actorId));
    system = new ActorSystem(undefined, remote);
    return system;
  }

  /**
   * A value to post to another worker thread (plain data and SharedArrayBuffers, no transfer
   * list) where `ActorSystem.connect` joins this system. The first call opens the connect channel.
   */
  handle(): SystemHandle {
    this.assertOpen();
    if (this.remote) return this.remote.handle;
    const local = this.local!;
    local.server ??= new ConnectServer(local.options.workers, local.options.ringBytes, {
      hosts: () => local.hosts.map((h) => this.hostInfo(h)),
      attach: (m) => {
        const host = local.hosts[m.index];
        if (host && host.generation === m.generation) this.send(host, { t: 'attach', clientId: m.clientId, requests: m.requests, replies: m.replies, bell: m.bell });
      },
      detach: (clientId) => {
        for (const h of local.hosts) this.send(h, { t: 'detach', clientId });
      },
      spawn: async (kind, name, config) => {
        const ref = await this.spawn(kind, name, config);
        const rec = local.actors.get(ref.actorId)!;
        return { actorId: ref.actorId, hostIndex: rec.host!.index, generation: rec.host!.generation };
      },
    });
    return local.server.handle;
  }

  private hostInfo(h: Host): HostInfo {
    return { index: h.index, generation: h.generation, bell: h.bell.buffer };
  }

  private startHost(index: number, generation: number): Host {
    const local = this.local!;
    const { port1, port2 } = new MessageChannel();
    const bell = Doorbell.create();
    const { promise: ready, resolve: markReady, reject: failReady } = deferred(true);
    const host: Host = { index, generation, live: false, port: port1, bell, ready, waiters: new Map(), exited: Promise.resolve(), abort: new AbortController() };
    port1.on('message', (m: HostToControl) => this.onHostMessage(host, m, markReady));
    const init: HostInit = {
      hostId: index, generation, port: port2, bell: bell.buffer, dataDir: local.options.dataDir,
      durability: local.options.durability, idleStrategy: local.options.idleStrategy, spinToken: local.spinToken.buffer, kinds: local.kinds,
    };
    const task = local.pool.run(init, { transferList: [port2], signal: host.abort.signal }) as Promise<void>;
    host.exited = task.then(
      () => this.onHostExit(host, undefined),
      (err: unknown) => {
        // Requests waiting for the actors placed here see WORKER_DIED (retriable), not piscina's
        // error (an AbortError when a stuck start is retried); CLOSED when close() stopped it.
        failReady(this.closing
          ? new MillraceError('CLOSED', `the actor system closed before host worker ${index} was up`)
          : err instanceof MillraceError ? err : new MillraceError('WORKER_DIED', `host worker ${index} (generation ${generation}) ended before it was up`, { cause: err }));
        this.onHostExit(host, err);
      },
    );
    const rings = this.endpoint.openSlot(index, generation, bell.buffer);
    this.send(host, { t: 'attach', clientId: MAIN_CLIENT_ID, ...rings });
    return host;
  }

  private onHostMessage(host: Host, m: HostToControl, markReady: () => void): void {
    switch (m.t) {
      case 'ready':
        return;
      case 'attached':
        if (m.clientId === MAIN_CLIENT_ID) {
          host.live = true;
          this.local!.startFailures = 0;
          this.endpoint.markLive(host.index, host.generation);
          markReady();
        } else {
          this.local!.server?.broadcast({ t: 'attached', clientId: m.clientId, index: host.index, generation: host.generation });
        }
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
      case 'log':
        writeLog(this.local!.logger, m.level, m.obj, m.msg);
        return;
      case 'shutdown-done':
        return;
    }
  }

  /** A host task ended: an orderly shutdown, or the worker died. */
  private onHostExit(host: Host, err: unknown): void {
    const local = this.local!;
    host.live = false;
    host.port.close();
    // Shut down by close(): what it left unanswered fails CLOSED, not WORKER_DIED, which callers retry.
    const died = this.closing
      ? new MillraceError('CLOSED', `the actor system closed before host worker ${host.index} answered`)
      : new MillraceError('WORKER_DIED', `host worker ${host.index} (generation ${host.generation}) died`, { cause: err });
    this.endpoint.failSlot(host.index, host.generation, died);
    // A host that died spinning never gave the token back.
    local.spinToken.release(host.index + 1);
    for (const w of host.waiters.values()) w.reject(died);
    host.waiters.clear();
    if (this.closing || err === undefined) return;
    // Supervision: a replacement worker takes the slot; the dead host's actors restart on live hosts.
    const replacement = this.startHost(host.index, host.generation + 1);
    local.hosts[host.index] = replacement;
    // Connected clients fail their requests to the dead host and attach rings to the replacement.
    local.server?.broadcast({ t: 'host-replaced', host: this.hostInfo(replacement) });
    for (const a of local.actors.values()) {
      if (a.host === host) {
        this.place(a, undefined);
        this.announceWhenUp(a);
      }
    }
  }

  /** Once a restarted (or moved) actor is up: tell connected clients where, and every onRestart listener. */
  private announceWhenUp(a: ActorRecord): void {
    const attempt = a.ready;
    attempt.then(() => {
      if (a.ready !== attempt || this.closing) return;
      this.local!.server?.broadcast({ t: 'placed', actorId: a.actorId, hostIndex: a.host!.index, generation: a.host!.generation, restarted: true });
      this.restarted(a.actorId);
    }, (err: unknown) => {
      if (a.ready !== attempt || this.closing) return;
      this.local!.server?.broadcast({ t: 'place-failed', actorId: a.actorId, error: encodeError(err) });
    });
  }

  private restarted(actorId: number): void {
    for (const fn of [...(this.restartHandlers.get(actorId) ?? [])]) {
      try {
        fn();
      } catch {
        // A listener's failure is its own; the others still hear of the restart.
      }
    }
  }

  /**
   * On a connected thread: calls `fn` once the system shuts down under it (the opening thread closed
   * it), so the thread can close what it opened. On the opening thread it is never called.
   */
  onShutdown(fn: () => void): void {
    if (this.remote) this.remote.onShutdown = fn;
  }

  /**
   * Calls `fn` each time the actor restarts with fresh state: after its host died (supervision)
   * or after a move. Whatever the actor held only in memory is gone then: its consumers must
   * subscribe again. Returns a function that stops the calls.
   */
  onRestart(ref: ActorRef, fn: () => void): () => void {
    let set = this.restartHandlers.get(ref.actorId);
    if (!set) this.restartHandlers.set(ref.actorId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.restartHandlers.get(ref.actorId) === set) this.restartHandlers.delete(ref.actorId);
    };
  }

  /**
   * Actors placed on each host now in the pool (starting ones too), `except` one (the actor being
   * placed again); actors of a dead host, about to move, count for none.
   */
  private actorsPerHost(except: ActorRecord): Map<number, number> {
    const load = new Map<number, number>();
    const hosts = this.local!.hosts;
    for (const a of this.local!.actors.values()) {
      if (a === except || a.host === undefined || hosts[a.host.index] !== a.host) continue;
      load.set(a.host.index, (load.get(a.host.index) ?? 0) + 1);
    }
    return load;
  }

  private liveIndexes(): number[] {
    const hosts = this.local!.hosts;
    const live = hosts.filter((h) => h.live).map((h) => h.index);
    return live.length > 0 ? live : hosts.map((h) => h.index);
  }

  /**
   * Spawns an actor of `kind` named `name` on the host its name hashes to, and resolves once it is
   * up. There is one actor per kind and name: asking again (from this or a connected thread)
   * returns the actor already running, so a managed ledger never has two writers.
   */
  async spawn(kind: string, name: string, config: unknown = {}): Promise<ActorRef> {
    this.assertOpen();
    if (this.remote) {
      const r = await this.remote.spawn(kind, name, config);
      return { actorId: r.actorId, kind, name };
    }
    const local = this.local!;
    if (!(kind in local.kinds)) throw new MillraceError('INVALID_ARGUMENT', `no actor kind named ${kind}; known: ${Object.keys(local.kinds).join(', ')}`);
    const key = `${kind}\0${name}`;
    let rec = local.byName.get(key);
    if (!rec) {
      rec = { actorId: this.nextActorId++, kind, name, config, host: undefined, ready: Promise.resolve(), waiting: 0 };
      local.actors.set(rec.actorId, rec);
      local.byName.set(key, rec);
      this.place(rec, undefined);
    }
    // Follow re-placements: a host that dies while the actor starts restarts it elsewhere.
    for (;;) {
      const attempt = rec.ready;
      try {
        await attempt;
        break;
      } catch (err) {
        if (rec.ready !== attempt && !this.closing) continue;
        if (local.byName.get(key) === rec) {
          local.byName.delete(key);
          local.actors.delete(rec.actorId);
        }
        throw err;
      }
    }
    return { actorId: rec.actorId, kind, name };
  }

  /** Moves an actor to host `hostIndex`: stopped where it is (its pending work finished), started there. */
  async move(ref: ActorRef, hostIndex: number): Promise<void> {
    this.assertOpen();
    const local = this.assertLocal('move');
    const rec = this.record(ref);
    if (!Number.isInteger(hostIndex) || hostIndex < 0 || hostIndex >= local.hosts.length) {
      throw new MillraceError('INVALID_ARGUMENT', `hostIndex must be 0..${local.hosts.length - 1}, got ${hostIndex}`);
    }
    await rec.ready.catch(() => undefined);
    const from = rec.host;
    if (from && from.index === hostIndex && from.live) return;
    if (from?.live) await this.waitFor(from, rec.actorId, { t: 'stop', actorId: rec.actorId });
    this.place(rec, hostIndex);
    this.announceWhenUp(rec);
    await rec.ready;
  }

  /**
   * Stops an actor (its pending work finished) and forgets it: the next spawn of its name starts a
   * fresh one. Only on the thread that opened the system.
   */
  async despawn(ref: ActorRef, gone?: MillraceError): Promise<void> {
    this.assertOpen();
    const local = this.assertLocal('despawn');
    const rec = local.actors.get(ref.actorId);
    if (!rec) return;
    // Requests made from now on fail with the reason, on this thread and (through the host) on
    // connected ones: without it they failed ACTOR_NOT_FOUND, which senders retry until they time out.
    if (gone) local.gone.set(rec.actorId, gone);
    await rec.ready.catch(() => undefined);
    if (rec.host?.live) await this.waitFor(rec.host, rec.actorId, { t: 'stop', actorId: rec.actorId, ...(gone ? { gone: encodeError(gone) } : {}) });
    local.actors.delete(rec.actorId);
    if (local.byName.get(`${rec.kind}\0${rec.name}`) === rec) local.byName.delete(`${rec.kind}\0${rec.name}`);
  }

  /** The index of the host an actor is on (or being started on). */
  hostOf(ref: ActorRef): number {
    if (this.remote) return this.remote.record(ref.actorId).hostIndex;
    return this.record(ref).host?.index ?? -1;
  }

  private place(rec: ActorRecord, hostIndex: number | undefined): void {
    const index = hostIndex ?? placeActor(rec.name, this.liveIndexes(), this.actorsPerHost(rec));
    const host = this.local!.hosts[index]!;
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
    const rec = this.local!.actors.get(ref.actorId);
    if (!rec) {
      const gone = this.local!.gone.get(ref.actorId);
      if (gone) throw new MillraceError(gone.code, gone.message);
      throw new MillraceError('INVALID_ARGUMENT', `actor ${ref.actorId} (${ref.name}) is not in this system`);
    }
    return rec;
  }

  private parkedCount = 0;

  /**
   * Marks a request as a long poll (a read waiting for the next append) until it settles: `close()`
   * does not wait for such requests, their actors answer them as they stop.
   */
  async parked<T>(request: Promise<T>): Promise<T> {
    this.parkedCount++;
    try {
      return await request;
    } finally {
      this.parkedCount--;
    }
  }

  /**
   * Sends one request to an actor and resolves with the reply body (a copy). `bodyLength` bytes are
   * written in place into the ring by `write` (no intermediate buffer); a body too large for a ring
   * record is built in a buffer and goes in fragments. Rejects with the actor's MillraceError, or WORKER_DIED when its host
   * dies first (retriable: the actor restarts elsewhere).
   */
  // Not async: once the actor is ready, a request goes to the ring at once, without the promise and
  // microtask of an await per request (at 2,000 sends a second they were a good part of the garbage).
  request(ref: ActorRef, op: number, bodyLength: number, write: BodyWriter): Promise<Uint8Array>;
  /** The same, resolving with what `decode` reads from the reply body in place (see ReplyDecoder). */
  request<T>(ref: ActorRef, op: number, bodyLength: number, write: BodyWriter, decode: ReplyDecoder<T>): Promise<T>;
  request(ref: ActorRef, op: number, bodyLength: number, write: BodyWriter, decode?: ReplyDecoder<unknown>): Promise<unknown> {
    try {
      this.assertOpen();
      if (this.remote) return this.requestRemote(ref, op, bodyLength, write, decode);
      const rec = this.record(ref);
      if (rec.settledReady === rec.ready && rec.waiting === 0) return this.requestOn(rec, op, bodyLength, write, decode);
      return this.requestWhenReady(rec, op, bodyLength, write, decode);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async requestRemote(ref: ActorRef, op: number, bodyLength: number, write: BodyWriter, decode: ReplyDecoder<unknown> | undefined): Promise<unknown> {
    const r = this.remote!.record(ref.actorId);
    await r.ready;
    return this.endpoint.requestWith(r.hostIndex, r.generation, ref.actorId, op, bodyLength, write, decode);
  }

  private async requestWhenReady(rec: ActorRecord, op: number, bodyLength: number, write: BodyWriter, decode: ReplyDecoder<unknown> | undefined): Promise<unknown> {
    for (;;) {
      const ready = rec.ready;
      rec.waiting++;
      try {
        await ready;
      } catch (err) {
        // Its host ended before it was up and the actor was placed again: wait for that placement.
        if (rec.ready !== ready && !this.closing) continue;
        throw err;
      } finally {
        rec.waiting--;
      }
      if (rec.ready === ready) rec.settledReady = ready;
      return this.requestOn(rec, op, bodyLength, write, decode);
    }
  }

  private requestOn(rec: ActorRecord, op: number, bodyLength: number, write: BodyWriter, decode: ReplyDecoder<unknown> | undefined): Promise<unknown> {
    const host = rec.host!;
    if (!host.live) throw new MillraceError('WORKER_DIED', `host worker ${host.index} is down; ${rec.name} is restarting`);
    return this.endpoint.requestWith(host.index, host.generation, rec.actorId, op, bodyLength, write, decode);
  }

  /**
   * Routes an actor's events to `handler` until the returned function is called. While any handler
   * is registered the reply pump runs (parked in Atomics.waitAsync, with a timer that keeps the
   * process alive: an open consumer keeps its process alive, a closed one does not).
   */
  onEvent(ref: ActorRef, handler: EventHandler): () => void {
    return this.endpoint.onEvent(ref.actorId, handler);
  }

  private send(host: Host, m: ControlToHost): void {
    host.port.postMessage(m);
  }

  /** Test hook: make host `index` die (process.exit in the worker, or an uncaught error). @internal */
  crashHost(index: number, how: 'exit' | 'throw' = 'exit'): void {
    this.send(this.assertLocal('crashHost').hosts[index]!, { t: 'crash', how });
  }

  /** Number of host workers. */
  get workers(): number {
    return this.local ? this.local.hosts.length : this.remote!.handle.workers;
  }

  private assertLocal(what: string): Local {
    if (!this.local) throw new MillraceError('INVALID_ARGUMENT', `${what} is only available on the thread that opened the system, not on a connected one`);
    return this.local;
  }

  /**
   * Orderly shutdown. On the opening thread: connected clients are told, every host answers what
   * it has read, stops its actors (flushing their ledgers), closes LMDB, and the pool is destroyed.
   * On a connected thread: the hosts drop this thread's rings. No handle stays open. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closing) {
      while (!this.closed) await immediate();
      return;
    }
    this.closing = true;
    this.restartHandlers.clear();
    // The pump keeps running while requests are in flight, no longer for event listeners.
    this.endpoint.stop();
    if (this.remote) {
      this.remote.close();
      this.closed = true;
      return;
    }
    const local = this.local!;
    // Let in-flight requests finish first (bounded: a dead host fails its own). Long polls are not
    // waited for: the hosts' shutdown answers them (empty) when it stops their actors.
    const deadline = Date.now() + 10_000;
    while (this.endpoint.inflightCount > this.parkedCount && Date.now() < deadline) await immediate();
    local.server?.close();
    await Promise.all(local.hosts.map(async (h) => {
      // A host not up yet may be a task waiting in piscina's queue (its worker failed to start): it
      // would never answer the shutdown.
      if (!h.live) h.abort.abort(new MillraceError('CLOSED', 'the actor system is closing'));
      this.send(h, { t: 'shutdown' });
      await h.exited;
    }));
    await local.pool.destroy();
    for (const h of local.hosts) h.port.close();
    this.closed = true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /**
   * A worker failed outside a task: one that died while starting (it was to run a replacement host
   * after a crash). piscina starts no other by itself, and the host task would wait in its queue
   * forever, with the actors placed on it (all of them with one worker). So the hosts not up yet are
   * aborted after a backoff, and supervision starts them again (onHostExit).
   */
  private onPoolError(err: unknown): void {
    const local = this.local!;
    writeLog(local.logger, 'error', { err: err instanceof Error ? err.message : String(err), failuresInARow: local.startFailures + 1 }, 'a host worker failed while starting; it is started again after a delay');
    if (this.closing) return;
    const delay = Math.min(DEFAULTS.hostStartRetryMaxMs, DEFAULTS.hostStartRetryMs * 2 ** local.startFailures);
    local.startFailures++;
    setTimeout(() => {
      if (this.closing) return;
      for (const h of local.hosts) if (!h.live) h.abort.abort(new MillraceError('WORKER_DIED', `host worker ${h.index} failed to start; starting it again`));
    }, delay).unref();
  }

  private assertOpen(): void {
    if (this.closing) throw new MillraceError('CLOSED', 'the actor system is closed');
  }
}
