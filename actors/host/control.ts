/**
 * The runtime's cold paths. Nothing per message of a stream goes this way: postMessage clones, and
 * it would not keep a message in order with the rings (a record too large for one ring record goes
 * through the ring in fragments instead).
 *
 * 1. A host's control port (a MessagePort per host worker, owned by the main thread's ActorSystem):
 *    attach and detach a client thread's rings, spawn and stop actors, shut down.
 *
 * 2. The connect channel: how a client in another worker thread of the same process (Broker.connect)
 *    joins. A handle (SystemHandle) must be postable as it is, without a transfer list, so it cannot
 *    carry a MessagePort; it names a BroadcastChannel instead (one per ActorSystem, created on the
 *    first `handle()`), and carries a SharedArrayBuffer whose Int32 word 0 is the next client ID
 *    (Atomics.add: unique per process; the main thread's own client is 0).
 *
 *    Every ring keeps one producer: a connecting thread creates its own request/reply ring pair per
 *    host and its own doorbell, and asks the main thread to have each host attach them:
 *
 *    ```
 *    client                                   main thread (ActorSystem)          host i
 *      hello {clientId, threadId}        ->
 *                                        <-   welcome {clientId, hosts[]}
 *      attach {clientId, i, gen, rings}  ->   (gen still current?) attach ->
 *                                                                           <- attached
 *                                        <-   attached {clientId, i, gen}
 *      spawn {clientId, callId, kind, name} -> ActorSystem.spawn (one actor per name)
 *                                        <-   spawned {callId, actorId, hostIndex, generation}
 *      ... requests and replies on the rings, as for the main thread ...
 *      bye {clientId}                    ->   detach ->  (every host drops the client's rings)
 *    ```
 *    Supervision: when host i dies the main thread starts its replacement and broadcasts
 *    `host-replaced`; each client fails its in-flight requests to host i (WORKER_DIED), makes a new
 *    ring pair for the replacement (the old ring may hold a record the dead writer never committed)
 *    and attaches it as above. Actors of the dead host restart on live hosts; each restart (and each
 *    move) is broadcast as `placed` with restarted: true, so clients route to the new host and
 *    re-subscribe their consumers (ActorSystem.onRestart).
 *
 *    A BroadcastChannel delivers every message to every other member, so each message addressed to
 *    one client carries its clientId and the others ignore it. Messages from one sender arrive in
 *    the order sent: a client always sees `host-replaced` before the `placed` of the restarts it
 *    causes. A client thread that ends (process.exit, or its event loop runs dry) says `bye` from a
 *    process 'exit' hook; a thread killed by worker.terminate() runs no hook and stays attached
 *    until the main broker closes (the hosts then skip its consumers: emitting to it fails). There
 *    is deliberately no heartbeat: liveness must not depend on how long a handler runs (G10).
 */
import type { LogLevel } from '../../core/observability/logger.js';

/** A host's control port, main thread to host. */
export type ControlToHost =
  | { t: 'attach'; clientId: number; requests: SharedArrayBuffer; replies: SharedArrayBuffer; bell: SharedArrayBuffer }
  | { t: 'detach'; clientId: number }
  | { t: 'spawn'; actorId: number; kind: string; name: string; config: unknown }
  /** `gone`: an encoded error that requests for the actor reaching the host later fail with (a deleted topic). */
  | { t: 'stop'; actorId: number; gone?: Uint8Array }
  | { t: 'crash'; how: 'exit' | 'throw' }
  | { t: 'shutdown' };

/** A host's control port, host to main thread. */
export type HostToControl =
  | { t: 'ready' }
  | { t: 'attached'; clientId: number }
  | { t: 'spawned'; actorId: number }
  | { t: 'spawn-failed'; actorId: number; error: Uint8Array }
  | { t: 'stopped'; actorId: number }
  | { t: 'log'; level: LogLevel; obj: Record<string, unknown>; msg: string }
  | { t: 'shutdown-done' };

/** What `ActorSystem.handle()` returns: plain data and SharedArrayBuffers, postable as it is. */
export interface SystemHandle {
  readonly channel: string;
  /** Int32 word 0: the next client ID. */
  readonly ids: SharedArrayBuffer;
  readonly workers: number;
  readonly ringBytes: number;
}

/** One host slot as a connected client needs it: its generation and the doorbell to ring. */
export interface HostInfo {
  index: number;
  generation: number;
  bell: SharedArrayBuffer;
}

/** The connect channel, client thread to main thread. */
export type ClientToServer =
  | { t: 'hello'; clientId: number; threadId: number }
  | { t: 'attach'; clientId: number; index: number; generation: number; requests: SharedArrayBuffer; replies: SharedArrayBuffer; bell: SharedArrayBuffer }
  | { t: 'spawn'; clientId: number; callId: number; kind: string; name: string; config: unknown }
  | { t: 'bye'; clientId: number };

/** The connect channel, main thread to client threads (each keeps what names its clientId, or all). */
export type ServerToClient =
  | { t: 'welcome'; clientId: number; hosts: HostInfo[] }
  | { t: 'attached'; clientId: number; index: number; generation: number }
  | { t: 'host-replaced'; host: HostInfo }
  | { t: 'spawned'; clientId: number; callId: number; actorId: number; hostIndex: number; generation: number }
  | { t: 'spawn-failed'; clientId: number; callId: number; error: Uint8Array }
  | { t: 'placed'; actorId: number; hostIndex: number; generation: number; restarted: boolean }
  | { t: 'place-failed'; actorId: number; error: Uint8Array }
  | { t: 'shutdown' };

/** Messages of both directions share the channel; each side keeps its own kinds. */
export type ChannelMessage = ClientToServer | ServerToClient;
