/** A position in a managed ledger: the ledger, then the entry in it. Orders by ledger, then entry. */
export interface Position {
  readonly ledgerId: number;
  readonly entryId: number;
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  return a.ledgerId !== b.ledgerId ? a.ledgerId - b.ledgerId : a.entryId - b.entryId;
}

/** `ledger:entry`, for logs and error messages. */
export function formatPosition(p: Position): string {
  return `${p.ledgerId}:${p.entryId}`;
}
