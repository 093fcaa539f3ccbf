/**
 * `millrace consume`: subscribes, prints messages as they arrive and acks each one (the ack is
 * durable before the command exits), until `--count` messages, `--timeout-ms` without one, or a
 * signal.
 */
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import type { Command } from 'commander';
import type { SubscriptionType } from '../core/dispatch/index.js';
import { SUBSCRIPTION_TYPES } from '../core/dispatch/index.js';
import { integer, oneOf } from './parse.js';
import { encodeValue, messageRecord, VALUE_ENCODINGS, type ValueEncoding } from './output.js';
import { commonOptions, fullName, stdoutClosed, withBroker, type CommonOptions } from './session.js';

interface ConsumeOptions extends CommonOptions {
  subscription: string;
  type: SubscriptionType;
  initialPosition: 'earliest' | 'latest';
  count: number;
  timeoutMs?: number;
  encoding: ValueEncoding;
}

// Acks waiting to be durable before the next ones are awaited: bounded memory on long runs.
const ACK_WINDOW = 10_000;

export function registerConsume(program: Command): void {
  const cmd = program.command('consume')
    .description('subscribe to a topic, print messages and ack each one')
    .argument('<topic>', 'topic name')
    .requiredOption('-s, --subscription <name>', 'subscription name (created on first use, durable)')
    .option('-t, --type <type>', `subscription type: ${SUBSCRIPTION_TYPES.join(', ')}`, oneOf(SUBSCRIPTION_TYPES), 'exclusive')
    .option('-p, --initial-position <position>', 'where a new subscription starts: earliest, latest (Pulsar\'s default)', oneOf(['earliest', 'latest'] as const), 'latest')
    .option('-n, --count <n>', 'stop after this many messages; 0: no limit', integer(0), 1)
    .option('--timeout-ms <ms>', 'stop when no message arrives for this long (default: wait)', integer(1))
    .option('-e, --encoding <encoding>', `how values are printed: ${VALUE_ENCODINGS.join(', ')}`, oneOf(VALUE_ENCODINGS), 'utf8');
  commonOptions(cmd).addHelpText('after', `
Examples:
  millrace consume events -s audit -p earliest -n 10
  millrace consume events -s workers -t shared -n 0 --timeout-ms 2000 --json
  millrace consume events -s raw -n 0 -e base64                # until Ctrl-C

Plain output is "<message id><TAB><value>" per message; --json prints one object per line
(id, key, value, properties, publishTime, eventTime, redeliveryCount, producerName).
Values with newlines: use --json or -e base64. Fewer than --count messages before the timeout
is not an error (exit 0; the count is on stderr).`)
    .action(async (given: string, o: ConsumeOptions) => {
      const topic = fullName(given); // checked before anything is opened
      await withBroker(o, false, async ({ broker, out, signal }) => {
        const consumer = await broker.subscribe({ topic, subscription: o.subscription, type: o.type, initialPosition: o.initialPosition });
        if (o.timeoutMs === undefined) out.note(`consuming ${topic} on subscription ${o.subscription}${o.count === 0 ? '' : ` until ${o.count} message(s)`}; Ctrl-C to stop`);
        let received = 0;
        let acks: Promise<void>[] = [];
        try {
          while ((o.count === 0 || received < o.count) && !signal.aborted) {
            const m = await consumer.receive({ signal, ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}) });
            if (!m) break;
            received++;
            out.record(messageRecord(m, o.encoding), `${m.id.toString()}\t${encodeValue(m.data, o.encoding)}`);
            // A write to a closed stdout fails on a later tick: let it surface before acking, so a
            // message that reached nobody (`consume ... | head -1`) is not acked, and comes again.
            await yieldToEvents();
            if (stdoutClosed()) break;
            acks.push(consumer.ack(m));
            if (acks.length >= ACK_WINDOW) {
              await Promise.all(acks);
              acks = [];
            }
          }
          await Promise.all(acks);
        } finally {
          await consumer.close();
        }
        out.note(`received ${received} message(s) from ${consumer.topic} on subscription ${o.subscription}`);
      });
    });
}
