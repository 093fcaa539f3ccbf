/**
 * Storage fault injection for tests: a failing (ENOSPC, EIO) or slow LMDB write, switched on by the
 * `MILLRACE_FAULTS` environment variable. Worker threads copy the environment when they start, so
 * a test sets the variable before `Broker.open` and every thread's store injects the same faults.
 * Zero cost when off: the store reads the variable once when it opens, and only a store with faults
 * has its `put` methods wrapped.
 *
 * `MILLRACE_FAULTS` is JSON, one spec or a list:
 * `{"db":"entries","error":"ENOSPC","after":20,"count":10}` fails the 21st to 30th entry writes of
 * each store (each thread counts its own); `{"db":"cursors","delayMs":50}` delays every cursor write.
 */
import { MillraceError } from '../errors.js';

/** One injected fault. */
export interface FaultSpec {
  /** The named database whose writes are hit. */
  db: 'entries' | 'cursors' | 'ledgers' | 'meta' | 'topics';
  /** The error a hit write fails with (as the OS reports it); absent: the write is only delayed. */
  error?: 'ENOSPC' | 'EIO';
  /** Writes of this database (in this store) that pass before the first hit. @default 0 */
  after?: number;
  /** Writes hit, then the fault stops. @default unlimited */
  count?: number;
  /** A hit write waits this long before it is written (with `error`: before it fails). @default 0 */
  delayMs?: number;
}

/** The environment variable read by {@link faultsFromEnv}. */
export const FAULTS_ENV = 'MILLRACE_FAULTS';

/** The faults the environment asks for, or undefined (the normal case). */
export function faultsFromEnv(): FaultSpec[] | undefined {
  const raw = process.env[FAULTS_ENV];
  if (raw === undefined || raw === '') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (cause) {
    throw new MillraceError('INVALID_ARGUMENT', `${FAULTS_ENV} must be JSON (a fault spec or a list of them), got ${raw}`, { cause });
  }
  const specs = (Array.isArray(parsed) ? parsed : [parsed]) as FaultSpec[];
  for (const s of specs) {
    if (s === null || typeof s !== 'object' || !['entries', 'cursors', 'ledgers', 'meta', 'topics'].includes(s.db)) {
      throw new MillraceError('INVALID_ARGUMENT', `${FAULTS_ENV}: each spec names db 'entries', 'cursors', 'ledgers', 'meta' or 'topics', got ${JSON.stringify(s)}`);
    }
    if (s.error !== undefined && s.error !== 'ENOSPC' && s.error !== 'EIO') {
      throw new MillraceError('INVALID_ARGUMENT', `${FAULTS_ENV}: error must be 'ENOSPC' or 'EIO', got ${JSON.stringify(s.error)}`);
    }
  }
  return specs;
}

interface Writable {
  put(...args: unknown[]): Promise<unknown>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Wraps the `put` of the databases the specs name. A failing write is never handed to LMDB (as a
 * write the disk refused), and fails as lmdb-js reports a failed commit: a rejected promise with
 * the OS error code.
 */
export function installFaults(dbs: Record<FaultSpec['db'], unknown>, specs: FaultSpec[]): void {
  for (const spec of specs) {
    const db = dbs[spec.db] as Writable;
    const put = db.put.bind(db);
    let seen = 0;
    let hits = 0;
    db.put = (...args: unknown[]): Promise<unknown> => {
      const n = seen++;
      const hit = n >= (spec.after ?? 0) && (spec.count === undefined || hits < spec.count);
      if (!hit) return put(...args);
      hits++;
      const delay = spec.delayMs ?? 0;
      if (spec.error === undefined) return sleep(delay).then(() => put(...args));
      const err = Object.assign(new Error(`${spec.error}: injected ${spec.db} write failure (${FAULTS_ENV})`), { code: spec.error });
      return delay > 0 ? sleep(delay).then(() => Promise.reject(err)) : Promise.reject(err);
    };
  }
}
