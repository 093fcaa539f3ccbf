/** Helpers of the messaging tests: a broker on a temp dir (reopenable), topic names, send and drain. */
import { Broker, MillraceError, type BrokerOptions, type Consumer, type Message, type Producer } from '../../index.js';
import { tempDir, removeDir } from './tmp.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

export const bytes = (s: string): Uint8Array => enc.encode(s);
export const text = (m: Message<Uint8Array>): string => dec.decode(m.data);

let counter = 0;
/** A fresh topic name per call, so tests never share state by accident. */
export function topicName(tag: string): string {
  return `persistent://public/default/${tag}-${process.pid}-${++counter}`;
}

/**
 * Broker-wide policies that keep every message: tests about something else read back what they
 * wrote, while Pulsar's default retention (the broker's) deletes what no subscription still needs.
 */
export const KEEP_ALL = { retention: { timeMs: -1, sizeBytes: -1 } };

/**
 * A broker on a temp data dir, with `reopen()` for restart tests; removes the dir afterwards. It keeps
 * every message ({@link KEEP_ALL}) unless `options` has policies of its own.
 */
export async function withBroker(fn: (ctx: { broker: Broker; dir: string; reopen(): Promise<Broker> }) => Promise<void>,
  given: Partial<BrokerOptions> = {}): Promise<void> {
  const options = 'policies' in given ? given : { ...given, policies: KEEP_ALL };
  const dir = tempDir('millrace-msg');
  let broker = await Broker.open({ dataDir: dir, workers: 2, ...options });
  const ctx = {
    get broker() { return broker; },
    dir,
    async reopen(): Promise<Broker> {
      await broker.close();
      broker = await Broker.open({ dataDir: dir, workers: 2, ...options });
      return broker;
    },
  };
  try {
    await fn(ctx);
  } finally {
    await broker.close().catch(() => undefined);
    removeDir(dir);
  }
}

/** Sends `values` in order and waits for all of them to be durable. */
export async function sendAll(p: Producer<Uint8Array>, values: string[], extra: (i: number) => { key?: string; deliverAfterMs?: number } = () => ({})): Promise<void> {
  await Promise.all(values.map((v, i) => p.send({ value: bytes(v), ...extra(i) })));
}

/** Receives until `n` messages arrived or `idleMs` passes with none; acks each when `ack`. */
export async function drain(c: Consumer<Uint8Array>, n: number, options: { idleMs?: number; ack?: boolean } = {}): Promise<Message<Uint8Array>[]> {
  const out: Message<Uint8Array>[] = [];
  while (out.length < n) {
    const m = await c.receive({ timeoutMs: options.idleMs ?? 1000 });
    if (!m) break;
    out.push(m);
    if (options.ack) await c.ack(m);
  }
  return out;
}

export function isCode(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof MillraceError && e.code === code;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const range = (n: number, tag = 'm'): string[] => Array.from({ length: n }, (_, i) => `${tag}${i}`);
