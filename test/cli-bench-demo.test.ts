/** `millrace bench` and `millrace demo`, real processes: they run to the end and report what they did. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from './util/tmp.js';
import { cli, lines } from './cli-helpers.js';

// Each test has its own data dir and most of a CLI run is waiting (process start, closes): run them at once.
describe('cli bench and demo', { concurrency: true }, () => {
  test('cli bench - produces and consumes every message and reports msg/s each way; the bench topic is deleted after', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      const r = await cli(['bench', '-n', '3000', '-s', '64', '-p', '2', '--workers', '1', '--idle-strategy', 'park', '--json', ...d], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { idleStrategy: string; produce: { messages: number; msgPerS: number }; consume: { messages: number; msgPerS: number } };
      assert.equal(result.idleStrategy, 'park');
      assert.equal(result.produce.messages, 3000);
      assert.equal(result.consume.messages, 3000);
      assert.ok(result.produce.msgPerS > 0 && result.consume.msgPerS > 0);
      assert.deepEqual(JSON.parse((await cli(['topics', 'list', '--json', ...d])).stdout), []);
      // Without --data-dir: a temporary data dir, removed after; plain output is one line each way.
      const plain = await cli(['bench', '-n', '500', '--workers', '1'], { timeoutMs: 60_000 });
      assert.equal(plain.code, 0, plain.stderr);
      assert.match(plain.stdout, /^produce 500 msgs in [\d.]+ s: [\d,]+ msg\/s, [\d.]+ MB\/s\nconsume 500 msgs in /);
      const dir = /data dir (\S+)/.exec(plain.stderr)?.[1];
      assert.ok(dir && !existsSync(dir), `the temporary data dir ${dir} is removed`);
    } finally {
      removeDir(root);
    }
  });

  test('cli demo - produces, consumes with two shared consumers and replays every message', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      const r = await cli(['demo', '-n', '2000', '--keep', '--json', ...d], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as { topic: string; consumed: number; perWorker: number[]; replayed: number; kept: boolean };
      assert.equal(result.consumed, 2000);
      assert.equal(result.perWorker.reduce((a, b) => a + b, 0), 2000);
      assert.equal(result.replayed, 2000);
      assert.equal(result.kept, true);
      assert.deepEqual(lines((await cli(['topics', 'list', ...d])).stdout), [`${result.topic}\t4`]);
      assert.ok(readdirSync(join(root, 'data')).includes('MILLRACE'));
    } finally {
      removeDir(root);
    }
  });
});
