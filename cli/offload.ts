/** `millrace offload`: offloads a topic's sealed ledgers to the tiered storage now, or shows how offloads went. */
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { MillraceError } from '../core/errors.js';
import { usageError } from './errors.js';
import { commonOptions, fullName, tieredStorage, withBroker, type CommonOptions } from './session.js';

export function registerOffload(program: Command): void {
  commonOptions(program.command('offload')
    .description("offload a topic's sealed ledgers to the tiered storage now (needs --tiered-storage)")
    .argument('<topic>', 'topic name')
    .option('--status', 'only show the offload status (Pulsar\'s offload-status)', false))
    .addHelpText('after', `
Examples:
  millrace offload events --tiered-storage ./offloaded
  MILLRACE_TIERED_STORAGE=s3://bucket/millrace millrace offload events --s3-endpoint http://localhost:9000

The ledger a process is writing stays local: it is sealed when the data dir is next opened.
Local copies are deleted after the offload deletion lag (4 hours by default). Reading an offloaded
ledger needs the same --tiered-storage on later commands (read, consume).`)
    .action(async (given: string, o: CommonOptions & { status: boolean }) => {
      const topic = fullName(given); // checked before anything is opened
      if (!o.tieredStorage) throw usageError('offload needs --tiered-storage <dir|s3://bucket/prefix> (or MILLRACE_TIERED_STORAGE)');
      await withBroker(o, false, async ({ broker, out }) => {
        // A directory store's root must exist (as a bucket must); offload makes it, other commands only read.
        const ts = tieredStorage(o)!;
        if (ts.driver === 'filesystem' && !o.status) mkdirSync(ts.path, { recursive: true });
        const status = o.status ? await broker.admin.offloadStatus(topic) : await broker.admin.offload(topic);
        // offloadedLedgers counts this process's offloads; the ledger list tells what is offloaded at all.
        let ledgers = 0;
        let offloaded = 0;
        for (const p of Object.values(await broker.admin.internalStats(topic))) {
          ledgers += p.ledgers.length;
          offloaded += p.ledgers.filter((l) => l.offload?.complete === true).length;
        }
        const { offloadedStorageSize, localStorageSize } = await broker.admin.stats(topic);
        out.document({ topic, ...status, ledgers, offloaded, offloadedStorageSize, localStorageSize },
          () => `${topic}: ${status.status}; ${offloaded} of ${ledgers} ledger(s) offloaded (${status.offloadedLedgers} now), ` +
            `${offloadedStorageSize} bytes offloaded, ${localStorageSize} bytes local${status.lastError ? `; last error: ${status.lastError}` : ''}`);
        if (status.status === 'ERROR') throw new MillraceError('OFFLOAD_FAILED', `offload of ${topic} failed: ${status.lastError ?? 'see topics stats --internal'}`);
      });
    });
}
