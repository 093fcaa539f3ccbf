/** Sending and draining many messages, shared by `bench` and `demo`. */
import type { Producer, ProducerMessage } from '../actors/client/producer.js';
import type { Consumer } from '../actors/client/consumer.js';
import type { Message } from '../actors/client/message.js';

// Sends in flight: each send waits for the one issued this many before (a sliding window without
// Array#shift), enough to keep every partition's batches full.
const WINDOW = 20_000;

/** Sends `n` messages made by `make`, windowed; resolves when all are durable. */
export async function sendMany(producer: Producer<Uint8Array>, n: number, make: (i: number) => ProducerMessage<Uint8Array>): Promise<void> {
  const window: (Promise<unknown> | undefined)[] = new Array(Math.min(WINDOW, Math.max(1, n)));
  for (let i = 0; i < n; i++) {
    const slot = i % window.length;
    if (window[slot]) await window[slot];
    window[slot] = producer.send(make(i));
  }
  await Promise.all(window);
}

/**
 * Receives until `want` messages arrived over all consumers (or none for `idleMs`), acking each;
 * `onMessage` sees which consumer took which message. Resolves with the count once the acks are durable.
 */
export async function drainAll(consumers: Consumer<Uint8Array>[], want: number, idleMs: number,
  onMessage: (consumer: number, m: Message<Uint8Array>) => void = () => undefined): Promise<number> {
  let got = 0;
  const acks: Promise<void>[] = [];
  // Once the last message arrives, the other consumers' receives are aborted, so the timing is not
  // padded by an idle timeout.
  const done = new AbortController();
  await Promise.all(consumers.map(async (c, i) => {
    while (got < want) {
      const m = await c.receive({ timeoutMs: idleMs, signal: done.signal });
      if (!m) return;
      got++;
      onMessage(i, m);
      acks.push(c.ack(m));
      if (got >= want) done.abort();
    }
  }));
  await Promise.all(acks);
  return got;
}
