/**
 * The CLI's failure contract: unknown commands and flags, a missing or foreign data dir, a data dir
 * locked by another process, a topic that does not exist. Each gives one line on stderr, its exit
 * code, and writes nothing. Also --help.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tempDir, removeDir } from './util/tmp.js';
import { cli, cliBackground, lines, oneLineError } from './cli-helpers.js';

/** Names, sizes and contents (small files) of a directory tree, to show nothing was written. */
function snapshot(dir: string): string {
  const out: string[] = [];
  (function walk(d: string): void {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const s = statSync(p);
      if (s.isDirectory()) walk(p);
      else out.push(`${p} ${s.size} ${s.size < 4096 && !name.endsWith('.mdb') && !name.endsWith('-lock') ? readFileSync(p, 'base64') : ''}`);
    }
  })(dir);
  return out.join('\n');
}

// Each test has its own data dir and most of a CLI run is waiting (process start, closes): run them at once.
describe('cli errors', { concurrency: true }, () => {
  test('cli errors - unknown commands, flags and values: exit 2, one line, no data dir created', async () => {
    const root = tempDir('millrace-cli');
    const dir = join(root, 'never');
    try {
      const cases: [string[], RegExp][] = [
        [['frobnicate', '-d', dir], /unknown command 'frobnicate'/],
        [['topics', 'list', '--colour', '-d', dir], /unknown option '--colour'/],
        [['topics', 'frob', '-d', dir], /unknown command 'frob'/],
        [['produce', '-d', dir], /missing required argument 'topic'/],
        [['consume', 't', '-d', dir], /required option '-s, --subscription <name>' not specified/],
        [['consume', 't', '-s', 'x', '-n', 'many', '-d', dir], /'many' is invalid/],
        [['consume', 't', '-s', 'x', '--type', 'fifo', '-d', dir], /expected one of exclusive, failover, shared, key_shared, got 'fifo'/],
        [['topics', 'list', '--idle-strategy', 'nap', '-d', dir], /expected one of adaptive, spin, park, got 'nap'/],
        [['read', 't', '--start', '1:2', '-d', dir], /message ID/],
        [['read', 't', '--start-time', 'yesterday', '-d', dir], /ISO 8601/],
        [['topics', 'create', 't', '--retention', 'forever', '-d', dir], /infinite, none or TIME,SIZE/],
        [['topics', 'create', 'a/b/c/d', '-d', dir], /TOPIC_NAME_INVALID/],
      ];
      for (const [args, why] of cases) {
        const r = await cli(args);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.match(oneLineError(r), why);
        assert.match(r.stderr, /^millrace: /);
        assert.equal(r.stdout, '');
      }
      assert.equal(existsSync(dir), false);
      // With --json the error is one JSON object.
      const j = await cli(['read', 't', '--json', '-d', dir]);
      assert.equal(j.code, 4);
      assert.deepEqual(Object.keys(JSON.parse(oneLineError(j)).error as object), ['code', 'message', 'exitCode']);
    } finally {
      removeDir(root);
    }
  });

  test('cli errors - a missing, empty or foreign data dir: exit 4, one line, nothing written', async () => {
    const root = tempDir('millrace-cli');
    const missing = join(root, 'missing');
    const empty = join(root, 'empty');
    const foreign = join(root, 'foreign');
    mkdirSync(empty);
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'notes.txt'), 'not a broker\n');
    try {
      const before = snapshot(root);
      for (const dir of [missing, empty, foreign]) {
        for (const args of [['topics', 'list'], ['produce', 't', '-m', 'x'], ['read', 't']]) {
          const r = await cli([...args, '--data-dir', dir]);
          assert.equal(r.code, 4, `${args.join(' ')} on ${dir}: ${r.stderr}`);
          assert.match(oneLineError(r), /DATA_DIR_INVALID/);
        }
      }
      // topics create makes a missing or empty dir a data dir, but never takes over a foreign one.
      const r = await cli(['topics', 'create', 't', '--data-dir', foreign]);
      assert.equal(r.code, 4);
      assert.match(oneLineError(r), /DATA_DIR_INVALID: .*not empty and has no MILLRACE marker/);
      assert.equal(snapshot(root), before);
    } finally {
      removeDir(root);
    }
  });

  test('cli errors - a topic that does not exist: exit 3, one line, nothing created', async () => {
    const root = tempDir('millrace-cli');
    const d = ['--data-dir', join(root, 'data')];
    try {
      await cli(['topics', 'create', 'present', ...d]);
      const before = snapshot(root);
      for (const args of [
        ['produce', 'absent', '-m', 'x'], ['consume', 'absent', '-s', 's', '-n', '1'], ['read', 'absent'],
        ['topics', 'stats', 'absent'], ['topics', 'delete', 'absent'], ['subscriptions', 'list', 'absent'],
        ['subscriptions', 'create', 'absent', 's'], ['subscriptions', 'reset', 'absent', 's', '--to', 'earliest'],
        ['subscriptions', 'skip', 'absent', 's', '--all'], ['offload', 'absent', '--tiered-storage', join(root, 'store')],
      ]) {
        const r = await cli([...args, ...d]);
        assert.equal(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
        assert.match(oneLineError(r), /^millrace: TOPIC_NOT_FOUND: .*absent/);
      }
      assert.deepEqual(lines((await cli(['topics', 'list', ...d])).stdout), ['persistent://public/default/present\t0']);
      assert.equal(snapshot(root), before);
      const exists = await cli(['topics', 'create', 'present', ...d]);
      assert.equal(exists.code, 5);
      assert.match(oneLineError(exists), /TOPIC_EXISTS/);
    } finally {
      removeDir(root);
    }
  });

  test('cli errors - a data dir open in another process is refused (exit 4); after SIGINT (exit 130) or a dead owner it opens', async () => {
    const root = tempDir('millrace-cli');
    const dir = join(root, 'data');
    const d = ['--data-dir', dir];
    try {
      await cli(['topics', 'create', 'busy', '--retention', 'infinite', ...d]);
      const holder = await cliBackground(['consume', 'busy', '-s', 'live', '-n', '0', ...d], 'Ctrl-C to stop');
      try {
        for (const args of [['topics', 'list'], ['produce', 'busy', '-m', 'x'], ['topics', 'create', 'other']]) {
          const r = await cli([...args, ...d]);
          assert.equal(r.code, 4, `${args.join(' ')}: ${r.stderr}`);
          assert.match(oneLineError(r), new RegExp(`DATA_DIR_LOCKED: .* in use by process ${holder.child.pid} `));
        }
      } finally {
        holder.child.kill('SIGINT');
      }
      const ended = await holder.done;
      assert.equal(ended.code, 130, ended.stderr);
      assert.equal(existsSync(join(dir, 'MILLRACE.lock')), false, 'the lock is released on exit');
      const ok = await cli(['produce', 'busy', '-m', 'after', ...d]);
      assert.equal(ok.code, 0, ok.stderr);

      // A lock file left by a process that died (SIGKILL leaves it) is taken over.
      const dead = spawn(process.execPath, ['-e', '']);
      const deadPid = dead.pid!;
      await new Promise((r) => dead.on('exit', r));
      writeFileSync(join(dir, 'MILLRACE.lock'), `${JSON.stringify({ pid: deadPid, hostname: hostname(), since: new Date().toISOString() })}\n`);
      const stale = await cli(['read', 'busy', ...d]);
      assert.equal(stale.code, 0, stale.stderr);
      assert.deepEqual(lines(stale.stdout).map((l) => l.split('\t')[1]), ['after']);
    } finally {
      removeDir(root);
    }
  });

  test('cli help - --help and every command\'s --help exit 0 with examples; the exit codes are listed', async () => {
    const top = await cli(['--help']);
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Examples:/);
    assert.match(top.stdout, /Exit codes:\n {2}0 .*\n {2}1 .*\n {2}2 .*\n {2}3 .*\n {2}4 .*\n {2}5 /);
    for (const cmd of ['produce', 'consume', 'read', 'topics list', 'topics create', 'topics delete', 'topics stats', 'subscriptions list',
      'subscriptions create', 'subscriptions reset', 'subscriptions skip', 'offload', 'bench', 'demo']) {
      const r = await cli([...cmd.split(' '), '--help']);
      assert.equal(r.code, 0, cmd);
      assert.match(r.stdout, /Examples?:/, cmd);
      assert.match(r.stdout, /--data-dir <dir>/, cmd);
      assert.match(r.stdout, /--json/, cmd);
    }
    const version = await cli(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  });
});
