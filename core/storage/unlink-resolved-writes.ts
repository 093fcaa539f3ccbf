/**
 * Cuts lmdb-js's list of settled async writes apart so that their bookkeeping dies young.
 *
 * lmdb-js keeps each async write's bookkeeping (its promise's resolvers, its value, its status slot)
 * in a node of a singly linked list, and each commit in a second list through the nodes that start
 * one. It walks both forwards as writes land and commits settle, but never clears the links of the
 * nodes it has passed. V8's young-generation collector takes every pointer out of the old
 * generation as live, even one held by a dead object, until the next full collection. So once one
 * node has been promoted (a write still in flight across two scavenges does it), each settled node
 * keeps the next one alive: every scavenge copies every write made since the last one and promotes
 * what it copied the time before ("nepotism"). On a durable host worker that was 530-660 KB copied
 * per scavenge, scavenges of 1.3-1.5 ms instead of 0.4-0.55, and half of `e2e.latency.2k`'s
 * messages at or above p99 overlapped one.
 *
 * lmdb-js reports each settled commit through its `aftercommit` event with the first node it is
 * about to settle (`next`) and the node that starts the commit after it (`last`). When the event
 * fires for one commit, the previous commit's nodes are settled and nothing walks them again:
 * their links are cleared then.
 */
import type { RootDatabase } from 'lmdb';

/** The fields of lmdb-js's write nodes this touches; everything else about them is lmdb-js's. */
interface WriteNode {
  next?: WriteNode | null;
  nextTxn?: WriteNode | null;
}

interface AfterCommit {
  next?: WriteNode | null;
  last?: WriteNode | null;
}

/**
 * Installs the unlinking on an environment's root. Each thread's root has its own lists, so each
 * root needs it once.
 */
export function unlinkResolvedWrites(root: RootDatabase): void {
  let settledFrom: WriteNode | null | undefined;
  let settledCommit: WriteNode | null | undefined;
  root.on('aftercommit', (event: AfterCommit) => {
    const { next, last } = event;
    // From the previous commit's first node up to this one's: settled, behind every walk. `last`
    // only guards against a list shaped otherwise than this expects: it is never reached first.
    let node = settledFrom;
    while (node != null && node !== next && node !== last) {
      const after: WriteNode | null | undefined = node.next;
      node.next = null;
      node = after;
    }
    // The previous commit's start has been followed to this commit's (`last` is read from it).
    if (settledCommit != null && settledCommit !== last) settledCommit.nextTxn = null;
    settledFrom = next;
    settledCommit = last;
  });
}
