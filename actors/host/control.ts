/**
 * Messages on a host's control port: the cold path (attach a client's rings, spawn and stop actors,
 * shut down, oversized requests and replies). postMessage clones these; nothing per message of a
 * stream goes this way.
 */
export type ControlToHost =
  | { t: 'attach'; clientId: number; requests: SharedArrayBuffer; replies: SharedArrayBuffer; bell: SharedArrayBuffer }
  | { t: 'detach'; clientId: number }
  | { t: 'spawn'; actorId: number; kind: string; name: string; config: unknown }
  | { t: 'stop'; actorId: number }
  | { t: 'request'; clientId: number; requestId: number; actorId: number; op: number; body: Uint8Array }
  | { t: 'crash'; how: 'exit' | 'throw' }
  | { t: 'shutdown' };

export type HostToControl =
  | { t: 'ready' }
  | { t: 'attached'; clientId: number }
  | { t: 'spawned'; actorId: number }
  | { t: 'spawn-failed'; actorId: number; error: Uint8Array }
  | { t: 'stopped'; actorId: number }
  | { t: 'reply'; clientId: number; requestId: number; status: number; body: Uint8Array }
  | { t: 'event'; clientId: number; record: Uint8Array }
  | { t: 'shutdown-done' };
