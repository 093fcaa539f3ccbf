/**
 * The S3 object store (AWS or any S3-compatible server). `@aws-sdk/client-s3` is imported on the
 * first call, never at module load, so a broker without S3 offload never loads the SDK.
 *
 * Puts are atomic by S3's own rule (an object appears whole when its PUT or CompleteMultipartUpload
 * succeeds). A body up to `partSizeBytes` goes up as one PUT; a larger one as a multipart upload of
 * `partSizeBytes` parts, aborted on any failure so no orphaned parts are billed.
 *
 * The client is bounded: a connect timeout, an idle timeout, a whole-request timeout and a few
 * attempts, so an unreachable or hung endpoint fails with OBJECT_STORE_UNAVAILABLE in seconds rather
 * than hanging on the SDK defaults (no request timeout at all). Flexible checksums are sent only when an operation requires them: many
 * S3-compatible servers reject the newer checksum headers, and every offloaded object carries its own
 * checksums (ledger-object.ts).
 *
 * On Node 20 the SDK prints one "NodeVersionSupportWarning" per process; it is silenced by the SDK's
 * documented AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true, which is left for the user to set
 * (changing the environment or the warning handlers here would be a global side effect).
 */
import type { S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { MillraceError, type ErrorCode } from '../errors.js';
import { checkKey, checkPrefix, checkRange } from './object-key.js';
import type { ObjectStore, ResolvedObjectStoreOptions, TieredStorageConfig } from './object-store.js';

type S3Config = Extract<TieredStorageConfig, { driver: 's3' }>;
type Sdk = typeof import('@aws-sdk/client-s3');

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly bucket: string;
  /** '' or the configured prefix with exactly one trailing '/'. */
  private readonly keyPrefix: string;
  private sdk: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  private closed = false;

  constructor(private readonly config: S3Config, private readonly options: ResolvedObjectStoreOptions) {
    this.bucket = config.bucket;
    const p = (config.prefix ?? '').replace(/\/+$/, '');
    this.keyPrefix = p === '' ? '' : `${p}/`;
    this.description = `s3://${config.bucket}/${this.keyPrefix}${config.endpoint !== undefined ? ` (${config.endpoint})` : ''}`;
  }

  async put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, opts?: { size?: number }): Promise<void> {
    checkKey(key);
    const { sdk, client } = await this.client();
    const Key = this.keyPrefix + key;
    const partSize = this.options.partSizeBytes;
    if (body instanceof Uint8Array && body.length <= partSize) {
      await this.send('put', key, () => client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key, Body: body, ContentLength: body.length })));
      return;
    }
    const hint = opts?.size;
    const chunks: AsyncIterable<Uint8Array> = body instanceof Uint8Array ? once(body) : body;
    // Gather up to one part; only when a second part is needed is a multipart upload started.
    let part = new Uint8Array(Math.min(partSize, hint !== undefined && hint >= 0 && hint <= partSize ? Math.max(1, hint) : partSize));
    let fill = 0;
    let uploadId: string | undefined;
    const parts: { ETag: string; PartNumber: number }[] = [];
    const flushPart = async (bytes: Uint8Array): Promise<void> => {
      if (uploadId === undefined) {
        const r = await this.send('put', key, () => client.send(new sdk.CreateMultipartUploadCommand({ Bucket: this.bucket, Key })));
        if (r.UploadId === undefined) throw new MillraceError('OBJECT_STORE_REQUEST_FAILED', `s3 put ${key}: CreateMultipartUpload returned no UploadId`);
        uploadId = r.UploadId;
      }
      const PartNumber = parts.length + 1;
      const id = uploadId;
      const r = await this.send('put', key, () => client.send(new sdk.UploadPartCommand({
        Bucket: this.bucket, Key, UploadId: id, PartNumber, Body: bytes, ContentLength: bytes.length,
      })));
      if (r.ETag === undefined) throw new MillraceError('OBJECT_STORE_REQUEST_FAILED', `s3 put ${key}: UploadPart returned no ETag`);
      parts.push({ ETag: r.ETag, PartNumber });
    };
    try {
      for await (const chunk of chunks) {
        if (!(chunk instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'put body chunks must be Uint8Arrays');
        let at = 0;
        while (at < chunk.length) {
          if (fill === part.length) {
            if (part.length < partSize) { // the size hint was low: grow to a full part
              const bigger = new Uint8Array(partSize);
              bigger.set(part);
              part = bigger;
            } else {
              await flushPart(part);
              part = new Uint8Array(partSize); // the SDK may still hold the old one
              fill = 0;
            }
          }
          const n = Math.min(chunk.length - at, part.length - fill);
          part.set(chunk.subarray(at, at + n), fill);
          fill += n;
          at += n;
        }
      }
      if (uploadId === undefined) {
        const bytes = part.subarray(0, fill);
        await this.send('put', key, () => client.send(new sdk.PutObjectCommand({ Bucket: this.bucket, Key, Body: bytes, ContentLength: fill })));
        return;
      }
      if (fill > 0) await flushPart(part.subarray(0, fill));
      const id = uploadId;
      await this.send('put', key, () => client.send(new sdk.CompleteMultipartUploadCommand({
        Bucket: this.bucket, Key, UploadId: id, MultipartUpload: { Parts: parts },
      })));
    } catch (err) {
      if (uploadId !== undefined) {
        const id = uploadId;
        await client.send(new sdk.AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId: id })).catch(() => undefined);
      }
      throw err instanceof MillraceError ? err : s3Error(err, 'put', key);
    }
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<Uint8Array> {
    checkKey(key);
    checkRange(range);
    if (range !== undefined && range.length === 0) {
      // An empty range has no HTTP form; still report a missing object as S3 would.
      if ((await this.head(key)) === undefined) throw new MillraceError('OBJECT_NOT_FOUND', `s3 get ${key}: no such object`);
      return new Uint8Array(0);
    }
    const { sdk, client } = await this.client();
    const Range = range === undefined ? undefined : `bytes=${range.offset}-${range.offset + range.length - 1}`;
    try {
      const r = await this.send('get', key, () => client.send(new sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key, Range })));
      if (r.Body === undefined) return new Uint8Array(0);
      return await r.Body.transformToByteArray();
    } catch (err) {
      // 416: the range starts at or past the end; the contract is "the bytes that exist", here none.
      if (err instanceof MillraceError && statusOf(err.cause) === 416) return new Uint8Array(0);
      throw err instanceof MillraceError ? err : s3Error(err, 'get', key);
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    checkKey(key);
    const { sdk, client } = await this.client();
    try {
      const r = await this.send('head', key, () => client.send(new sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key })));
      return { size: r.ContentLength ?? 0 };
    } catch (err) {
      if (!(err instanceof MillraceError) || err.code !== 'OBJECT_NOT_FOUND') throw err;
    }
    // A HEAD's 404 has no body, so "no such key" and "no such bucket" look alike: ask about the bucket.
    await this.send('head', key, () => client.send(new sdk.HeadBucketCommand({ Bucket: this.bucket })), 'bucket');
    return undefined;
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const { sdk, client } = await this.client();
    try {
      await this.send('delete', key, () => client.send(new sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyPrefix + key })));
    } catch (err) {
      if (err instanceof MillraceError && err.code === 'OBJECT_NOT_FOUND') return;
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    checkPrefix(prefix);
    const { sdk, client } = await this.client();
    const out: string[] = [];
    let token: string | undefined;
    do {
      const t = token;
      const r = await this.send('list', prefix, () => client.send(new sdk.ListObjectsV2Command({
        Bucket: this.bucket, Prefix: this.keyPrefix + prefix, ContinuationToken: t,
      })), 'bucket');
      for (const o of r.Contents ?? []) {
        if (o.Key !== undefined && o.Key.startsWith(this.keyPrefix)) out.push(o.Key.slice(this.keyPrefix.length));
      }
      token = r.IsTruncated === true ? r.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const s = this.sdk;
    this.sdk = undefined;
    if (s !== undefined) {
      try { (await s).client.destroy(); } catch { /* the import failed: nothing to release */ }
    }
  }

  private client(): Promise<{ sdk: Sdk; client: S3Client }> {
    if (this.closed) return Promise.reject(new MillraceError('CLOSED', `object store ${this.description} is closed`));
    this.sdk ??= this.load();
    return this.sdk;
  }

  private async load(): Promise<{ sdk: Sdk; client: S3Client }> {
    let sdk: Sdk;
    try {
      sdk = await import('@aws-sdk/client-s3');
    } catch (err) {
      this.sdk = undefined; // let a later call try again (e.g. after the package is installed)
      throw new MillraceError('INVALID_ARGUMENT', 's3 tiered storage needs the @aws-sdk/client-s3 package (npm install @aws-sdk/client-s3)', { cause: err });
    }
    const c = this.config;
    const o = this.options;
    const client = new sdk.S3Client({
      region: c.region ?? 'us-east-1',
      ...(c.endpoint !== undefined ? { endpoint: c.endpoint } : {}),
      forcePathStyle: c.forcePathStyle ?? c.endpoint !== undefined,
      ...(c.credentials !== undefined ? { credentials: { ...c.credentials } } : {}),
      maxAttempts: o.maxAttempts,
      // Without throwOnRequestTimeout the handler only logs a warning when the request timeout passes, and waits on.
      requestHandler: {
        connectionTimeout: o.connectTimeoutMs, requestTimeout: o.requestTimeoutMs, throwOnRequestTimeout: true, socketTimeout: o.idleTimeoutMs,
      },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    return { sdk, client };
  }

  /** Runs one SDK call, mapping its failure; `about` says whether a 404 means the key or the bucket. */
  private async send<T>(op: string, key: string, call: () => Promise<T>, about: 'key' | 'bucket' = 'key'): Promise<T> {
    try {
      return await call();
    } catch (err) {
      throw s3Error(err, op, key, about);
    }
  }
}

async function* once(b: Uint8Array): AsyncIterable<Uint8Array> {
  yield b;
}

function statusOf(err: unknown): number | undefined {
  const m = (err as Partial<S3ServiceException> | undefined)?.$metadata;
  return typeof m?.httpStatusCode === 'number' ? m.httpStatusCode : undefined;
}

const DENIED = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken',
  'TokenRefreshRequired', 'CredentialsProviderError', 'AllAccessDisabled', 'AccountProblem', 'Forbidden']);
const UNAVAILABLE = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'SlowDown', 'ServiceUnavailable',
  'InternalError', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE',
  'AbortError', 'RequestAbortedError']);

/** Maps an SDK or network error to the store's codes, keeping the original as the cause. */
export function s3Error(err: unknown, op: string, key: string, about: 'key' | 'bucket' = 'key'): MillraceError {
  if (err instanceof MillraceError) return err;
  const e = (err ?? {}) as { name?: unknown; code?: unknown; Code?: unknown; message?: unknown };
  const name = typeof e.name === 'string' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : typeof e.Code === 'string' ? e.Code : '';
  const status = statusOf(err);
  let c: ErrorCode;
  if (name === 'NoSuchBucket' || code === 'NoSuchBucket') c = 'OBJECT_STORE_BUCKET_NOT_FOUND';
  else if (name === 'NoSuchKey' || name === 'NotFound' || status === 404) c = about === 'bucket' ? 'OBJECT_STORE_BUCKET_NOT_FOUND' : 'OBJECT_NOT_FOUND';
  else if (DENIED.has(name) || DENIED.has(code) || status === 401 || status === 403) c = 'OBJECT_STORE_DENIED';
  else if (UNAVAILABLE.has(name) || UNAVAILABLE.has(code) || (status !== undefined && status >= 500) || status === undefined) c = 'OBJECT_STORE_UNAVAILABLE';
  else c = 'OBJECT_STORE_REQUEST_FAILED';
  const detail = [name, code, status !== undefined ? `HTTP ${status}` : '', typeof e.message === 'string' ? e.message : '']
    .filter((s) => s !== '').join(': ');
  return new MillraceError(c, `s3 ${op} ${JSON.stringify(key)} failed: ${detail || String(err)}`, { cause: err });
}
