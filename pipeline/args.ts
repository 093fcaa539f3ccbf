/** `npm start` flags: parsed and checked before anything is opened, so bad input writes nothing. */
import { parseArgs } from 'node:util';
import { MillraceError } from '../index.js';

export interface PipelineArgs {
  dataDir: string;
  events: number;
  epochs: number;
  seed: number;
  json: boolean;
  help: boolean;
}

export const HELP = `Usage: npm start -- [options]   (or: node dist/main.js [options])

Runs an ML feedback-loop pipeline on an embedded Millrace broker: a producer streams synthetic
click events (with a hidden true model) into a partitioned topic; feature workers (worker threads
on a Shared subscription) publish each event's features exactly once; each epoch a Reader replays
the features from the earliest message to train a logistic regression, which then publishes the
events it gets wrong to a feedback topic that the next epoch weights up. Small ledgers are
offloaded to a filesystem object store while it runs, so later replays read through it.

Options:
  --data-dir DIR   Millrace data directory (default ./data); created when missing. Sealed ledgers
                   are offloaded to the directory DIR-offload beside it.
  --events N       synthetic events (default 200000; 5000 to 10000000: fewer hold too few
                   held-out events to measure learning)
  --epochs E       training epochs (default 3; 1 to 50)
  --seed S         seed of the synthetic data (default 1)
  --json           print the summary as one JSON document on stdout (the live view stays on stderr)
  --help           print this help

Each run creates fresh topics named after the run (persistent://public/pipeline/run-<id>-events,
-features, -feedback), so a data directory that holds earlier runs works as it is; their data stays
(retention is infinite on these topics) until you delete DIR and DIR-offload.
Exit status: 0 when every check in the summary holds, 1 otherwise or on an error.`;

/** Below this the 10% held-out events are too few for accuracy to show learning above noise. */
const MIN_EVENTS = 5000;

function int(name: string, raw: string, min: number, max: number): number {
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new MillraceError('INVALID_ARGUMENT', `--${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

export function parseFlags(argv: string[]): PipelineArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'data-dir': { type: 'string', default: './data' },
        events: { type: 'string', default: '200000' },
        epochs: { type: 'string', default: '3' },
        seed: { type: 'string', default: '1' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    // Node's messages run to two sentences with advice about '--'; the first says what was wrong.
    const first = (err instanceof Error ? err.message : String(err)).split('. ')[0]!.replace(/\.$/, '');
    throw new MillraceError('INVALID_ARGUMENT', `${first}; see --help`, { cause: err });
  }
  const dataDir = values['data-dir']!;
  if (dataDir.length === 0) throw new MillraceError('INVALID_ARGUMENT', '--data-dir must not be empty');
  return {
    dataDir,
    events: int('events', values.events!, MIN_EVENTS, 10_000_000),
    epochs: int('epochs', values.epochs!, 1, 50),
    seed: int('seed', values.seed!, 0, 2 ** 32 - 1),
    json: values.json!,
    help: values.help!,
  };
}
