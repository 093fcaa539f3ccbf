/**
 * The main thread's end of the connect channel (protocol in ./control.ts): it admits clients of
 * other worker threads, has the hosts attach their rings, spawns or looks up actors for them, and
 * tells them about host replacements and actor restarts. Created by the first `handle()` call, so
 * a broker that never hands out a handle pays nothing; closed with the actor system.
 */
import { randomBytes } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { encodeError } from './protocol.js';
import type { ClientToServer, ChannelMessage, HostInfo, ServerToClient, SystemHandle } from './control.js';
import { onThreadExit } from './thread-exits.js';

// Ended threads remembered, so a hello that arrives after its thread's end is not admitted.
const ENDED_THREADS_KEPT = 4096;

/** What the server needs of the actor system. */
export interface ServerHooks {
  hosts(): HostInfo[];
  /** Asks host `index` to attach a client's rings if it is still generation `generation`. */
  attach(m: Extract<ClientToServer, { t: 'attach' }>): void;
  /** Drops a client's rings on every host. */
  detach(clientId: number): void;
  /** Spawns (or finds) the actor named `name`; resolves with where it runs. */
  spawn(kind: string, name: string, config: unknown): Promise<{ actorId: number; hostIndex: number; generation: number }>;
}

export class ConnectServer {
  readonly handle: SystemHandle;
  private readonly channel: BroadcastChannel;
  private readonly clients = new Set<number>();
  /** The thread of each connected client, so a thread's end drops its clients. */
  private readonly threadOf = new Map<number, number>();
  private readonly ended = new Set<number>();
  private readonly exits: { close(): void };
  private closed = false;

  constructor(workers: number, ringBytes: number, private readonly hooks: ServerHooks) {
    const ids = new SharedArrayBuffer(4);
    // Client 0 is the main thread's own.
    Atomics.store(new Int32Array(ids), 0, 1);
    this.handle = { channel: `millrace-${process.pid}-${randomBytes(8).toString('hex')}`, ids, workers, ringBytes };
    this.channel = new BroadcastChannel(this.handle.channel);
    // The pool's threads keep the process alive while the system is open; the channel must not
    // keep it alive on its own.
    this.channel.unref();
    this.channel.onmessage = (e: unknown) => this.onMessage((e as { data: ChannelMessage }).data);
    this.exits = onThreadExit((threadId) => this.threadEnded(threadId));
  }

  /**
   * A client thread ended without a goodbye (terminated): its clients leave as if they had closed,
   * so the hosts drop their rings and consumers and redeliver what those consumers held.
   */
  private threadEnded(threadId: number): void {
    if (this.closed) return;
    this.ended.add(threadId);
    if (this.ended.size > ENDED_THREADS_KEPT) this.ended.delete(this.ended.values().next().value as number);
    for (const [clientId, t] of this.threadOf) {
      if (t !== threadId) continue;
      this.threadOf.delete(clientId);
      if (this.clients.delete(clientId)) this.hooks.detach(clientId);
    }
  }

  /** True when `clientId` is a connected client (its rings go to replacement hosts). */
  has(clientId: number): boolean {
    return this.clients.has(clientId);
  }

  get connected(): number[] {
    return [...this.clients];
  }

  broadcast(m: ServerToClient): void {
    if (!this.closed) this.channel.postMessage(m);
  }

  private onMessage(m: ChannelMessage): void {
    if (this.closed) return;
    switch (m.t) {
      case 'hello':
        if (this.ended.has(m.threadId)) return;
        this.clients.add(m.clientId);
        this.threadOf.set(m.clientId, m.threadId);
        this.broadcast({ t: 'welcome', clientId: m.clientId, hosts: this.hooks.hosts() });
        return;
      case 'attach':
        if (this.clients.has(m.clientId)) this.hooks.attach(m);
        return;
      case 'spawn':
        if (!this.clients.has(m.clientId)) return;
        this.hooks.spawn(m.kind, m.name, m.config).then(
          (r) => this.broadcast({ t: 'spawned', clientId: m.clientId, callId: m.callId, ...r }),
          (err: unknown) => this.broadcast({ t: 'spawn-failed', clientId: m.clientId, callId: m.callId, error: encodeError(err) }),
        );
        return;
      case 'bye':
        this.threadOf.delete(m.clientId);
        if (this.clients.delete(m.clientId)) this.hooks.detach(m.clientId);
        return;
      default:
        // The server's own kinds, echoed by nobody (a channel never delivers to its sender); and
        // other clients' traffic is not addressed to the server.
        return;
    }
  }

  /** Tells every client the system is shutting down, then leaves the channel. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.broadcast({ t: 'shutdown' });
    this.closed = true;
    this.channel.close();
    this.exits.close();
  }
}
