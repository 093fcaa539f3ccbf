/**
 * The object store behind tiered storage: a flat key -> bytes map with atomic puts and ranged gets.
 * Two drivers: a directory on a filesystem (a mounted NAS, or tests) and S3 (or any S3-compatible
 * server). The offloader makes the keys; the stores only check that a key is well formed (and, for
 * the filesystem, that it stays inside the root).
 */
import { MillraceError } from '../errors.js';
import { FsObjectStore } from './fs-object-store.js';
import { S3ObjectStore } from './s3-object-store.js';

export { checkKey, checkPrefix, MAX_KEY_BYTES } from './object-key.js';

/** A store of immutable objects; every failure is a MillraceError (OBJECT_* codes). */
export interface ObjectStore {
  /** Where the objects live, for logs and stats: `filesystem:/path` or `s3://bucket/prefix`. */
  readonly description: string;
  /**
   * Stores `body` under `key`, replacing any object there. Atomic: a reader sees the old object, or no
   * object, or the whole new one, never a part. `opts.size` (the body's byte length, when known) lets
   * the S3 store size its buffer. The store may hold an iterable's chunks until the put settles: yield
   * fresh arrays, never one buffer refilled between chunks.
   */
  put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts?: { size?: number }): Promise<void>;
  /**
   * The object's bytes, or `range.length` bytes from `range.offset`. A range reaching past the end
   * returns the bytes that exist (empty when `offset >= size`): callers that know the size check it.
   * Throws OBJECT_NOT_FOUND if there is no object.
   */
  get(key: string, range?: { offset: number; length: number }): Promise<Uint8Array>;
  /** The object's size, or undefined if there is no object under `key`. */
  head(key: string): Promise<{ size: number } | undefined>;
  /** Removes the object; no error if it does not exist. */
  delete(key: string): Promise<void>;
  /** Every key starting with `prefix` (relative keys, as given to put), in ascending order. */
  list(prefix: string): Promise<string[]>;
  /** Releases connections; idempotent. Later calls throw CLOSED. */
  close(): Promise<void>;
}

/** Where offloaded ledgers go. */
export type TieredStorageConfig =
  | { driver: 'filesystem'; path: string }
  | {
    driver: 's3';
    bucket: string;
    /** Key prefix inside the bucket (a trailing `/` is implied). */
    prefix?: string;
    /** Endpoint URL of an S3-compatible server (MinIO, Ceph...); absent: AWS. */
    endpoint?: string;
    /** @default 'us-east-1' */
    region?: string;
    /** Path-style addressing (`endpoint/bucket/key`); most non-AWS servers need it. @default true when `endpoint` is set */
    forcePathStyle?: boolean;
    /** Static credentials; absent: the SDK's standard provider chain (env, profile, instance role...). */
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  };

/** Tuning of the stores; defaults suit production, tests shrink them. */
export interface ObjectStoreOptions {
  /**
   * S3: bodies larger than this go up as a multipart upload in parts of this size (the last part may be
   * smaller). S3 allows 10,000 parts, so 8 MiB parts cap an object at 78 GiB, far above a ledger.
   * @default 8 * 1024 * 1024
   */
  partSizeBytes?: number;
  /**
   * S3: time limit for one whole HTTP request and response (an 8 MiB part needs about 1 Mbit/s to make
   * the default). @default 120_000
   */
  requestTimeoutMs?: number;
  /** S3: a request whose connection stays silent this long fails: a hung server is noticed in seconds. @default 10_000 */
  idleTimeoutMs?: number;
  /** S3: time limit for the TCP connect. @default 2_000 */
  connectTimeoutMs?: number;
  /** S3: attempts per request, the first included (the SDK retries 5xx and network errors with backoff). @default 3 */
  maxAttempts?: number;
}

/** The options with their defaults applied. */
export interface ResolvedObjectStoreOptions {
  partSizeBytes: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  maxAttempts: number;
}

/** 8 MiB parts: large enough that a 50k-entry ledger is a handful of parts, small enough to buffer. */
export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;


/** Creates the store `config` names. Throws INVALID_ARGUMENT for a malformed config. */
export function createObjectStore(config: TieredStorageConfig, options: ObjectStoreOptions = {}): ObjectStore {
  const resolved = resolveObjectStoreOptions(options);
  if (config === null || typeof config !== 'object') {
    throw new MillraceError('INVALID_ARGUMENT', 'tiered storage config must be an object with a driver');
  }
  switch (config.driver) {
    case 'filesystem': {
      if (typeof config.path !== 'string' || config.path === '' || config.path.includes('\0')) {
        throw new MillraceError('INVALID_ARGUMENT', 'filesystem tiered storage needs a non-empty `path` string');
      }
      return new FsObjectStore(config.path);
    }
    case 's3': {
      validateS3Config(config);
      return new S3ObjectStore(config, resolved);
    }
    default:
      throw new MillraceError('INVALID_ARGUMENT', `tiered storage driver must be 'filesystem' or 's3', got ${JSON.stringify((config as { driver?: unknown }).driver)}`);
  }
}

function resolveObjectStoreOptions(o: ObjectStoreOptions): ResolvedObjectStoreOptions {
  const int = (v: number | undefined, dflt: number, min: number, name: string): number => {
    if (v === undefined) return dflt;
    if (!Number.isSafeInteger(v) || v < min) throw new MillraceError('INVALID_ARGUMENT', `${name} must be an integer >= ${min}, got ${String(v)}`);
    return v;
  };
  return {
    // 1 byte parts are allowed so tests can exercise multipart cheaply; real S3 refuses parts < 5 MiB.
    partSizeBytes: int(o.partSizeBytes, DEFAULT_PART_SIZE_BYTES, 1, 'partSizeBytes'),
    requestTimeoutMs: int(o.requestTimeoutMs, 120_000, 1, 'requestTimeoutMs'),
    idleTimeoutMs: int(o.idleTimeoutMs, 10_000, 1, 'idleTimeoutMs'),
    connectTimeoutMs: int(o.connectTimeoutMs, 2_000, 1, 'connectTimeoutMs'),
    maxAttempts: int(o.maxAttempts, 3, 1, 'maxAttempts'),
  };
}

// S3's rules for bucket names (the subset that matters for a typo: length, charset, no `..`).
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

function validateS3Config(c: Extract<TieredStorageConfig, { driver: 's3' }>): void {
  const bad = (m: string): never => { throw new MillraceError('INVALID_ARGUMENT', `s3 tiered storage: ${m}`); };
  if (typeof c.bucket !== 'string' || !BUCKET_NAME.test(c.bucket) || c.bucket.includes('..')) {
    bad(`bucket must be 3-63 characters of a-z, 0-9, '.', '-', starting and ending with a letter or digit, got ${JSON.stringify(c.bucket)}`);
  }
  if (c.prefix !== undefined && (typeof c.prefix !== 'string' || c.prefix.includes('\0') || c.prefix.startsWith('/'))) {
    bad('prefix must be a string without NUL that does not start with /');
  }
  if (c.endpoint !== undefined) {
    let u: URL | undefined;
    try { u = new URL(String(c.endpoint)); } catch { u = undefined; }
    if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) bad(`endpoint must be an http(s) URL, got ${JSON.stringify(c.endpoint)}`);
  }
  if (c.region !== undefined && (typeof c.region !== 'string' || !/^[a-z0-9-]{1,40}$/.test(c.region))) {
    bad(`region must look like 'us-east-1', got ${JSON.stringify(c.region)}`);
  }
  if (c.forcePathStyle !== undefined && typeof c.forcePathStyle !== 'boolean') bad('forcePathStyle must be a boolean');
  if (c.credentials !== undefined) {
    const k = c.credentials;
    if (k === null || typeof k !== 'object' || typeof k.accessKeyId !== 'string' || k.accessKeyId === ''
      || typeof k.secretAccessKey !== 'string' || k.secretAccessKey === ''
      || (k.sessionToken !== undefined && typeof k.sessionToken !== 'string')) {
      bad('credentials must have non-empty accessKeyId and secretAccessKey strings (and an optional sessionToken string)');
    }
  }
}
