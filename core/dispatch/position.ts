import type { MessageRef } from './types.js';

/** Orders messages by ledger, entry, then batch index: the log order. */
export function compareRefs(a: MessageRef, b: MessageRef): number {
  return (
    a.position.ledgerId - b.position.ledgerId ||
    a.position.entryId - b.position.entryId ||
    a.batchIndex - b.batchIndex
  );
}

/** Identity of a message as a map key: `ledger:entry:batch`. */
export function refKey(m: MessageRef): string {
  return `${m.position.ledgerId}:${m.position.entryId}:${m.batchIndex}`;
}
