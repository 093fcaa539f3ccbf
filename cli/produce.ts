/**
 * `millrace produce`: sends messages given as arguments or read from stdin (one per line) and
 * prints each message's ID once it is durable, in the order sent.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { MessageId } from '../core/topic/index.js';
import type { Broker } from '../actors/client/broker.js';
import { collect, integer, oneOf, properties } from './parse.js';
import { decodeValue, VALUE_ENCODINGS, type Output, type ValueEncoding } from './output.js';
import { commonOptions, fullName, withBroker, type CommonOptions } from './session.js';

interface ProduceOptions extends CommonOptions {
  message?: string[];
  key?: string;
  properties?: string[];
  count: number;
  encoding: ValueEncoding;
  name?: string;
}

// Sends in flight before the oldest is awaited and printed: enough to fill batches, bounded memory.
const WINDOW = 10_000;

export function registerProduce(program: Command): void {
  const cmd = program.command('produce')
    .description('send messages to a topic (from --message, or stdin one message per line) and print their message IDs')
    .argument('<topic>', 'topic name: name, tenant/namespace/name or persistent://tenant/namespace/name')
    .option('-m, --message <value>', 'a message value (repeatable); without it, each stdin line is one message', collect)
    .option('-k, --key <key>', 'message key (routes the message and orders it per key)')
    .option('-p, --properties <key=value>', 'a message property (repeatable)', collect)
    .option('-n, --count <n>', 'send every message this many times', integer(1), 1)
    .option('-e, --encoding <encoding>', `how the given values are encoded: ${VALUE_ENCODINGS.join(', ')}`, oneOf(VALUE_ENCODINGS), 'utf8')
    .option('--name <producer>', 'producer name: its sequence IDs, and so deduplication, survive restarts');
  commonOptions(cmd).addHelpText('after', `
Examples:
  millrace produce events -m hello -m world --data-dir ./data
  printf 'a\\nb\\nc\\n' | millrace produce events --key user-7 -p src=cli
  millrace produce events -m AAEC -e base64 --json        # {"id":"1:0:-1:0"} per line

Every stdin line is one message, empty lines included. The topic must exist (millrace topics create).`)
    .action(async (given: string, o: ProduceOptions) => {
      const topic = fullName(given); // checked before anything is opened
      // Checked before the data dir is opened, so a malformed property writes nothing.
      const props = properties(o.properties ?? []);
      await withBroker(o, false, async ({ broker, out, signal }) => {
        await warnIfRetentionDropsIt(broker, topic, out);
        const producer = await broker.createProducer({ topic, ...(o.name ? { name: o.name } : {}) });
        const pending: Promise<MessageId>[] = [];
        let head = 0;
        let sent = 0;
        const printOldest = async (): Promise<void> => {
          const id = await pending[head]!;
          head++;
          // Drop printed sends in chunks: a moving head instead of Array#shift's O(n) per message.
          if (head >= WINDOW) {
            pending.splice(0, head);
            head = 0;
          }
          out.record({ id: id.toString() }, id.toString());
        };
        const send = async (text: string): Promise<void> => {
          const value = decodeValue(text, o.encoding);
          for (let i = 0; i < o.count; i++) {
            const p = producer.send({ value, ...(o.key !== undefined ? { key: o.key } : {}), ...(o.properties ? { properties: props } : {}) });
            p.catch(() => undefined); // awaited in order below; this keeps a later one's failure from being unhandled meanwhile
            pending.push(p);
            sent++;
            if (pending.length - head >= WINDOW) await printOldest();
          }
        };
        try {
          if (o.message) {
            for (const m of o.message) {
              if (signal.aborted) break;
              await send(m);
            }
          } else {
            if (process.stdin.isTTY) out.note('reading messages from stdin, one per line; end with Ctrl-D');
            const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
            // On a signal, stop reading: what was sent is flushed and its IDs printed.
            signal.addEventListener('abort', () => rl.close(), { once: true });
            for await (const line of rl) {
              if (signal.aborted) break;
              await send(line);
            }
          }
          while (head < pending.length) await printOldest();
        } finally {
          await producer.close();
        }
        out.note(`produced ${sent} message(s) to ${producer.topic}`);
      });
    });
}

/**
 * Pulsar's default retention keeps nothing every subscription has consumed; with no subscription,
 * every message counts as consumed, and housekeeping deletes it once its ledger is sealed (at the
 * latest when the data directory is next opened). Say so before sending into such a topic.
 */
async function warnIfRetentionDropsIt(broker: Broker, topic: string, out: Output): Promise<void> {
  if ((await broker.admin.subscriptions(topic)).length > 0) return;
  let retention: { timeMs: number; sizeBytes: number };
  try {
    ({ retention } = broker.admin.getPolicies(topic, { effective: true }) as { retention: typeof retention });
  } catch {
    return; // a partition's name: its policies are its topic's; no warning rather than a wrong one
  }
  if (retention.timeMs === 0 && retention.sizeBytes === 0) {
    out.warn(`${topic} has no subscription and no retention, so these messages are deleted by housekeeping once ` +
      'their ledger is sealed (the next open of the data dir); keep them with `topics create --retention` or a subscription first (`subscriptions create`)');
  }
}
