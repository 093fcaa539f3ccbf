/**
 * The main-thread stub of a partition actor: it lays producer batches out straight into a claimed
 * ring slot (no intermediate buffer), so one append is one ring record, one WASM seal and one LMDB
 * put on the far side; the reply carries the durable position.
 */
import type { AppendBatch, AppendResult, ReadEntry, ReadRangeOptions, Position, ManagedLedgerStats } from '../../core/log/index.js';
import { DEFAULTS } from '../../core/defaults.js';
import { encodeInto, encodedSize } from '../../wasm/index.js';
import type { ActorRef, ActorSystem } from '../host/actor-system.js';
import type { PartitionActorConfig } from '../partition/partition-actor.js';
import { APPEND_REPLY_BYTES, OP_APPEND, OP_READ, OP_STATS, READ_ENTRY_HEADER, READ_REQUEST_BYTES } from '../partition/partition-protocol.js';

export class PartitionClient {
  private constructor(private readonly system: ActorSystem, readonly ref: ActorRef) {}

  /** Spawns (or reattaches to) the partition actor for the managed ledger `name`. */
  static async spawn(system: ActorSystem, name: string, config: PartitionActorConfig = {}): Promise<PartitionClient> {
    return new PartitionClient(system, await system.spawn('partition', name, config));
  }

  /** Appends one batch; resolves once it is durable on the actor's ledger. */
  async append(batch: AppendBatch): Promise<AppendResult> {
    const frame = { publishTime: 0, producerName: batch.producerName ?? null, messages: batch.messages };
    const size = encodedSize(frame);
    const reply = await this.system.request(this.ref, OP_APPEND, size, (bytes, offset) => {
      encodeInto(frame, bytes, offset);
    });
    if (reply.length !== APPEND_REPLY_BYTES) throw new Error(`append reply of ${reply.length} bytes`);
    const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
    return {
      position: { ledgerId: v.getFloat64(0, true), entryId: v.getFloat64(8, true) },
      publishTime: v.getFloat64(16, true),
      bytes: size,
      count: v.getUint32(24, true),
    };
  }

  /** Reads durable entries from `from` on (see ManagedLedger.readRange). */
  async readRange(from: Position, options: ReadRangeOptions = {}): Promise<ReadEntry[]> {
    const reply = await this.system.request(this.ref, OP_READ, READ_REQUEST_BYTES, (bytes, offset) => {
      const v = new DataView(bytes.buffer, bytes.byteOffset + offset, READ_REQUEST_BYTES);
      v.setFloat64(0, from.ledgerId, true);
      v.setFloat64(8, from.entryId, true);
      v.setUint32(16, options.maxEntries ?? DEFAULTS.readMaxEntries, true);
      v.setUint32(20, Math.min(options.maxBytes ?? DEFAULTS.readMaxBytes, 0xffffffff), true);
    });
    const v = new DataView(reply.buffer, reply.byteOffset, reply.length);
    const count = v.getUint32(0, true);
    const out: ReadEntry[] = [];
    let at = 4;
    for (let i = 0; i < count; i++) {
      const position = { ledgerId: v.getFloat64(at, true), entryId: v.getFloat64(at + 8, true) };
      const length = v.getUint32(at + 16, true);
      out.push({ position, entry: reply.subarray(at + READ_ENTRY_HEADER, at + READ_ENTRY_HEADER + length) });
      at += READ_ENTRY_HEADER + length;
    }
    return out;
  }

  async stats(): Promise<ManagedLedgerStats> {
    const reply = await this.system.request(this.ref, OP_STATS, 0, () => undefined);
    return JSON.parse(new TextDecoder().decode(reply)) as ManagedLedgerStats;
  }
}
