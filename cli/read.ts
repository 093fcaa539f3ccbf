/**
 * `millrace read`: a non-durable reader from a position or a time. By default it prints what the
 * topic holds from there to its end and stops; `--follow` keeps waiting for new messages.
 */
import { setImmediate as yieldToEvents } from 'node:timers/promises';
import type { Command } from 'commander';
import { MessageId } from '../core/topic/index.js';
import { integer, oneOf, position, time } from './parse.js';
import { encodeValue, messageRecord, VALUE_ENCODINGS, type ValueEncoding } from './output.js';
import { commonOptions, fullName, withBroker, type CommonOptions } from './session.js';
import { usageError } from './errors.js';

const END_WAIT_MS = 2_000;

interface ReadOptions extends CommonOptions {
  start?: MessageId;
  startTime?: number;
  count: number;
  follow: boolean;
  timeoutMs?: number;
  encoding: ValueEncoding;
}

export function registerRead(program: Command): void {
  const cmd = program.command('read')
    .description('read a topic from a position or a time without a subscription (nothing is acked or stored)')
    .argument('<topic>', 'topic name')
    .option('--start <position>', 'earliest, latest, or after a message ID ledger:entry:partition:batch (default: earliest)', position)
    .option('--start-time <time>', 'from the first message published at or after this time: ISO 8601 or epoch ms', time)
    .option('-n, --count <n>', 'stop after this many messages; 0: no limit', integer(0), 0)
    .option('-f, --follow', 'at the end of the topic, wait for new messages (until --count, --timeout-ms or Ctrl-C)', false)
    .option('--timeout-ms <ms>', 'stop when no message arrives for this long (default: wait)', integer(1))
    .option('-e, --encoding <encoding>', `how values are printed: ${VALUE_ENCODINGS.join(', ')}`, oneOf(VALUE_ENCODINGS), 'utf8');
  commonOptions(cmd).addHelpText('after', `
Examples:
  millrace read events                                   # everything, then stop
  millrace read events --start 3:120:-1:0 -n 100         # the 100 messages after that ID
  millrace read events --start-time 2026-11-25T10:00:00Z --json
  millrace read events --start latest --follow           # new messages, until Ctrl-C

Output as for consume. A topic without subscriptions keeps its messages only if its retention does
(see topics create --retention).`)
    .action(async (given: string, o: ReadOptions) => {
      const topic = fullName(given); // checked before anything is opened
      if (o.start !== undefined && o.startTime !== undefined) throw usageError('give --start or --start-time, not both');
      await withBroker(o, false, async ({ broker, out, signal }) => {
        const reader = await broker.createReader({
          topic, ...(o.startTime !== undefined ? { startTimeMs: o.startTime } : { startMessageId: o.start ?? MessageId.earliest }),
        });
        // Without --follow, a message the reader was told is there arrives at once; this bounds the
        // wait where "there" is an entry whose messages all lie before an exclusive start.
        const wait = o.timeoutMs ?? (o.follow ? undefined : END_WAIT_MS);
        let read = 0;
        try {
          while ((o.count === 0 || read < o.count) && !signal.aborted) {
            // hasMessageAvailable can answer false while messages it just fetched sit in the buffer
            // (it checks the buffer before awaiting the partitions' last positions): take what is
            // buffered before believing it.
            const atEnd = !o.follow && !(await reader.hasMessageAvailable());
            const m = await reader.readNext({ signal, ...(atEnd ? { timeoutMs: 0 } : wait !== undefined ? { timeoutMs: wait } : {}) });
            if (!m) break;
            read++;
            out.record(messageRecord(m, o.encoding), `${m.id.toString()}\t${encodeValue(m.data, o.encoding)}`);
            // Buffered messages resolve without a turn of the event loop; give a closed stdout's error one.
            if (read % 256 === 0) await yieldToEvents();
          }
        } finally {
          await reader.close();
        }
        out.note(`read ${read} message(s) from ${reader.topic}`);
      });
    });
}
