/**
 * Exit codes of the `millrace` CLI and the one-line error every failure prints on stderr. Codes are
 * grouped by what the caller can do about them: fix the command line (2), name something that
 * exists (3), fix or free the data directory (4), resolve a conflict (5).
 */
import { CommanderError } from 'commander';
import { MillraceError, type ErrorCode } from '../core/errors.js';

/** Exit codes; stable, listed in `millrace --help` and the README. */
export const EXIT = {
  OK: 0,
  /** Any other failure (storage, timeouts, an internal error). */
  FAILED: 1,
  /** Bad command line: unknown command or flag, a malformed value, an invalid policy. */
  USAGE: 2,
  /** The topic, subscription or message does not exist. */
  NOT_FOUND: 3,
  /** The data directory is missing, not a Millrace data directory, too new, or in use by another process. */
  DATA_DIR: 4,
  /** The topic exists already, or is busy (connected producers or consumers, an exclusive subscription in use). */
  CONFLICT: 5,
  /** Stopped by SIGINT (128 + 2), after closing cleanly; SIGTERM gives 143. */
  INTERRUPTED: 130,
} as const;

const BY_CODE: Partial<Record<ErrorCode, number>> = {
  INVALID_ARGUMENT: EXIT.USAGE,
  TOPIC_NAME_INVALID: EXIT.USAGE,
  POLICY_INVALID: EXIT.USAGE,
  BATCH_EMPTY: EXIT.USAGE,
  ENTRY_TOO_LARGE: EXIT.USAGE,
  OFFLOAD_NOT_CONFIGURED: EXIT.USAGE,
  TOPIC_NOT_FOUND: EXIT.NOT_FOUND,
  SUBSCRIPTION_NOT_FOUND: EXIT.NOT_FOUND,
  ENTRY_NOT_FOUND: EXIT.NOT_FOUND,
  DATA_DIR_INVALID: EXIT.DATA_DIR,
  DATA_DIR_VERSION_UNSUPPORTED: EXIT.DATA_DIR,
  DATA_DIR_LOCKED: EXIT.DATA_DIR,
  TOPIC_EXISTS: EXIT.CONFLICT,
  TOPIC_BUSY: EXIT.CONFLICT,
  CONSUMER_BUSY: EXIT.CONFLICT,
  SUBSCRIPTION_BUSY: EXIT.CONFLICT,
  PRODUCER_BUSY: EXIT.CONFLICT,
  SUBSCRIPTION_TYPE_CONFLICT: EXIT.CONFLICT,
};

/** The text of `--help`'s exit code section. */
export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    failure (storage, timeout, internal error)
  2    usage: unknown command or flag, malformed value, invalid policy
  3    not found: topic, subscription or message
  4    data directory: missing, not a Millrace data directory, newer format, or locked by another process
  5    conflict: topic exists, topic busy, exclusive subscription in use
  130  interrupted (SIGINT; 143 for SIGTERM), after closing cleanly`;

/** A command-line mistake found by the CLI itself (exit 2). */
export function usageError(message: string): MillraceError {
  return new MillraceError('INVALID_ARGUMENT', message, { retriable: false });
}

/** The exit code for an error thrown by a command. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommanderError) return EXIT.USAGE; // a value parser's InvalidArgumentError met in an action
  return err instanceof MillraceError ? (BY_CODE[err.code] ?? EXIT.FAILED) : EXIT.FAILED;
}

const oneLine = (s: string): string => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * The error as one line for stderr: `millrace: CODE: message`, or with `json` one JSON object
 * `{"error":{"code","message","exitCode"}}`. Errors that are not Millrace's are bugs: their stack is
 * printed too when MILLRACE_DEBUG=1.
 */
export function formatError(err: unknown, json: boolean): string {
  const code = err instanceof MillraceError ? err.code : err instanceof CommanderError ? 'USAGE' : 'INTERNAL';
  const message = oneLine(err instanceof Error ? err.message : String(err));
  if (json) return `${JSON.stringify({ error: { code, message, exitCode: exitCodeOf(err) } })}\n`;
  const debug = process.env.MILLRACE_DEBUG === '1' && err instanceof Error && err.stack ? `${err.stack}\n` : '';
  return `millrace: ${code}: ${message}\n${debug}`;
}
