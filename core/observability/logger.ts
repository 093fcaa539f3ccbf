/**
 * The logger Millrace writes to: the subset of pino's API it calls, so a pino logger (or anything
 * with the same methods) can be passed as it is. Silent by default. Actors run in worker threads;
 * their records travel to the thread that opened the broker (the cold path) and are written there.
 */

/** A log level Millrace uses. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** pino-compatible: `logger.info({ topic }, 'message')`. */
export interface Logger {
  debug(obj: Record<string, unknown>, msg?: string): void;
  info(obj: Record<string, unknown>, msg?: string): void;
  warn(obj: Record<string, unknown>, msg?: string): void;
  error(obj: Record<string, unknown>, msg?: string): void;
}

const noop = (): void => undefined;

/** The default: writes nothing. */
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** True for an object with every method a {@link Logger} needs. */
export function isLogger(x: unknown): x is Logger {
  return typeof x === 'object' && x !== null && LEVELS.every((l) => typeof (x as Record<string, unknown>)[l] === 'function');
}

/** Writes one record, never throwing into the caller: a broken logger must not break the broker. */
export function writeLog(logger: Logger, level: LogLevel, obj: Record<string, unknown>, msg: string): void {
  try {
    logger[level](obj, msg);
  } catch {
    // the application's logger failed; nothing sensible to do about it here
  }
}
