/**
 * A bounded LRU of fixed-size blocks of offloaded objects, shared by the readers of one thread. Reading
 * whole blocks turns many small entry reads into few large ranged GETs (an S3 GET costs ~10-50 ms
 * whatever its size up to about a MiB), and concurrent requests for one block share one GET.
 */
import { MillraceError } from '../errors.js';

/** 1 MiB blocks: ~100 framed 100-message entries of 100 B values per GET, and few GETs per ledger. */
export const DEFAULT_BLOCK_BYTES = 1024 * 1024;

/** Options of a {@link BlockCache}. */
export interface BlockCacheOptions {
  /** Bytes per block (the unit of a ranged GET). @default 1 MiB */
  blockBytes?: number;
}

/** Cache figures, for stats. */
export interface BlockCacheStats {
  bytes: number;
  blocks: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class BlockCache {
  readonly maxBytes: number;
  readonly blockBytes: number;
  /** Insertion order is recency order: a hit re-inserts. */
  private readonly blocks = new Map<string, Uint8Array>();
  private readonly loading = new Map<string, Promise<Uint8Array>>();
  private bytes = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  /** `maxBytes` may be 0 (no caching: each block is fetched, used and dropped). */
  constructor(maxBytes: number, options: BlockCacheOptions = {}) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new MillraceError('INVALID_ARGUMENT', `BlockCache maxBytes must be a non-negative integer, got ${String(maxBytes)}`);
    const bb = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
    if (!Number.isSafeInteger(bb) || bb < 64) throw new MillraceError('INVALID_ARGUMENT', `BlockCache blockBytes must be an integer >= 64, got ${String(bb)}`);
    this.maxBytes = maxBytes;
    this.blockBytes = bb;
  }

  /**
   * The block under `id` (an opaque name of object + block number), from the cache or by `fetch`.
   * A failed fetch is not cached: the next call tries again.
   */
  get(id: string, fetch: () => Promise<Uint8Array>): Promise<Uint8Array> {
    const hit = this.blocks.get(id);
    if (hit !== undefined) {
      this.hits++;
      this.blocks.delete(id);
      this.blocks.set(id, hit);
      return Promise.resolve(hit);
    }
    const pending = this.loading.get(id);
    if (pending !== undefined) {
      this.hits++;
      return pending;
    }
    this.misses++;
    const p = fetch().then((b) => {
      this.loading.delete(id);
      this.insert(id, b);
      return b;
    }, (err: unknown) => {
      this.loading.delete(id);
      throw err;
    });
    this.loading.set(id, p);
    return p;
  }

  /** True when the block is cached or being fetched (read-ahead skips those). */
  has(id: string): boolean {
    return this.blocks.has(id) || this.loading.has(id);
  }

  /** Drops every block whose id starts with `prefix` (an object that was deleted). */
  invalidate(prefix: string): void {
    for (const [id, b] of this.blocks) {
      if (id.startsWith(prefix)) {
        this.blocks.delete(id);
        this.bytes -= b.length;
      }
    }
  }

  stats(): BlockCacheStats {
    return { bytes: this.bytes, blocks: this.blocks.size, hits: this.hits, misses: this.misses, evictions: this.evictions };
  }

  private insert(id: string, b: Uint8Array): void {
    if (b.length > this.maxBytes) return;
    const old = this.blocks.get(id);
    if (old !== undefined) {
      this.blocks.delete(id);
      this.bytes -= old.length;
    }
    this.blocks.set(id, b);
    this.bytes += b.length;
    while (this.bytes > this.maxBytes) {
      const first = this.blocks.keys().next();
      if (first.done === true) break;
      const victim = this.blocks.get(first.value)!;
      this.blocks.delete(first.value);
      this.bytes -= victim.length;
      this.evictions++;
    }
  }
}
