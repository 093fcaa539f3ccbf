/** A promise with its resolve and reject outside it: "ready" gates that something else settles. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

/**
 * Creates a deferred. With `quiet`, a rejection nobody awaits yet is not reported as unhandled
 * (a host's "ready" may fail before any request waits on it).
 */
export function deferred<T = void>(quiet = false): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  if (quiet) promise.catch(() => undefined);
  return { promise, resolve, reject };
}
