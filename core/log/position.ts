/** A position in a managed ledger: the ledger, then the entry in it. Orders by ledger, then entry. */
export interface Position {
  readonly ledgerId: number;
  readonly entryId: number;
}

/**
 * A ledger or entry ID read from storage or the wire, as a number V8 keeps small: a small integer
 * when it fits one, else the number as it is. LMDB key decoding and DataView's getFloat64 return
 * heap numbers even for 5, and a position built from one has a hidden class of its own (a field
 * holding a heap number or a double): with positions of several classes the cursor's and the
 * dispatcher's hot paths went polymorphic ("wrong map" deopts) and boxed each ID they passed on.
 * Every position read in from outside goes through here.
 */
export function smallId(x: number): number {
  return x === (x | 0) ? x | 0 : x;
}

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function comparePositions(a: Position, b: Position): number {
  return a.ledgerId !== b.ledgerId ? a.ledgerId - b.ledgerId : a.entryId - b.entryId;
}

/** `ledger:entry`, for logs and error messages. */
export function formatPosition(p: Position): string {
  return `${p.ledgerId}:${p.entryId}`;
}
