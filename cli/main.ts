#!/usr/bin/env node
/**
 * `millrace`: the command line. Each command opens the data directory embedded (no server), under
 * its process lock, does its work and closes it. Errors are one line on stderr with an exit code by
 * kind (see cli/errors.ts); results go to stdout, as JSON with `--json`.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { EXIT, EXIT_CODES_HELP, exitCodeOf, formatError } from './errors.js';
import { interruption } from './session.js';
import { registerProduce } from './produce.js';
import { registerConsume } from './consume.js';
import { registerRead } from './read.js';
import { registerTopics } from './topics.js';
import { registerSubscriptions } from './subscriptions.js';
import { registerOffload } from './offload.js';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The program with every command. */
function buildProgram(): Command {
  const program = new Command('millrace')
    .description('Millrace, an embeddable Pulsar-style message broker: work on a data directory from the shell')
    .version(version(), '-V, --version')
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      // Commander's own errors (unknown command or flag, a bad value): one line, our prefix.
      outputError: (str, write) => write(`millrace: ${str.replace(/^error: /, 'USAGE: ').replace(/\s*\n\s*/g, ' ').trim()}\n`),
    })
    .addHelpText('after', `
Every command takes --data-dir (default ./data; bench and demo: a temporary one), --json,
--workers, --idle-strategy and --tiered-storage. Commands other than topics create, bench and demo need an
existing data directory and an existing topic: nothing is created by mistake. One process at a
time opens a data directory (a second gets DATA_DIR_LOCKED, exit 4).

Examples:
  millrace topics create events --partitions 4 --retention infinite
  millrace produce events -m hello -m world
  seq 1 1000 | millrace produce events --key k1
  millrace consume events -s audit --initial-position earliest -n 0 --timeout-ms 1000
  millrace read events --start-time 2026-11-25T10:00:00Z --json
  millrace topics stats events
  millrace subscriptions reset events audit --to earliest
  millrace bench
  millrace <command> --help

${EXIT_CODES_HELP}`);
  // Subcommands inherit the settings above when created through .command().
  registerProduce(program);
  registerConsume(program);
  registerRead(program);
  registerTopics(program);
  registerSubscriptions(program);
  registerOffload(program);
  registerBench(program);
  registerDemo(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return interruption() ?? (typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK);
  } catch (err) {
    // Commander printed its own errors already (an InvalidArgumentError thrown by a command's action
    // was not). --help and --version exit 0; a command group without its subcommand prints its help
    // and is a usage error.
    if (err instanceof CommanderError && !(err instanceof InvalidArgumentError)) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.OK : EXIT.USAGE;
    }
    process.stderr.write(formatError(err, json));
    return exitCodeOf(err);
  }
}

// Output outside a command's session (help, version, errors) to a reader that went away
// (`millrace --help | head`): nothing more can be shown, and an unhandled EPIPE would print a stack
// trace. A command's session handles its own (exit 141, see session.ts).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
});

process.exitCode = await main(process.argv.slice(2));
