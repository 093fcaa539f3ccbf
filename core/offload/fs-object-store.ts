/**
 * The filesystem object store: one file per object under a root directory, the key's `/` segments as
 * subdirectories. A put writes a temporary file in `<root>/.millrace-tmp/`, fsyncs it, renames it over
 * the final name and fsyncs the directory, so a reader (or a crash) sees the old object or the whole
 * new one, never a torn file. Keys are checked lexically (object-store.ts checkKey) and then the
 * resolved path must lie under the root, so no key reaches outside it.
 */
import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join, resolve, sep, dirname } from 'node:path';
import { MillraceError, type ErrorCode } from '../errors.js';
import { checkKey, checkPrefix, checkRange } from './object-key.js';
import type { ObjectStore } from './object-store.js';

/** Temporary files live here, outside the key space (keys may not start with this segment). */
const TMP_DIR = '.millrace-tmp';
/** Chunks of an iterable body are gathered up to this size per writev: one syscall per MiB, not per chunk. */
const WRITE_GATHER_BYTES = 1024 * 1024;

export class FsObjectStore implements ObjectStore {
  readonly description: string;
  private readonly root: string;
  private closed = false;

  constructor(path: string) {
    this.root = resolve(path);
    this.description = `filesystem:${this.root}`;
  }

  /** The absolute file path of `key`; throws OBJECT_KEY_INVALID for keys outside the root or in the temp area. */
  pathOf(key: string): string {
    checkKey(key);
    if (key === TMP_DIR || key.startsWith(`${TMP_DIR}/`)) {
      throw new MillraceError('OBJECT_KEY_INVALID', `object keys may not start with ${TMP_DIR}/ (reserved for partial writes)`);
    }
    const p = resolve(this.root, key);
    if (!p.startsWith(this.root + sep)) throw new MillraceError('OBJECT_KEY_INVALID', `object key resolves outside the store root: ${JSON.stringify(key)}`);
    return p;
  }

  async put(key: string, body: Uint8Array | AsyncIterable<Uint8Array>, _opts?: { size?: number }): Promise<void> {
    this.checkOpen();
    const target = this.pathOf(key);
    const tmpDir = join(this.root, TMP_DIR);
    const tmp = join(tmpDir, `${randomBytes(8).toString('hex')}.tmp`);
    let fh: FileHandle | undefined;
    try {
      await this.requireRoot();
      await mkdirDurable(tmpDir);
      await mkdirDurable(dirname(target));
      fh = await open(tmp, 'wx', 0o644);
      if (body instanceof Uint8Array) {
        await fh.writeFile(body);
      } else {
        let gathered: Uint8Array[] = [];
        let gatheredBytes = 0;
        for await (const chunk of body) {
          if (!(chunk instanceof Uint8Array)) throw new MillraceError('INVALID_ARGUMENT', 'put body chunks must be Uint8Arrays');
          if (chunk.length === 0) continue;
          gathered.push(chunk);
          gatheredBytes += chunk.length;
          if (gatheredBytes >= WRITE_GATHER_BYTES) {
            await writeAll(fh, gathered);
            gathered = [];
            gatheredBytes = 0;
          }
        }
        if (gathered.length > 0) await writeAll(fh, gathered);
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      await rename(tmp, target);
      await fsyncDir(dirname(target));
    } catch (err) {
      if (fh !== undefined) await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw fsError(err, 'put', key);
    }
  }

  async get(key: string, range?: { offset: number; length: number }): Promise<Uint8Array> {
    this.checkOpen();
    const p = this.pathOf(key);
    checkRange(range);
    let fh: FileHandle | undefined;
    try {
      fh = await open(p, 'r');
      if (range === undefined) return new Uint8Array(await fh.readFile());
      // No stat first: a read past the end comes back short, which is the answer (one file system
      // round trip fewer per ranged read, which is most of an offloaded replay's waiting).
      const n = range.length;
      const out = new Uint8Array(n);
      let done = 0;
      while (done < n) {
        const { bytesRead } = await fh.read(out, done, n - done, range.offset + done);
        if (bytesRead === 0) break; // truncated under us: return what exists, the caller checks lengths
        done += bytesRead;
      }
      return done === n ? out : out.subarray(0, done);
    } catch (err) {
      if (codeOf(err) === 'ENOENT') await this.requireRoot();
      throw fsError(err, 'get', key);
    } finally {
      if (fh !== undefined) await fh.close().catch(() => undefined);
    }
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    this.checkOpen();
    const p = this.pathOf(key);
    try {
      const st = await stat(p);
      return st.isFile() ? { size: st.size } : undefined;
    } catch (err) {
      if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') {
        await this.requireRoot();
        return undefined;
      }
      throw fsError(err, 'head', key);
    }
  }

  async delete(key: string): Promise<void> {
    this.checkOpen();
    const p = this.pathOf(key);
    try {
      await unlink(p);
    } catch (err) {
      if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') {
        await this.requireRoot();
        return;
      }
      throw fsError(err, 'delete', key);
    }
  }

  async list(prefix: string): Promise<string[]> {
    this.checkOpen();
    checkPrefix(prefix);
    // Walk only the directory the prefix's complete segments name, then filter on the rest.
    const slash = prefix.lastIndexOf('/');
    const dirKey = slash < 0 ? '' : prefix.slice(0, slash);
    if (dirKey !== '') {
      try { checkKey(dirKey); } catch { return []; } // `a//b` or `../x` name nothing that exists
    }
    const out: string[] = [];
    const walk = async (rel: string): Promise<void> => {
      let names;
      try {
        names = await readdir(rel === '' ? this.root : join(this.root, rel), { withFileTypes: true });
      } catch (err) {
        if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') return;
        throw fsError(err, 'list', prefix);
      }
      for (const d of names) {
        const k = rel === '' ? d.name : `${rel}/${d.name}`;
        if (rel === '' && d.name === TMP_DIR) continue;
        if (d.isDirectory()) {
          // Descend only where keys under it can still match the prefix.
          if (prefix.startsWith(`${k}/`) || `${k}/`.startsWith(prefix)) await walk(k);
        } else if (d.isFile() && k.startsWith(prefix)) {
          out.push(k);
        }
      }
    };
    await this.requireRoot();
    await walk(dirKey);
    return out.sort();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Throws OBJECT_STORE_BUCKET_NOT_FOUND unless the root is an existing directory. */
  private async requireRoot(): Promise<void> {
    let ok = false;
    try { ok = (await stat(this.root)).isDirectory(); } catch { ok = false; }
    if (!ok) throw new MillraceError('OBJECT_STORE_BUCKET_NOT_FOUND', `object store root ${this.root} is not an existing directory`);
  }

  private checkOpen(): void {
    if (this.closed) throw new MillraceError('CLOSED', `object store ${this.description} is closed`);
  }
}

async function writeAll(fh: FileHandle, chunks: Uint8Array[]): Promise<void> {
  let total = 0;
  for (const c of chunks) total += c.length;
  let { bytesWritten } = await fh.writev(chunks);
  // writev may write short (rare on regular files): finish the rest chunk by chunk.
  while (bytesWritten < total) {
    let skip = bytesWritten;
    const rest: Uint8Array[] = [];
    for (const c of chunks) {
      if (skip >= c.length) { skip -= c.length; continue; }
      rest.push(skip > 0 ? c.subarray(skip) : c);
      skip = 0;
    }
    const r = await fh.writev(rest);
    if (r.bytesWritten === 0) throw new Error('writev wrote nothing');
    bytesWritten += r.bytesWritten;
  }
}

/** mkdir -p, fsyncing the parent of every directory it created so the new names survive a crash. */
async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await fsyncDir(dirname(d));
    if (d === first || dirname(d) === d) break;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function codeOf(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'string'
    ? (err as { code: string }).code : undefined;
}

function fsError(err: unknown, op: string, key: string): MillraceError {
  if (err instanceof MillraceError) return err;
  const c = codeOf(err);
  let code: ErrorCode;
  switch (c) {
    case 'ENOENT': code = op === 'put' ? 'OBJECT_STORE_UNAVAILABLE' : 'OBJECT_NOT_FOUND'; break;
    case 'ENOTDIR': case 'EISDIR': case 'ENAMETOOLONG': code = op === 'get' ? 'OBJECT_NOT_FOUND' : 'OBJECT_STORE_REQUEST_FAILED'; break;
    case 'EACCES': case 'EPERM': case 'EROFS': code = 'OBJECT_STORE_DENIED'; break;
    default: code = 'OBJECT_STORE_UNAVAILABLE';
  }
  return new MillraceError(code, `filesystem object store: ${op} ${JSON.stringify(key)} failed: ${c ?? String(err)}`, { cause: err });
}
