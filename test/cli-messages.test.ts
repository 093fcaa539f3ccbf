/**
 * The CLI's message commands (produce, consume, read), each a real `millrace` process on a temp
 * data dir: what one process writes, a later one reads.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from './util/tmp.js';
import { CLI, cli, jsonLines, lines, oneLineError } from './cli-helpers.js';

const ID = /^\d+:\d+:-?\d+:\d+$/;

// Each test has its own data dir and most of a CLI run is waiting (process start, closes): run them at once.
describe('cli messages', { concurrency: true }, () => {
  test('cli produce/read - what produce printed, a later read returns: values, keys, properties, positions, times', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      assert.equal((await cli(['topics', 'create', 'events', '--retention', 'infinite', ...d])).code, 0);
      const p1 = await cli(['produce', 'events', '-m', 'alpha', '-m', 'beta', '-k', 'user-7', '-p', 'src=cli', '-p', 'n=1', ...d]);
      assert.equal(p1.code, 0, p1.stderr);
      const ids = lines(p1.stdout);
      assert.equal(ids.length, 2);
      for (const id of ids) assert.match(id, ID);
      assert.doesNotMatch(p1.stderr, /warning/, 'retention keeps the messages: no warning');

      // stdin: one message per line, the empty line included; --json prints one object per line.
      const p2 = await cli(['produce', 'events', '--json', ...d], { input: 'one\n\nthree\n' });
      assert.equal(p2.code, 0, p2.stderr);
      const ids2 = jsonLines(p2.stdout).map((r) => r.id as string);
      assert.equal(ids2.length, 3);

      const all = await cli(['read', 'events', '--json', ...d]);
      assert.equal(all.code, 0, all.stderr);
      const recs = jsonLines(all.stdout);
      assert.deepEqual(recs.map((r) => r.value), ['alpha', 'beta', 'one', '', 'three']);
      assert.deepEqual(recs.map((r) => r.id), [...ids, ...ids2]);
      assert.equal(recs[0]!.key, 'user-7');
      assert.deepEqual(recs[0]!.properties, { src: 'cli', n: '1' });
      assert.equal(typeof recs[0]!.publishTime, 'number');

      const plain = await cli(['read', 'events', ...d]);
      assert.deepEqual(lines(plain.stdout), [`${ids[0]}\talpha`, `${ids[1]}\tbeta`, `${ids2[0]}\tone`, `${ids2[1]}\t`, `${ids2[2]}\tthree`]);
      // --start is exclusive (after that message), -n bounds the count.
      const after = await cli(['read', 'events', '--start', ids[0]!, '-n', '2', '--json', ...d]);
      assert.deepEqual(jsonLines(after.stdout).map((r) => r.value), ['beta', 'one']);
      const latest = await cli(['read', 'events', '--start', 'latest', ...d]);
      assert.equal(latest.code, 0);
      assert.equal(latest.stdout, '');
      // --start-time: epoch ms or ISO; the first message published at or after it.
      const fromTime = await cli(['read', 'events', '--start-time', String(recs[2]!.publishTime), '--json', ...d]);
      assert.deepEqual(jsonLines(fromTime.stdout).map((r) => r.value), ['one', '', 'three']);
      const future = await cli(['read', 'events', '--start-time', new Date(Date.now() + 3_600_000).toISOString(), ...d]);
      assert.equal(future.code, 0);
      assert.equal(future.stdout, '');
    } finally {
      removeDir(root);
    }
  });

  test('cli produce - without retention or a subscription, produce warns and later reads find the messages deleted', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      await cli(['topics', 'create', 'transient', ...d]);
      const p = await cli(['produce', 'transient', '-m', 'x', '-n', '3', ...d]);
      assert.equal(p.code, 0, p.stderr);
      assert.equal(lines(p.stdout).length, 3, '-n sends each message n times');
      assert.match(p.stderr, /warning: .*no subscription and no retention/);
      // Pulsar's default retention: the next open seals the ledger, nothing needs it any more, and
      // that process's first housekeeping pass (not waited for by the read) deletes it; by the
      // following open it is gone.
      assert.equal((await cli(['read', 'transient', ...d])).code, 0);
      const r = await cli(['read', 'transient', ...d]);
      assert.equal(r.code, 0);
      assert.equal(r.stdout, '');
    } finally {
      removeDir(root);
    }
  });

  test('cli consume - acks what it prints: a later consume on the subscription gets only the rest; encodings', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      await cli(['topics', 'create', 'jobs', '--partitions', '2', ...d]);
      const sub = await cli(['subscriptions', 'create', 'jobs', 'workers', '--initial-position', 'earliest', ...d]);
      assert.equal(sub.code, 0, sub.stderr);
      const p = await cli(['produce', 'jobs', '-m', 'j1', '-m', 'j2', '-m', 'j3', '-k', 'same-key', ...d]);
      assert.doesNotMatch(p.stderr, /warning/, 'a subscription keeps the messages: no warning');
      const first = await cli(['consume', 'jobs', '-s', 'workers', '-n', '2', ...d]);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual(lines(first.stdout).map((l) => l.split('\t')[1]), ['j1', 'j2']);
      const rest = await cli(['consume', 'jobs', '-s', 'workers', '-n', '1', '--json', ...d]);
      assert.equal(rest.code, 0, rest.stderr);
      assert.deepEqual(jsonLines(rest.stdout).map((r) => r.value), ['j3']);
      const none = await cli(['consume', 'jobs', '-s', 'workers', '-n', '5', '--timeout-ms', '300', ...d]);
      assert.equal(none.code, 0, 'fewer than --count before the timeout is not an error');
      assert.equal(none.stdout, '');

      // Binary values: given as base64, printed as hex; a new subscription at latest sees only later ones.
      await cli(['subscriptions', 'create', 'jobs', 'bin', ...d]);
      await cli(['produce', 'jobs', '-m', 'AAEC/w==', '-e', 'base64', ...d]);
      const bin = await cli(['consume', 'jobs', '-s', 'bin', '-e', 'hex', '--json', ...d]);
      assert.deepEqual(jsonLines(bin.stdout).map((r) => [r.value, r.encoding]), [['000102ff', 'hex']]);
    } finally {
      removeDir(root);
    }
  });

  test('cli produce - a malformed property is a usage error (exit 2) and sends nothing', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      await cli(['topics', 'create', 't', '--retention', 'infinite', ...d]);
      const bad = await cli(['produce', 't', '-m', 'x', '-p', 'no-equals-sign', ...d]);
      assert.equal(bad.code, 2);
      assert.match(oneLineError(bad), /^millrace: USAGE: .*key=value/);
      assert.equal((await cli(['read', 't', ...d])).stdout, '');
    } finally {
      removeDir(root);
    }
  });
  test('cli help - a reader that is gone before the help is written (--help | head) gets no EPIPE stack trace', async () => {
    for (const args of [['--help'], ['consume', '--help'], ['--version']]) {
      const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      child.stdout.destroy();
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      assert.doesNotMatch(stderr, /EPIPE|Error|at /, args.join(' '));
      assert.equal(code, 0, `${args.join(' ')}: ${stderr}`);
    }
  });
  test('cli read - a reader that closes stdout early (| head) ends the command with exit 141 and the lock released', async () => {
    const root = tempDir('millrace-cli');
    const dir = join(root, 'data');
    try {
      await cli(['topics', 'create', 'long', '--retention', 'infinite', '--data-dir', dir]);
      const input = Array.from({ length: 20_000 }, (_, i) => `line ${i}`).join('\n');
      assert.equal((await cli(['produce', 'long', '--data-dir', dir], { input })).code, 0);
      const child = spawn(process.execPath, [CLI, 'read', 'long', '--data-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      // As head does: take the first chunk, then close the pipe.
      child.stdout.once('data', () => child.stdout.destroy());
      const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
      assert.equal(code, 141, stderr);
      assert.doesNotMatch(stderr, /EPIPE|Error/);
      assert.equal(existsSync(join(dir, 'MILLRACE.lock')), false);
    } finally {
      removeDir(root);
    }
  });
});
