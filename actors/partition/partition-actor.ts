/**
 * The partition actor, first version: it owns one managed ledger. Appends arrive over the ring as
 * whole laid-out batches and the durable position goes back; reads return entries. It keeps nothing
 * that the ledger does not, so a restart anywhere recovers it from LMDB.
 */
import { ManagedLedger, type ManagedLedgerOptions } from '../../core/log/index.js';
import { MillraceError } from '../../core/errors.js';
import type { Actor, ActorFactory, Reply } from '../host/actor.js';
import { APPEND_REPLY_BYTES, OP_APPEND, OP_READ, OP_STATS, READ_ENTRY_HEADER, READ_REQUEST_BYTES } from './partition-protocol.js';

/** What a partition actor is spawned with. */
export interface PartitionActorConfig {
  ledger?: Omit<ManagedLedgerOptions, 'now'>;
}

// Replies must fit a ring record (1/8 of a 4 MiB ring by default) or fall back to the control port.
const READ_MAX_BYTES_CAP = 256 * 1024;

class PartitionActor implements Actor {
  constructor(private readonly ml: ManagedLedger) {}

  handle(op: number, body: Uint8Array, reply: Reply): void {
    switch (op) {
      case OP_APPEND: {
        // Copy out of the ring slot now: it is reused when this call returns, and lmdb-js would
        // store a SharedArrayBuffer view as garbage anyway.
        const entry = Buffer.from(body);
        this.ml.appendEntry(entry).then((r) => {
          const out = new Uint8Array(APPEND_REPLY_BYTES);
          const v = new DataView(out.buffer);
          v.setFloat64(0, r.position.ledgerId, true);
          v.setFloat64(8, r.position.entryId, true);
          v.setFloat64(16, r.publishTime, true);
          v.setUint32(24, r.count, true);
          reply.ok(out);
        }, (err: unknown) => reply.fail(err));
        return;
      }
      case OP_READ: {
        if (body.length !== READ_REQUEST_BYTES) return reply.fail(new MillraceError('INVALID_ARGUMENT', `a read request is ${READ_REQUEST_BYTES} bytes, got ${body.length}`));
        const v = new DataView(body.buffer, body.byteOffset, body.length);
        const from = { ledgerId: v.getFloat64(0, true), entryId: v.getFloat64(8, true) };
        const maxEntries = v.getUint32(16, true);
        const maxBytes = Math.min(v.getUint32(20, true), READ_MAX_BYTES_CAP);
        this.ml.readRange(from, { maxEntries, maxBytes }).then((entries) => {
          const size = 4 + entries.reduce((n, e) => n + READ_ENTRY_HEADER + e.entry.length, 0);
          const out = new Uint8Array(size);
          const w = new DataView(out.buffer);
          w.setUint32(0, entries.length, true);
          let at = 4;
          for (const e of entries) {
            w.setFloat64(at, e.position.ledgerId, true);
            w.setFloat64(at + 8, e.position.entryId, true);
            w.setUint32(at + 16, e.entry.length, true);
            out.set(e.entry, at + READ_ENTRY_HEADER);
            at += READ_ENTRY_HEADER + e.entry.length;
          }
          reply.ok(out);
        }, (err: unknown) => reply.fail(err));
        return;
      }
      case OP_STATS:
        reply.ok(new TextEncoder().encode(JSON.stringify(this.ml.stats())));
        return;
      default:
        reply.fail(new MillraceError('INVALID_ARGUMENT', `partition actor has no op ${op}`));
    }
  }

  async stop(): Promise<void> {
    await this.ml.close();
  }
}

const factory: ActorFactory = async (ctx, config) => {
  const c = (config ?? {}) as PartitionActorConfig;
  const ml = await ManagedLedger.open(ctx.store, ctx.name, c.ledger ?? {});
  return new PartitionActor(ml);
};

export default factory;
