/**
 * A client thread's end of the connect channel (protocol in ./control.ts): it takes a client ID,
 * has every host attach this thread's own rings, asks the main thread to spawn (or find) actors,
 * and follows host replacements and actor restarts. The rings themselves are a ClientEndpoint, as
 * on the main thread.
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { MillraceError } from '../../core/errors.js';
import { decodeError } from './protocol.js';
import { ClientEndpoint } from './client-endpoint.js';
import type { ChannelMessage, ClientToServer, HostInfo, SystemHandle } from './control.js';

/** Where an actor runs, as this client knows it. */
export interface RemoteRecord {
  actorId: number;
  hostIndex: number;
  generation: number;
  /** Pending while the actor restarts after its host died. */
  ready: Promise<void>;
  settle?: { resolve(): void; reject(err: unknown): void };
}

// How long a connect may take before it fails: the main thread answers at once unless it is gone.
const CONNECT_TIMEOUT_MS = 30_000;

export class ConnectClient {
  readonly endpoint: ClientEndpoint;
  private readonly channel: BroadcastChannel;
  private readonly records = new Map<number, RemoteRecord>();
  private readonly calls = new Map<number, { resolve(r: { actorId: number; hostIndex: number; generation: number }): void; reject(err: unknown): void }>();
  private nextCallId = 1;
  private welcomed: ((hosts: HostInfo[]) => void) | undefined;
  private closed = false;
  private shutdown = false;
  private readonly onExit = (): void => this.bye();
  /** Called once the system this thread joined shuts down (its opening thread closed it). */
  onShutdown: (() => void) | undefined;

  private constructor(readonly handle: SystemHandle, readonly clientId: number, private readonly onRestart: (actorId: number) => void) {
    this.channel = new BroadcastChannel(handle.channel);
    this.endpoint = new ClientEndpoint(clientId, handle.ringBytes);
    this.channel.onmessage = (e: unknown) => this.onMessage((e as { data: ChannelMessage }).data);
  }

  /** Joins the system behind `handle`: resolves once every host has attached this thread's rings. */
  static async connect(handle: SystemHandle, onRestart: (actorId: number) => void): Promise<ConnectClient> {
    if (handle === null || typeof handle !== 'object' || typeof handle.channel !== 'string' || !(handle.ids instanceof SharedArrayBuffer)) {
      throw new MillraceError('INVALID_ARGUMENT', 'connect takes the value broker.handle() returned (posted to this thread as it is)');
    }
    const clientId = Atomics.add(new Int32Array(handle.ids), 0, 1);
    const c = new ConnectClient(handle, clientId, onRestart);
    try {
      const hosts = await c.withTimeout(new Promise<HostInfo[]>((resolve) => {
        c.welcomed = resolve;
        c.post({ t: 'hello', clientId, threadId });
      }));
      for (const h of hosts) c.attach(h);
      await c.withTimeout(Promise.all(hosts.map((h) => c.endpoint.ready(h.index))));
    } catch (err) {
      c.close();
      throw err;
    }
    // A thread that ends without closing still says goodbye, so the hosts drop its rings.
    process.once('exit', c.onExit);
    return c;
  }

  private withTimeout<T>(p: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MillraceError('TIMEOUT', `no answer from the broker's main thread on ${this.handle.channel} within ${CONNECT_TIMEOUT_MS} ms; is it open?`)), CONNECT_TIMEOUT_MS);
    });
    return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
  }

  private attach(h: HostInfo): void {
    const rings = this.endpoint.openSlot(h.index, h.generation, h.bell);
    this.post({ t: 'attach', clientId: this.clientId, index: h.index, generation: h.generation, ...rings });
  }

  private post(m: ClientToServer): void {
    if (!this.closed) this.channel.postMessage(m);
  }

  private assertOpen(): void {
    if (this.shutdown) throw new MillraceError('CLOSED', 'the broker this thread connected to is closed');
    if (this.closed) throw new MillraceError('CLOSED', 'this connected client is closed');
  }

  /** Asks the main thread for the actor `name` (spawned on first use, one per name). */
  async spawn(kind: string, name: string, config: unknown): Promise<RemoteRecord> {
    this.assertOpen();
    const callId = this.nextCallId++;
    const r = await new Promise<{ actorId: number; hostIndex: number; generation: number }>((resolve, reject) => {
      this.calls.set(callId, { resolve, reject });
      this.post({ t: 'spawn', clientId: this.clientId, callId, kind, name, config });
    });
    let rec = this.records.get(r.actorId);
    if (!rec) {
      rec = { actorId: r.actorId, hostIndex: r.hostIndex, generation: r.generation, ready: Promise.resolve() };
      this.records.set(r.actorId, rec);
    }
    return rec;
  }

  record(actorId: number): RemoteRecord {
    this.assertOpen();
    const rec = this.records.get(actorId);
    if (!rec) throw new MillraceError('INVALID_ARGUMENT', `actor ${actorId} was not spawned through this client`);
    return rec;
  }

  private onMessage(m: ChannelMessage): void {
    if (this.closed) return;
    switch (m.t) {
      case 'welcome':
        if (m.clientId === this.clientId && this.welcomed) {
          this.welcomed(m.hosts);
          this.welcomed = undefined;
        }
        return;
      case 'attached':
        if (m.clientId === this.clientId) this.endpoint.markLive(m.index, m.generation);
        return;
      case 'host-replaced': {
        if (this.welcomed) return;
        const died = new MillraceError('WORKER_DIED', `host worker ${m.host.index} died; its actors are restarting`);
        this.endpoint.failSlot(m.host.index, this.endpoint.generationOf(m.host.index), died);
        // Requests to the dead host's actors wait for their restart (`placed`) instead of failing.
        for (const rec of this.records.values()) {
          if (rec.hostIndex === m.host.index && rec.generation < m.host.generation && !rec.settle) {
            let settle!: RemoteRecord['settle'];
            rec.ready = new Promise<void>((resolve, reject) => {
              settle = { resolve, reject };
            });
            rec.ready.catch(() => undefined);
            rec.settle = settle;
          }
        }
        this.attach(m.host);
        return;
      }
      case 'placed': {
        const rec = this.records.get(m.actorId);
        if (!rec) return;
        rec.hostIndex = m.hostIndex;
        rec.generation = m.generation;
        rec.settle?.resolve();
        rec.settle = undefined;
        rec.ready = Promise.resolve();
        if (m.restarted) this.onRestart(m.actorId);
        return;
      }
      case 'place-failed': {
        const rec = this.records.get(m.actorId);
        if (!rec?.settle) return;
        rec.settle.reject(decodeError(m.error));
        rec.settle = undefined;
        return;
      }
      case 'spawned':
      case 'spawn-failed': {
        if (m.clientId !== this.clientId) return;
        const call = this.calls.get(m.callId);
        if (!call) return;
        this.calls.delete(m.callId);
        if (m.t === 'spawned') call.resolve(m);
        else call.reject(decodeError(m.error));
        return;
      }
      case 'shutdown':
        this.shutdown = true;
        this.failEverything(new MillraceError('CLOSED', 'the broker this thread connected to closed'));
        this.onShutdown?.();
        return;
      default:
        return;
    }
  }

  private failEverything(err: MillraceError): void {
    this.endpoint.failAll(err);
    for (const c of this.calls.values()) c.reject(err);
    this.calls.clear();
    for (const rec of this.records.values()) {
      rec.settle?.reject(err);
      rec.settle = undefined;
    }
  }

  private bye(): void {
    if (this.closed) return;
    this.post({ t: 'bye', clientId: this.clientId });
  }

  /** Leaves: the hosts drop this thread's rings. Pending requests fail with CLOSED. Idempotent. */
  close(): void {
    if (this.closed) return;
    process.removeListener('exit', this.onExit);
    this.bye();
    this.closed = true;
    this.failEverything(new MillraceError('CLOSED', 'this connected client is closed'));
    this.endpoint.stop();
    this.channel.close();
  }
}
