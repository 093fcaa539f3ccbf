/** `millrace topics list|create|delete|stats`. */
import type { Command } from 'commander';
import { validatePolicies, type RetentionPolicy } from '../core/topic/index.js';
import { integer, retention } from './parse.js';
import { plainTree } from './output.js';
import { commonOptions, fullName, withBroker, type CommonOptions } from './session.js';

interface CreateOptions extends CommonOptions {
  partitions: number;
  retention?: RetentionPolicy;
}

export function registerTopics(program: Command): void {
  const topics = program.command('topics').description('list, create, delete topics and show their statistics');

  commonOptions(topics.command('list').description('list the topics and their partition counts'))
    .addHelpText('after', `
Example:
  millrace topics list --data-dir ./data --json    # [{"topic":"persistent://public/default/events","partitions":4}]`)
    .action(async (o: CommonOptions) => {
      await withBroker(o, false, async ({ broker, out }) => {
        const list = broker.admin.listTopics().map((topic) => ({ topic, partitions: broker.admin.partitions(topic) }));
        out.document(list, () => list.map((t) => `${t.topic}\t${t.partitions}`).join('\n'));
      });
    });

  commonOptions(topics.command('create')
    .description('create a topic (and the data directory, when it does not exist)')
    .argument('<topic>', 'topic name')
    .option('-p, --partitions <n>', 'partitions; 0: a non-partitioned topic', integer(0, 10_000), 0)
    .option('--retention <policy>', 'keep consumed messages: infinite, none (the default, as Pulsar), or TIME,SIZE like 7d,10G', retention))
    .addHelpText('after', `
Examples:
  millrace topics create events --partitions 4
  millrace topics create audit --retention infinite   # keeps messages no subscription needs (read can replay them)
  millrace topics create logs --retention 7d,10G      # -1 for no limit on one side

Retention: with the default (none), a message every subscription has acked, or any message of a
topic without subscriptions, is deleted by housekeeping once its ledger is sealed (the ledger open
when a process closes the data dir is sealed when the next one opens it).`)
    .action(async (given: string, o: CreateOptions) => {
      const topic = fullName(given); // checked before anything is opened
      // Checked before the data dir is opened or created: a bad policy writes nothing.
      const name = topic;
      const policy = o.retention === undefined ? undefined : validatePolicies({ retention: o.retention });
      await withBroker(o, true, async ({ broker, out }) => {
        await broker.admin.createTopic(name, { partitions: o.partitions });
        if (policy) await broker.admin.setPolicies(name, policy);
        const r = (broker.admin.getPolicies(name, { effective: true }) as { retention: RetentionPolicy }).retention;
        out.document({ topic: name, partitions: o.partitions, retention: r },
          () => `created ${name} (${o.partitions === 0 ? 'non-partitioned' : `${o.partitions} partitions`}, retention ${describeRetention(r)})`);
      });
    });

  commonOptions(topics.command('delete')
    .description('delete a topic: its messages, subscriptions, offloaded objects, policies')
    .argument('<topic>', 'topic name')
    .option('--force', 'delete even while producers or consumers are connected', false))
    .addHelpText('after', `
Example:
  millrace topics delete events`)
    .action(async (given: string, o: CommonOptions & { force: boolean }) => {
      const topic = fullName(given); // checked before anything is opened
      await withBroker(o, false, async ({ broker, out }) => {
        await broker.admin.deleteTopic(topic, { force: o.force });
        out.document({ deleted: topic }, () => `deleted ${topic}`);
      });
    });

  commonOptions(topics.command('stats')
    .description("a topic's statistics (Pulsar's names), summed over its partitions")
    .argument('<topic>', 'topic name')
    .option('--internal', 'per partition: ledgers, cursors, offload status, effective policies (Pulsar\'s internal stats)', false))
    .addHelpText('after', `
Examples:
  millrace topics stats events
  millrace topics stats events --internal --json | jq '.[].ledgers'`)
    .action(async (given: string, o: CommonOptions & { internal: boolean }) => {
      const topic = fullName(given); // checked before anything is opened
      await withBroker(o, false, async ({ broker, out }) => {
        const stats = o.internal ? await broker.admin.internalStats(topic) : await broker.admin.stats(topic);
        out.document(stats, () => plainTree(stats));
      });
    });
}

function describeRetention(r: RetentionPolicy): string {
  if (r.timeMs < 0 && r.sizeBytes < 0) return 'infinite';
  if (r.timeMs === 0 && r.sizeBytes === 0) return 'none';
  return `${r.timeMs < 0 ? 'no time limit' : `${r.timeMs} ms`}, ${r.sizeBytes < 0 ? 'no size limit' : `${r.sizeBytes} bytes`}`;
}
