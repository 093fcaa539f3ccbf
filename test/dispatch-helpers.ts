/** Shared bits of the dispatch tests: message refs by entry id and key, and small readers. */
import type { DispatchResult, Dispatcher, MessageRef } from '../core/dispatch/index.js';
import { KeySharedDispatcher } from '../core/dispatch/index.js';

/** Message `entryId` of ledger 1 (batch index 0) with `key`. */
export function msg(entryId: number, key: string | null = null): MessageRef {
  return { position: { ledgerId: 1, entryId }, batchIndex: 0, key };
}

/** Entry ids of `ms`, for compact assertions. */
export function ids(ms: readonly MessageRef[] | undefined): number[] {
  return (ms ?? []).map((m) => m.position.entryId);
}

/** `{ consumerId: [entry ids] }` of a dispatch result, plus `held`. */
export function summary(r: DispatchResult): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [c, ms] of [...r.assigned].sort((a, b) => a[0] - b[0])) out[`c${c}`] = ids(ms);
  out.held = ids(r.held);
  return out;
}

/** The first `n` keys `k<i>` that `d` routes to consumer `id` now. */
export function keysOwnedBy(d: Dispatcher, id: number, n: number, exclude: ReadonlySet<string> = new Set()): string[] {
  const ks = d as KeySharedDispatcher;
  const out: string[] = [];
  for (let i = 0; out.length < n && i < 100_000; i++) {
    const k = `k${i}`;
    if (!exclude.has(k) && ks.ownerOf(k) === id) out.push(k);
  }
  if (out.length < n) throw new Error(`found only ${out.length} keys owned by consumer ${id}`);
  return out;
}
