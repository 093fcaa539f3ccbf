import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { isMillraceError, type MillraceError } from '../core/errors.js';
import { createObjectStore, writeLedgerObject, OffloadedLedgerReader, BlockCache } from '../core/offload/index.js';
import { TestS3, BUCKET, CREDENTIALS, frameEntry, iterate } from './offload-fixtures.js';

let s3: TestS3;
before(async () => { s3 = await TestS3.start(); });
after(async () => { await s3.close(); });

async function failure(p: Promise<unknown>): Promise<MillraceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isMillraceError(err), `expected a MillraceError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('s3 store - a missing bucket is OBJECT_STORE_BUCKET_NOT_FOUND for every operation', async () => {
  const s = s3.store({}, { bucket: 'no-such-bucket' });
  try {
    for (const op of [() => s.put('k', new Uint8Array(3)), () => s.get('k'), () => s.get('k', { offset: 0, length: 2 }), () => s.head('k'), () => s.list(''), () => s.delete('k')]) {
      const e = await failure(op());
      assert.equal(e.code, 'OBJECT_STORE_BUCKET_NOT_FOUND', e.message);
      assert.equal(e.retriable, false);
    }
  } finally {
    await s.close();
  }
});

test('s3 store - refused credentials are OBJECT_STORE_DENIED, not retriable', async () => {
  const s = s3.store({}, { accessKeyId: 'NOT-A-KEY' });
  try {
    for (const op of [() => s.put('k', new Uint8Array(3)), () => s.get('k'), () => s.head('k'), () => s.list('')]) {
      const e = await failure(op());
      assert.equal(e.code, 'OBJECT_STORE_DENIED', e.message);
      assert.equal(e.retriable, false);
    }
  } finally {
    await s.close();
  }
});

test('s3 store - a server going away is OBJECT_STORE_UNAVAILABLE (retriable, bounded), and work resumes when it returns', async () => {
  const s = s3.store();
  try {
    const entries = Array.from({ length: 30 }, (_, i) => ({ entryId: i, entry: frameEntry(i, 5, 64, i), publishTime: i }));
    const sum = await writeLedgerObject(s, 'away/1-a', 1, iterate(entries));
    await s3.stop();
    const t0 = performance.now();
    for (const op of [() => s.get('away/1-a'), () => s.head('away/1-a'), () => s.put('away/x', new Uint8Array(1)), () => s.list('away/'),
      () => OffloadedLedgerReader.open(s, 'away/1-a', { ledgerId: 1, size: sum.size, indexChecksum: sum.indexChecksum }, new BlockCache(1 << 20))]) {
      const e = await failure(op());
      assert.equal(e.code, 'OBJECT_STORE_UNAVAILABLE', e.message);
      assert.equal(e.retriable, true);
    }
    // Not a speed assertion: only that the client gives up instead of hanging on SDK defaults.
    assert.ok(performance.now() - t0 < 60_000);
    await s3.restart();
    const r = await OffloadedLedgerReader.open(s, 'away/1-a', { ledgerId: 1, size: sum.size, indexChecksum: sum.indexChecksum }, new BlockCache(1 << 20));
    const got = await r.readRange(0, { maxEntries: 100, maxBytes: 1 << 20 });
    assert.deepEqual(got.map((g) => g.entry), entries.map((e) => e.entry));
  } finally {
    await s.close();
  }
});

test('s3 store - an endpoint that accepts but never answers fails with OBJECT_STORE_UNAVAILABLE after the idle or request timeout', async () => {
  const sockets: Socket[] = [];
  const silent: Server = createServer((sock) => { sockets.push(sock); });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const port = (silent.address() as { port: number }).port;
  const config = { driver: 's3', bucket: BUCKET, endpoint: `http://127.0.0.1:${port}`, credentials: CREDENTIALS } as const;
  const idle = createObjectStore(config, { idleTimeoutMs: 300, maxAttempts: 2 });
  const whole = createObjectStore(config, { requestTimeoutMs: 300, idleTimeoutMs: 60_000, maxAttempts: 1 });
  try {
    for (const s of [idle, whole]) {
      const e = await failure(s.get('k'));
      assert.equal(e.code, 'OBJECT_STORE_UNAVAILABLE', e.message);
      assert.equal(e.retriable, true);
    }
  } finally {
    await idle.close();
    await whole.close();
    for (const sock of sockets) sock.destroy();
    await new Promise<void>((resolve) => silent.close(() => resolve()));
  }
});

test('s3 store - nothing loads the AWS SDK until an S3 store makes its first request', async () => {
  const { spawnSync } = await import('node:child_process');
  const script = `
    import { createRequire } from 'node:module';
    const { createObjectStore } = await import(${JSON.stringify(new URL('../core/offload/index.js', import.meta.url).href)});
    const fs = createObjectStore({ driver: 'filesystem', path: '/' });
    const s = createObjectStore({ driver: 's3', bucket: 'lazy-bucket', endpoint: 'http://127.0.0.1:1' });
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('@aws-sdk'));
    process.stdout.write(loaded ? 'loaded' : 'not-loaded');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'not-loaded');
});
