/**
 * Storage figures from the broker's internal stats: ledgers by state, bytes by tier, and which
 * ledgers are offloaded (to tell whether a replay began in the object store).
 */
import type { Admin, LedgerState } from '../index.js';
import type { TopicStorage } from './state.js';

/** Ledgers and bytes of a topic, summed over its partitions. */
export async function topicStorage(admin: Admin, topic: string): Promise<TopicStorage> {
  const out: TopicStorage = { ledgers: 0, offloadedLedgers: 0, localBytes: 0, offloadedBytes: 0 };
  for (const p of Object.values(await admin.internalStats(topic))) {
    out.ledgers += p.ledgers.length;
    // Counted as the bytes are: complete offloads, whether or not the local copy is deleted yet.
    out.offloadedLedgers += p.ledgers.filter((l) => l.offload?.complete === true).length;
    out.localBytes += p.localSize;
    out.offloadedBytes += p.offloadedSize;
  }
  return out;
}

/** Per partition index, each ledger's state now. */
export async function ledgerStates(admin: Admin, topic: string): Promise<Map<number, Map<number, LedgerState>>> {
  const out = new Map<number, Map<number, LedgerState>>();
  for (const [name, p] of Object.entries(await admin.internalStats(topic))) {
    const m = /-partition-(\d+)$/.exec(name);
    out.set(m ? Number(m[1]) : -1, new Map(p.ledgers.map((l) => [l.ledgerId, l.state])));
  }
  return out;
}
