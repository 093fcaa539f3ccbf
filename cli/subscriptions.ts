/** `millrace subscriptions list|create|reset|skip`. */
import type { Command } from 'commander';
import type { MessageId } from '../core/topic/index.js';
import { integer, oneOf, position, time } from './parse.js';
import { usageError } from './errors.js';
import { commonOptions, fullName, withBroker, type CommonOptions } from './session.js';

export function registerSubscriptions(program: Command): void {
  const subs = program.command('subscriptions').description("list, create, reset and skip a topic's durable subscriptions");

  commonOptions(subs.command('list').description("a topic's subscriptions with their backlog").argument('<topic>', 'topic name'))
    .addHelpText('after', `
Example:
  millrace subscriptions list events     # <name><TAB><type><TAB><backlog> per line`)
    .action(async (given: string, o: CommonOptions) => {
      const topic = fullName(given); // checked before anything is opened
      await withBroker(o, false, async ({ broker, out }) => {
        const stats = await broker.admin.stats(topic);
        const list = (await broker.admin.subscriptions(topic)).map((name) => ({
          subscription: name, type: stats.subscriptions[name]?.type ?? 'exclusive',
          msgBacklog: stats.subscriptions[name]?.msgBacklog ?? 0, consumers: stats.subscriptions[name]?.consumers.length ?? 0,
        }));
        out.document(list, () => list.map((s) => `${s.subscription}\t${s.type}\t${s.msgBacklog}`).join('\n'));
      });
    });

  commonOptions(subs.command('create')
    .description('create a durable subscription without consuming (it keeps every later message, whatever the retention)')
    .argument('<topic>', 'topic name').argument('<subscription>', 'subscription name')
    .option('-p, --initial-position <position>', 'where it starts: earliest, latest', oneOf(['earliest', 'latest'] as const), 'latest'))
    .addHelpText('after', `
Example:
  millrace subscriptions create events audit --initial-position earliest`)
    .action(async (given: string, subscription: string, o: CommonOptions & { initialPosition: 'earliest' | 'latest' }) => {
      const topic = fullName(given); // checked before anything is opened
      await withBroker(o, false, async ({ broker, out }) => {
        if ((await broker.admin.subscriptions(topic)).includes(subscription)) {
          out.document({ topic, subscription, created: false }, () => `${subscription} exists already on ${topic}`);
          return;
        }
        const consumer = await broker.subscribe({ topic, subscription, initialPosition: o.initialPosition, receiverQueueSize: 1 });
        await consumer.close();
        out.document({ topic, subscription, created: true }, () => `created subscription ${subscription} on ${topic} at ${o.initialPosition}`);
      });
    });

  commonOptions(subs.command('reset')
    .description("move a subscription (Pulsar's reset-cursor): to earliest, latest, a message ID or a time")
    .argument('<topic>', 'topic name').argument('<subscription>', 'subscription name')
    .option('--to <position>', 'earliest, latest or a message ID ledger:entry:partition:batch', position)
    .option('--time <time>', 'to the first message published at or after this time: ISO 8601 or epoch ms', time))
    .addHelpText('after', `
Examples:
  millrace subscriptions reset events audit --to earliest
  millrace subscriptions reset events audit --time 2026-11-25T10:00:00Z`)
    .action(async (given: string, subscription: string, o: CommonOptions & { to?: MessageId; time?: number }) => {
      const topic = fullName(given); // checked before anything is opened
      if ((o.to === undefined) === (o.time === undefined)) throw usageError('give one of --to or --time');
      await withBroker(o, false, async ({ broker, out }) => {
        const to = o.time ?? (o.to!.isEarliest ? 'earliest' : o.to!.isLatest ? 'latest' : o.to!);
        await broker.admin.resetSubscription(topic, subscription, to);
        const where = o.time !== undefined ? new Date(o.time).toISOString() : o.to!.isEarliest ? 'earliest' : o.to!.isLatest ? 'latest' : o.to!.toString();
        out.document({ topic, subscription, reset: where }, () => `reset ${subscription} on ${topic} to ${where}`);
      });
    });

  commonOptions(subs.command('skip')
    .description("skip messages of a subscription's backlog (whole entries, oldest first), or all of it")
    .argument('<topic>', 'topic name').argument('<subscription>', 'subscription name')
    .option('-n, --count <n>', 'skip at least this many messages on each partition', integer(1))
    .option('--all', 'skip the whole backlog (clear-backlog)', false))
    .addHelpText('after', `
Examples:
  millrace subscriptions skip events audit -n 100
  millrace subscriptions skip events audit --all`)
    .action(async (given: string, subscription: string, o: CommonOptions & { count?: number; all: boolean }) => {
      const topic = fullName(given); // checked before anything is opened
      if ((o.count === undefined) === !o.all) throw usageError('give one of -n/--count or --all');
      await withBroker(o, false, async ({ broker, out }) => {
        await broker.admin.skipMessages(topic, subscription, o.all ? 'all' : o.count!);
        const backlog = (await broker.admin.stats(topic)).subscriptions[subscription]?.msgBacklog ?? 0;
        out.document({ topic, subscription, skipped: o.all ? 'all' : o.count, msgBacklog: backlog },
          () => `skipped ${o.all ? 'the whole backlog' : `${o.count} message(s)`} of ${subscription} on ${topic}; backlog now ${backlog}`);
      });
    });
}
