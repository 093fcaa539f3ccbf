import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { isMillraceError } from '../core/errors.js';
import { createObjectStore, type ObjectStore, type TieredStorageConfig } from '../core/offload/index.js';
import { fsDriver, s3Driver, type Driver } from './offload-fixtures.js';
import { tempDir, removeDir } from './util/tmp.js';

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

async function* chunks(b: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < b.length; i += size) yield b.slice(i, i + size);
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => isMillraceError(err) && err.code === code);
}

for (const [driver, make] of [['filesystem', async () => fsDriver()], ['s3', s3Driver]] as const) {
  describe(`object store (${driver})`, () => {
    let d: Driver;
    let store: ObjectStore;
    before(async () => {
      d = await make();
      store = d.store({ partSizeBytes: 64 * 1024 });
    });
    after(async () => {
      await store.close();
      await d.close();
    });

    test('object store - put, get, ranged get, head, delete and list round-trip', async () => {
      const b = bytes(1000);
      await store.put('t/a/1', b);
      await store.put('t/a/2', bytes(10, 2));
      await store.put('t/b', bytes(5, 3));
      assert.deepEqual(await store.get('t/a/1'), b);
      assert.deepEqual(await store.get('t/a/1', { offset: 100, length: 50 }), b.subarray(100, 150));
      assert.deepEqual(await store.get('t/a/1', { offset: 990, length: 50 }), b.subarray(990), 'a range past the end returns what exists');
      assert.equal((await store.get('t/a/1', { offset: 1000, length: 10 })).length, 0);
      assert.equal((await store.get('t/a/1', { offset: 5, length: 0 })).length, 0);
      assert.deepEqual(await store.head('t/a/1'), { size: 1000 });
      assert.equal(await store.head('t/none'), undefined);
      await rejectsWith(store.get('t/none'), 'OBJECT_NOT_FOUND');
      await rejectsWith(store.get('t/none', { offset: 0, length: 4 }), 'OBJECT_NOT_FOUND');
      assert.deepEqual(await store.list('t/'), ['t/a/1', 't/a/2', 't/b']);
      assert.deepEqual(await store.list('t/a'), ['t/a/1', 't/a/2']);
      assert.deepEqual(await store.list('t/a/'), ['t/a/1', 't/a/2']);
      assert.deepEqual(await store.list('t/b'), ['t/b']);
      assert.deepEqual(await store.list('nothing/'), []);
      await store.delete('t/a/1');
      await store.delete('t/a/1');
      await store.delete('t/never');
      assert.equal(await store.head('t/a/1'), undefined);
      assert.deepEqual(await store.list('t/'), ['t/a/2', 't/b']);
      await store.put('t/b', bytes(7, 9));
      assert.deepEqual(await store.get('t/b'), bytes(7, 9), 'put replaces');
    });

    test('object store - iterable bodies, including multi-part sized ones, arrive whole', async () => {
      for (const [size, chunk] of [[0, 1], [1, 1], [64 * 1024, 1000], [64 * 1024 + 1, 4096], [300_000, 7_777], [200_000, 200_000]] as const) {
        const b = bytes(size, size & 0xff);
        await store.put(`it/${size}-${chunk}`, chunks(b, chunk));
        assert.deepEqual(await store.get(`it/${size}-${chunk}`), b, `size ${size} in chunks of ${chunk}`);
        assert.deepEqual(await store.head(`it/${size}-${chunk}`), { size });
      }
      const big = bytes(200_001, 5);
      await store.put('it/bytes-multipart', big);
      assert.deepEqual(await store.get('it/bytes-multipart'), big);
    });

    test('object store - a put whose body fails leaves the old object (or none), never a part', async () => {
      const old = bytes(100, 4);
      await store.put('fail/x', old);
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield bytes(64 * 1024, 1);
        yield bytes(64 * 1024, 2); // a multipart upload is under way by now on S3
        yield bytes(10, 3);
        throw new Error('source broke');
      }
      await assert.rejects(store.put('fail/x', failing()), /source broke/);
      assert.deepEqual(await store.get('fail/x'), old);
      await assert.rejects(store.put('fail/new', failing()), /source broke/);
      assert.equal(await store.head('fail/new'), undefined);
      assert.deepEqual(await store.list('fail/'), ['fail/x']);
    });

    test('object store - malformed keys are refused with OBJECT_KEY_INVALID', async () => {
      for (const k of ['', '../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'a/', 'a\\b', 'a\0b', 'x'.repeat(901)]) {
        await rejectsWith(store.put(k, bytes(1)), 'OBJECT_KEY_INVALID');
        await rejectsWith(store.get(k), 'OBJECT_KEY_INVALID');
        await rejectsWith(store.head(k), 'OBJECT_KEY_INVALID');
        await rejectsWith(store.delete(k), 'OBJECT_KEY_INVALID');
      }
      await rejectsWith(store.get('ok', { offset: -1, length: 1 }), 'INVALID_ARGUMENT');
    });

    test('object store - calls after close throw CLOSED', async () => {
      const s = d.store();
      await s.put('closed/x', bytes(3));
      await s.close();
      await s.close();
      await rejectsWith(s.get('closed/x'), 'CLOSED');
      await rejectsWith(s.put('closed/y', bytes(1)), 'CLOSED');
    });
  });
}

describe('filesystem object store', () => {
  test('filesystem store - no key reaches outside the root, and partial writes stay in the temp area', async () => {
    const parent = tempDir('millrace-fs-escape');
    const root = join(parent, 'root');
    mkdirSync(root);
    const s = createObjectStore({ driver: 'filesystem', path: root });
    try {
      for (const k of ['../escaped', 'a/../../escaped', '.millrace-tmp/x', '..']) {
        await rejectsWith(s.put(k, bytes(1)), 'OBJECT_KEY_INVALID');
      }
      assert.deepEqual(readdirSync(parent), ['root']);
      await s.put('in/side', bytes(3));
      assert.ok(existsSync(join(root, 'in', 'side')));
      assert.deepEqual(await s.list(''), ['in/side'], 'the temp area is not listed');
      assert.deepEqual(readdirSync(join(root, '.millrace-tmp')), [], 'no temp file left after a put');
    } finally {
      await s.close();
      removeDir(parent);
    }
  });

  test('filesystem store - a missing root is OBJECT_STORE_BUCKET_NOT_FOUND, not silently created', async () => {
    const parent = tempDir('millrace-fs-missing');
    const s = createObjectStore({ driver: 'filesystem', path: join(parent, 'not-mounted') });
    try {
      await rejectsWith(s.put('a', bytes(1)), 'OBJECT_STORE_BUCKET_NOT_FOUND');
      await rejectsWith(s.get('a'), 'OBJECT_STORE_BUCKET_NOT_FOUND');
      await rejectsWith(s.head('a'), 'OBJECT_STORE_BUCKET_NOT_FOUND');
      await rejectsWith(s.list(''), 'OBJECT_STORE_BUCKET_NOT_FOUND');
      assert.equal(existsSync(join(parent, 'not-mounted')), false);
    } finally {
      await s.close();
      removeDir(parent);
    }
  });
});

test('createObjectStore - malformed configs are INVALID_ARGUMENT', () => {
  const bad: unknown[] = [
    null, {}, { driver: 'ftp' }, { driver: 'filesystem' }, { driver: 'filesystem', path: '' },
    { driver: 's3' }, { driver: 's3', bucket: 'ab' }, { driver: 's3', bucket: 'Upper' }, { driver: 's3', bucket: 'x'.repeat(64) },
    { driver: 's3', bucket: 'good-bucket', endpoint: 'not a url' }, { driver: 's3', bucket: 'good-bucket', endpoint: 'ftp://x' },
    { driver: 's3', bucket: 'good-bucket', credentials: { accessKeyId: '' , secretAccessKey: 'x' } },
    { driver: 's3', bucket: 'good-bucket', region: 'US EAST' }, { driver: 's3', bucket: 'good-bucket', prefix: '/abs' },
  ];
  for (const c of bad) {
    assert.throws(() => createObjectStore(c as TieredStorageConfig), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'), JSON.stringify(c));
  }
  assert.throws(() => createObjectStore({ driver: 'filesystem', path: '/tmp' }, { partSizeBytes: 0 }), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  const s = createObjectStore({ driver: 's3', bucket: 'good-bucket', prefix: 'p/', endpoint: 'http://127.0.0.1:1' });
  assert.equal(s.description, 's3://good-bucket/p/ (http://127.0.0.1:1)');
});
