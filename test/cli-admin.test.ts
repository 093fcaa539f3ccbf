/** The CLI's admin commands (topics, subscriptions, offload), each a real `millrace` process on a temp data dir. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from './util/tmp.js';
import { cli, jsonLines, lines, oneLineError } from './cli-helpers.js';

// Each test has its own data dir and most of a CLI run is waiting (process start, closes): run them at once.
describe('cli admin', { concurrency: true }, () => {
  test('cli topics - create, list, stats (plain, --json, --internal), delete', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      const created = await cli(['topics', 'create', 'orders', '-p', '3', '--json', ...d]);
      assert.equal(created.code, 0, created.stderr);
      assert.deepEqual(JSON.parse(created.stdout), { topic: 'persistent://public/default/orders', partitions: 3, retention: { timeMs: 0, sizeBytes: 0 } });
      const kept = await cli(['topics', 'create', 'acme/billing/audit', '--retention', '7d,1G', ...d]);
      assert.match(kept.stdout, /created persistent:\/\/acme\/billing\/audit \(non-partitioned, retention 604800000 ms, 1073741824 bytes\)/);

      const list = await cli(['topics', 'list', '--json', ...d]);
      assert.deepEqual(JSON.parse(list.stdout), [
        { topic: 'persistent://acme/billing/audit', partitions: 0 },
        { topic: 'persistent://public/default/orders', partitions: 3 },
      ]);
      assert.deepEqual(lines((await cli(['topics', 'list', ...d])).stdout), ['persistent://acme/billing/audit\t0', 'persistent://public/default/orders\t3']);

      await cli(['subscriptions', 'create', 'orders', 'billing', ...d]);
      await cli(['produce', 'orders', '-m', 'o1', '-m', 'o2', '-k', 'customer-1', ...d]);
      const stats = JSON.parse((await cli(['topics', 'stats', 'orders', '--json', ...d])).stdout) as { storageSize: number; subscriptions: Record<string, { msgBacklog: number }> };
      assert.ok(stats.storageSize > 0);
      assert.equal(stats.subscriptions.billing?.msgBacklog, 2);
      const plain = await cli(['topics', 'stats', 'orders', ...d]);
      assert.match(plain.stdout, /^storageSize: \d+$/m);
      assert.match(plain.stdout, /^ {2}billing:\n {4}type: /m);
      const internal = JSON.parse((await cli(['topics', 'stats', 'orders', '--internal', '--json', ...d])).stdout) as Record<string, { ledgers: unknown[]; cursors: Record<string, unknown> }>;
      assert.deepEqual(Object.keys(internal).sort(), [0, 1, 2].map((i) => `persistent://public/default/orders-partition-${i}`));
      assert.ok(Object.values(internal).every((p) => 'billing' in p.cursors));

      const del = await cli(['topics', 'delete', 'orders', ...d]);
      assert.equal(del.code, 0, del.stderr);
      assert.deepEqual(JSON.parse((await cli(['topics', 'list', '--json', ...d])).stdout), [{ topic: 'persistent://acme/billing/audit', partitions: 0 }]);
      const again = await cli(['topics', 'delete', 'orders', ...d]);
      assert.equal(again.code, 3);
      assert.match(oneLineError(again), /TOPIC_NOT_FOUND/);
    } finally {
      removeDir(root);
    }
  });

  test('cli subscriptions - list, skip (-n, --all), reset (earliest, a message ID, a time, latest)', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      // Retention keeps what the subscription skipped, so a reset can go back to it.
      await cli(['topics', 'create', 'feed', '--retention', 'infinite', ...d]);
      await cli(['subscriptions', 'create', 'feed', 'audit', '-p', 'earliest', ...d]);
      const ids = lines((await cli(['produce', 'feed', '-m', 'f1', '-m', 'f2', '-m', 'f3', ...d])).stdout);
      const backlog = async (): Promise<number> => JSON.parse((await cli(['subscriptions', 'list', 'feed', '--json', ...d])).stdout)[0].msgBacklog as number;
      assert.deepEqual(lines((await cli(['subscriptions', 'list', 'feed', ...d])).stdout), ['audit\texclusive\t3']);

      // One producer batch is one entry: skip works on whole entries, so -n 1 skips the batch.
      const skip = await cli(['subscriptions', 'skip', 'feed', 'audit', '--all', '--json', ...d]);
      assert.equal(skip.code, 0, skip.stderr);
      assert.equal(JSON.parse(skip.stdout).msgBacklog, 0);
      assert.equal((await cli(['subscriptions', 'reset', 'feed', 'audit', '--to', 'earliest', ...d])).code, 0);
      assert.equal(await backlog(), 3);
      const afterFirst = await cli(['subscriptions', 'reset', 'feed', 'audit', '--to', ids[0]!, ...d]);
      assert.equal(afterFirst.code, 0, afterFirst.stderr);
      const got = await cli(['consume', 'feed', '-s', 'audit', '-n', '1', ...d]);
      assert.ok(['f1', 'f2'].includes(lines(got.stdout)[0]!.split('\t')[1]!), 'reset to a message ID resumes at (its entry of) that message');
      await cli(['subscriptions', 'reset', 'feed', 'audit', '--time', new Date(Date.now() + 3_600_000).toISOString(), ...d]);
      assert.equal(await backlog(), 0);
      await cli(['subscriptions', 'reset', 'feed', 'audit', '--time', '0', ...d]);
      assert.equal(await backlog(), 3);
      assert.equal((await cli(['subscriptions', 'skip', 'feed', 'audit', '-n', '1', ...d])).code, 0);
      assert.ok(await backlog() < 3);
      await cli(['subscriptions', 'reset', 'feed', 'audit', '--to', 'latest', ...d]);
      assert.equal(await backlog(), 0);

      const missing = await cli(['subscriptions', 'reset', 'feed', 'nobody', '--to', 'earliest', ...d]);
      assert.equal(missing.code, 3);
      assert.match(oneLineError(missing), /SUBSCRIPTION_NOT_FOUND/);
      const both = await cli(['subscriptions', 'reset', 'feed', 'audit', '--to', 'earliest', '--time', '0', ...d]);
      assert.equal(both.code, 2);
      assert.match(oneLineError(both), /one of --to or --time/);
    } finally {
      removeDir(root);
    }
  });

  test('cli offload - sealed ledgers go to a filesystem store; read with --tiered-storage still returns them', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    const store = join(root, 'store');
    try {
      await cli(['topics', 'create', 'archive', '--retention', 'infinite', ...d]);
      await cli(['produce', 'archive', '-m', 'a1', '-m', 'a2', ...d]);
      const needs = await cli(['offload', 'archive', ...d]);
      assert.equal(needs.code, 2);
      assert.match(oneLineError(needs), /--tiered-storage/);
      // The ledger written by produce was sealed when offload's process opened the data dir.
      const off = await cli(['offload', 'archive', '--tiered-storage', store, '--json', ...d]);
      assert.equal(off.code, 0, off.stderr);
      const status = JSON.parse(off.stdout) as { status: string; offloaded: number; offloadedStorageSize: number };
      assert.equal(status.status, 'SUCCESS');
      assert.ok(status.offloaded >= 1 && status.offloadedStorageSize > 0);
      assert.ok(readdirSync(store).length > 0);
      const later = JSON.parse((await cli(['offload', 'archive', '--status', '--tiered-storage', store, '--json', ...d])).stdout) as { offloaded: number };
      assert.equal(later.offloaded, status.offloaded);
      const r = await cli(['read', 'archive', '--json', ...d], { env: { MILLRACE_TIERED_STORAGE: store } });
      assert.deepEqual(jsonLines(r.stdout).map((m) => m.value), ['a1', 'a2']);
    } finally {
      removeDir(root);
    }
  });
});
