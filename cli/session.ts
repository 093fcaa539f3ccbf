/**
 * What every command shares: the common options (`--data-dir`, `--json`, `--workers`,
 * `--idle-strategy`, `--tiered-storage`) and opening the data directory embedded, under its process lock, with topic
 * auto-creation off (a command naming a missing topic fails instead of creating it). SIGINT and
 * SIGTERM stop a waiting command through an AbortSignal; the broker is closed either way.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { Broker } from '../actors/client/broker.js';
import type { TieredStorageConfig } from '../core/offload/object-store.js';
import { DEFAULTS } from '../core/defaults.js';
import { MillraceError } from '../core/errors.js';
import { MARKER_FILE } from '../core/storage/data-dir.js';
import { parseTopicName } from '../core/topic/index.js';
import { EXIT } from './errors.js';
import { integer, oneOf } from './parse.js';
import { IDLE_STRATEGIES, type IdleStrategy } from '../actors/host/idle-strategy.js';
import { Output } from './output.js';

/** Options every command has. */
export interface CommonOptions {
  dataDir: string;
  json: boolean;
  workers: number;
  idleStrategy: IdleStrategy;
  tieredStorage?: string;
  s3Endpoint?: string;
  s3Region?: string;
}

export const DEFAULT_DATA_DIR = './data';

/** Adds the common options to a command. `dataDir: 'temp'` documents bench's and demo's temp default. */
export function commonOptions(cmd: Command, defaults: { dataDir?: 'temp'; workers?: number } = {}): Command {
  if (defaults.dataDir === 'temp') cmd.option('-d, --data-dir <dir>', 'data directory (default: a new temporary directory, removed after)');
  else cmd.option('-d, --data-dir <dir>', 'data directory, opened embedded', DEFAULT_DATA_DIR);
  return cmd
    .option('--json', 'print JSON (one object per line for message streams)', false)
    .addOption(new Option('--workers <n>', 'worker threads hosting partitions').argParser(integer(1, 64)).default(defaults.workers ?? 1))
    .addOption(new Option('--idle-strategy <s>', `what a worker does between requests: ${IDLE_STRATEGIES.join(', ')}`).argParser(oneOf(IDLE_STRATEGIES)).default(DEFAULTS.idleStrategy))
    .addOption(new Option('--tiered-storage <dir|s3://bucket/prefix>', 'where sealed ledgers are offloaded and read back from').env('MILLRACE_TIERED_STORAGE'))
    .addOption(new Option('--s3-endpoint <url>', 'endpoint of an S3-compatible server (with s3://)').env('MILLRACE_S3_ENDPOINT'))
    .addOption(new Option('--s3-region <region>', 'S3 region (with s3://)').env('AWS_REGION'));
}

/** The full name of a topic given in any form (TOPIC_NAME_INVALID, exit 2, for a malformed one). */
export function fullName(topic: string): string {
  return parseTopicName(topic).toString();
}

/** The tiered storage configuration `--tiered-storage` names, if any. */
export function tieredStorage(o: CommonOptions): TieredStorageConfig | undefined {
  const v = o.tieredStorage;
  if (v === undefined || v === '') return undefined;
  const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(v);
  if (s3) {
    return {
      driver: 's3', bucket: s3[1]!, ...(s3[2] ? { prefix: s3[2] } : {}),
      ...(o.s3Endpoint ? { endpoint: o.s3Endpoint } : {}), ...(o.s3Region ? { region: o.s3Region } : {}),
    };
  }
  return { driver: 'filesystem', path: resolve(v.startsWith('file://') ? v.slice('file://'.length) : v) };
}

/** What a command gets while the broker is open. */
export interface Session {
  broker: Broker;
  out: Output;
  /** Aborted by SIGINT, SIGTERM or a closed stdout: commands stop, and the CLI exits 130, 143 or 141. */
  signal: AbortSignal;
}

let interruptedExitCode: number | undefined;

/** Whether stdout was closed by its reader (a write failed). */
export function stdoutClosed(): boolean {
  return interruptedExitCode === 141;
}

/** The exit code a signal asked for (130 SIGINT, 143 SIGTERM, 141 stdout closed), once one arrived. */
export function interruption(): number | undefined {
  return interruptedExitCode;
}

/**
 * Opens the data directory (Broker.open takes its process lock), runs `fn`, then closes the broker
 * (which releases the lock).
 * `create: false` (most commands) refuses a directory that is missing or not a Millrace data
 * directory before anything is written; `create: true` (topics create, bench, demo) makes a new one.
 */
export async function withBroker<T>(o: CommonOptions, create: boolean, fn: (s: Session) => Promise<T>): Promise<T> {
  const dir = resolve(o.dataDir);
  if (!create && !existsSync(join(dir, MARKER_FILE))) {
    throw new MillraceError('DATA_DIR_INVALID', existsSync(dir)
      ? `${dir} is not a Millrace data directory (it has no ${MARKER_FILE} marker)`
      : `${dir} does not exist; create a topic there first (millrace topics create <topic> --data-dir ${o.dataDir})`);
  }
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (abort.signal.aborted) process.exit(interruptedExitCode ?? EXIT.INTERRUPTED); // a second Ctrl-C: stop now
    interruptedExitCode = signal === 'SIGTERM' ? 143 : EXIT.INTERRUPTED;
    abort.abort();
  };
  // stdout closed early (`millrace read t | head`): stop as a signal would, exit 141 (128 + SIGPIPE)
  // quietly instead of dying on the unhandled EPIPE with the lock file left behind.
  const onStdoutError = (): void => {
    interruptedExitCode ??= 141;
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.stdout.on('error', onStdoutError);
  let broker: Broker | undefined;
  try {
    const ts = tieredStorage(o);
    broker = await Broker.open({ dataDir: dir, workers: o.workers, idleStrategy: o.idleStrategy, allowAutoTopicCreation: false, ...(ts ? { tieredStorage: ts } : {}) });
    return await fn({ broker, out: new Output(o.json), signal: abort.signal });
  } finally {
    try {
      await broker?.close();
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      // Later writes to a broken stdout still report errors; they stay swallowed.
      if (!abort.signal.aborted) process.stdout.off('error', onStdoutError);
    }
  }
}
