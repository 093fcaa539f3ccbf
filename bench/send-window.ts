/**
 * The benchmarks' producer loop: a sliding window of sends in flight, each send awaiting the one
 * issued WINDOW sends before it, the pattern a fast producer uses (awaiting every Nth send instead
 * drains the pipeline each time).
 */

/**
 * Sends in flight. 10,000: with one host worker (the default on two cores), 20,000 published no
 * faster (2.44-2.53M against 2.44-2.51M msg/s), pub+sub was slower (877-918k against 949k-1.02M;
 * 40,000: 788-833k) and the four-consumer queue too (777-827k against 849-916k, peak RSS 417-423
 * against 368-376 MB): the pending sends only grew the main thread's heap.
 */
export const WINDOW = 10_000;

/**
 * Sends `total` messages, the i-th made by `make(i)`, through a window of `size` sends (default
 * {@link WINDOW}); resolves with how many
 * sends failed once all have settled and the producer is flushed. `make` may return the same buffer
 * every time: `send` copies the message before it returns (its documented contract), and a fresh
 * buffer per message was GC work the harness would measure.
 */
export async function sendWindowed(producer: { send(m: { value: Uint8Array }): Promise<unknown>; flush(): Promise<void> }, total: number, make: (i: number) => Uint8Array, size = WINDOW): Promise<number> {
  const window: (Promise<unknown> | undefined)[] = new Array(size);
  let failed = 0;
  for (let i = 0; i < total; i++) {
    const slot = i % size;
    const prev = window[slot];
    // try/await rather than prev.catch(): a derived promise per message is the bench's own cost.
    if (prev) try { await prev; } catch { failed++; }
    window[slot] = producer.send({ value: make(i) });
  }
  await Promise.all(window.map((p) => p?.catch(() => failed++)));
  await producer.flush();
  return failed;
}
