/**
 * Records on the runtime's rings. Every client thread has, per host worker, a request ring (client
 * writes, host reads) and a reply ring (host writes, client reads), so each ring has one producer.
 *
 * ```
 * Request, ring record type 1, version 1 (little-endian)
 *  0               4               8       10      12
 *  +---------------+---------------+-------+-------+------------------
 *  | requestId u32 | actorId u32   | op u16| rsv   | body (op-defined)
 *  +---------------+---------------+-------+-------+------------------
 *  op bit 15 (OP_QUIET_REPLY): the client does not wait for the reply.
 * Reply, ring record type 2
 *  0               4               8
 *  +---------------+---------------+------------------------------------------
 *  | requestId u32 | status i32    | body: op-defined when status is 0 (OK);
 *  +---------------+---------------+ UTF-8 JSON {code, message, retriable} otherwise
 * ```
 * Event, ring record type 3 (host to client, unasked: deliveries)
 *  0               4
 *  +---------------+------------------------------------------
 *  | actorId u32   | body (actor-defined)
 *  +---------------+------------------------------------------
 * A request, reply or event whose record would exceed the ring's maximum record length travels the
 * same ring as a run of fragment records, ring record type 4 (../ring/fragments.ts), which keeps it
 * in order with the records around it.
 */
import { ERROR_CODES, MillraceError, type ErrorCode } from '../../core/errors.js';

export const RECORD_REQUEST = 1;
export const RECORD_REPLY = 2;
export const RECORD_EVENT = 3;
export const RECORD_FRAGMENT = 4;
export const EVENT_HEADER = 4;
export const REQUEST_HEADER = 12;
export const REPLY_HEADER = 8;
export const STATUS_OK = 0;
export const STATUS_ERROR = 1;

/**
 * Set in a request's op by a client that does not wait for the reply (a consumer's permits, whose
 * promise nobody awaits): the host writes the reply without ringing the client's doorbell. A
 * parked client is not woken for it, and reads it with the next record that does wake it, or when
 * its park times out. Each wake of a parked thread is a futex call on the host (about 15 us here,
 * often more); in e2e.queue a reply to every consumer's flow woke that consumer's thread.
 */
export const OP_QUIET_REPLY = 0x8000;

/** Writes a request record's header at `view[at..]` (the body follows at `at + REQUEST_HEADER`). */
export function writeRequestHeader(view: DataView, at: number, requestId: number, actorId: number, op: number): void {
  view.setUint32(at, requestId, true);
  view.setUint32(at + 4, actorId, true);
  view.setUint16(at + 8, op, true);
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Encodes an error for a reply body; anything that is not a MillraceError becomes STORAGE_READ_FAILED's kin. */
export function encodeError(err: unknown): Uint8Array {
  const e = err instanceof MillraceError
    ? { code: err.code, message: err.message, retriable: err.retriable }
    : { code: 'INVALID_ARGUMENT' as ErrorCode, message: `actor failed: ${err instanceof Error ? err.message : String(err)}`, retriable: false };
  return encoder.encode(JSON.stringify(e));
}

/** Rebuilds the error a host sent back. */
export function decodeError(body: Uint8Array): MillraceError {
  try {
    const e = JSON.parse(decoder.decode(body)) as { code: string; message: string; retriable: boolean };
    const code = (e.code in ERROR_CODES ? e.code : 'INVALID_ARGUMENT') as ErrorCode;
    return new MillraceError(code, e.message, { retriable: e.retriable });
  } catch (cause) {
    return new MillraceError('INVALID_ARGUMENT', 'an actor replied with an unreadable error', { cause });
  }
}
