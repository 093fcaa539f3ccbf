/**
 * `npm start`: the main job, an ML feedback-loop pipeline on the embedded broker (see `--help` and
 * pipeline/run.ts). This file only reads the flags, wires the live view to stderr, and prints the
 * summary on stdout (text, or JSON with --json). Errors are one line on stderr and exit status 1.
 */
import { dirname, basename, join, resolve } from 'node:path';
import { MillraceError } from './index.js';
import { HELP, parseFlags } from './pipeline/args.js';
import { runPipeline } from './pipeline/run.js';
import { formatSummary } from './pipeline/summary.js';
import { LiveView } from './pipeline/view.js';

async function main(): Promise<void> {
  const args = parseFlags(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const dataDir = resolve(args.dataDir);
  // Beside the data directory, never inside it: the LMDB directory holds only what the broker writes.
  const offloadDir = join(dirname(dataDir), `${basename(dataDir)}-offload`);
  let view: LiveView | undefined;
  try {
    const summary = await runPipeline({ dataDir, offloadDir, events: args.events, epochs: args.epochs, seed: args.seed }, {
      attach(state) {
        view = new LiveView(state, process.stderr);
        view.start();
      },
      log(line) {
        view?.log(line);
      },
    });
    view?.stop();
    process.stdout.write(args.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary));
    if (!summary.ok) process.exitCode = 1;
  } finally {
    view?.stop();
  }
}

main().catch((err: unknown) => {
  const e = err instanceof MillraceError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`millrace: ${e.replace(/\s*\n\s*/g, ' ')}\n`);
  process.exitCode = 1;
});
