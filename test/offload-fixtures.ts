/**
 * Shared pieces of the offload tests: a real S3 server (s3rver) on loopback in a temp directory, the
 * two stores under test, and real framed entries.
 */
import { createRequire } from 'node:module';
import { createObjectStore, type ObjectStore, type ObjectStoreOptions } from '../core/offload/index.js';
import { jsFramer, type FrameBatch } from '../wasm/index.js';
import type { OffloadEntry } from '../core/offload/index.js';
import { tempDir, removeDir } from './util/tmp.js';

/** The part of s3rver's API used here (the package ships no typings). */
interface S3rver {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: {
  port: number; address: string; silent: boolean; directory: string; configureBuckets: { name: string; configs: unknown[] }[];
}) => S3rver;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

// The SDK prints a Node 20 support notice once per process; it is noise in test output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const BUCKET = 'millrace-test';
export const CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** A running s3rver; `restart` brings it back on the same port and directory (objects kept). */
export class TestS3 {
  private server: S3rver | undefined;
  port = 0;
  private constructor(readonly dir: string) {}

  static async start(): Promise<TestS3> {
    const s = new TestS3(tempDir('millrace-s3'));
    await s.run(0);
    return s;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private async run(port: number): Promise<void> {
    this.server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: this.dir, configureBuckets: [{ name: BUCKET, configs: [] }] });
    const { port: p } = await this.server.run();
    this.port = p;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s !== undefined) await s.close();
  }

  async restart(): Promise<void> {
    await this.run(this.port);
  }

  async close(): Promise<void> {
    await this.stop();
    removeDir(this.dir);
  }

  store(options: ObjectStoreOptions = {}, over: { bucket?: string; prefix?: string; accessKeyId?: string } = {}): ObjectStore {
    return createObjectStore({
      driver: 's3', bucket: over.bucket ?? BUCKET, prefix: over.prefix ?? 'tiered', endpoint: this.endpoint,
      credentials: { ...CREDENTIALS, accessKeyId: over.accessKeyId ?? CREDENTIALS.accessKeyId },
    }, options);
  }
}

/** A driver under test: how to make a store, and how to damage an object behind its back. */
export interface Driver {
  name: string;
  store(options?: ObjectStoreOptions): ObjectStore;
  /** Replaces the stored bytes of `key` with `f(bytes)`, bypassing the store's checks. */
  tamper(key: string, f: (bytes: Uint8Array) => Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export function fsDriver(): Driver {
  const dir = tempDir('millrace-fs-store');
  return {
    name: 'filesystem',
    store: (options) => createObjectStore({ driver: 'filesystem', path: dir }, options),
    async tamper(key, f) {
      const { readFileSync, writeFileSync } = await import('node:fs');
      const p = `${dir}/${key}`;
      writeFileSync(p, f(new Uint8Array(readFileSync(p))));
    },
    async close() { removeDir(dir); },
  };
}

export async function s3Driver(): Promise<Driver & { s3: TestS3 }> {
  const s3 = await TestS3.start();
  const raw = s3.store();
  return {
    name: 's3',
    s3,
    store: (options) => s3.store(options),
    // Re-put through a plain store: S3 has no in-place edits, this is the garbage a broken writer leaves.
    async tamper(key, f) { await raw.put(key, f(await raw.get(key))); },
    async close() { await raw.close(); await s3.close(); },
  };
}

/** A real framed entry (copied out of the framer's slab) with `n` messages of `valueBytes` each. */
export function frameEntry(publishTime: number, n: number, valueBytes: number, salt = 0): Uint8Array {
  const batch: FrameBatch = {
    publishTime,
    producerName: new TextEncoder().encode('offload-test'),
    messages: Array.from({ length: n }, (_, i) => ({ value: new Uint8Array(valueBytes).fill((i + salt) & 0xff), sequenceId: i })),
  };
  return jsFramer.frame(batch).slice();
}

/** `entries` as the async iterable writeLedgerObject takes. */
export async function* iterate(entries: readonly OffloadEntry[]): AsyncGenerator<OffloadEntry> {
  for (const e of entries) yield e;
}
