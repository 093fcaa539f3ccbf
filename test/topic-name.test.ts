import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTopicName, parseNamespace, partitionTopicName, MAX_TOPIC_NAME_BYTES } from '../core/topic/index.js';
import { MillraceError, isMillraceError } from '../core/errors.js';
import { testSeed, runs } from './util/seed.js';

function rejects(name: string, pattern?: RegExp): void {
  assert.throws(() => parseTopicName(name), (err: unknown) => {
    assert.ok(isMillraceError(err, 'TOPIC_NAME_INVALID'), `expected TOPIC_NAME_INVALID for ${JSON.stringify(name)}, got ${String(err)}`);
    if (pattern) assert.match((err as MillraceError).message, pattern);
    return true;
  });
}

const segmentChars = fc.constantFrom(...'abcXYZ019_-=:.'.split(''));
const segment = fc.string({ unit: segmentChars, minLength: 1, maxLength: 20 }).filter((s) => s !== '.' && s !== '..');

test('topic name - the full form parses into its parts', () => {
  const t = parseTopicName('persistent://acme/orders/created');
  assert.equal(t.domain, 'persistent');
  assert.equal(t.tenant, 'acme');
  assert.equal(t.namespace, 'orders');
  assert.equal(t.localName, 'created');
  assert.equal(t.partitionIndex, -1);
  assert.equal(t.isPartition, false);
  assert.equal(t.namespaceName, 'acme/orders');
  assert.equal(t.baseName, 'persistent://acme/orders/created');
  assert.equal(t.toString(), 'persistent://acme/orders/created');
});

test('topic name - a bare local name lives in public/default', () => {
  assert.equal(parseTopicName('events').toString(), 'persistent://public/default/events');
});

test('topic name - tenant/namespace/local is the persistent full name', () => {
  assert.equal(parseTopicName('acme/orders/created').toString(), 'persistent://acme/orders/created');
});

test('topic name - a local name ending -partition-N is partition N of its base topic', () => {
  const t = parseTopicName('acme/orders/created-partition-7');
  assert.equal(t.partitionIndex, 7);
  assert.equal(t.isPartition, true);
  assert.equal(t.localName, 'created-partition-7');
  assert.equal(t.baseName, 'persistent://acme/orders/created');
  assert.equal(parseTopicName('x-partition-0').baseName, 'persistent://public/default/x');
  // The last suffix counts, as in Pulsar.
  assert.equal(parseTopicName('a-partition-1-partition-2').baseName, 'persistent://public/default/a-partition-1');
});

test('topic name - suffixes that are not canonical partition numbers name ordinary topics (as Pulsar)', () => {
  for (const local of ['t-partition-01', 't-partition--1', 't-partition-', 't-partition-x', 't-partition-2147483648']) {
    const t = parseTopicName(local);
    assert.equal(t.partitionIndex, -1, local);
    assert.equal(t.baseName, t.toString());
  }
  assert.equal(parseTopicName('t-partition-2147483647').partitionIndex, 2147483647);
});

test('topic name - a partition suffix with an empty, "." or ".." base is rejected', () => {
  rejects('-partition-0', /no base name/);
  rejects('..-partition-0', /'\.\.'/);
  rejects('.-partition-3', /'\.'/);
});

test('topic name - partitionTopicName appends -partition-i to the full base name', () => {
  assert.equal(partitionTopicName('orders', 3), 'persistent://public/default/orders-partition-3');
  assert.equal(partitionTopicName('persistent://a/b/c', 0), 'persistent://a/b/c-partition-0');
  assert.equal(parseTopicName(partitionTopicName('a/b/c', 12)).partitionIndex, 12);
  assert.throws(() => partitionTopicName('a/b/c', -1), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => partitionTopicName('a/b/c', 1.5), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'));
  assert.throws(() => partitionTopicName('a/b/c-partition-1', 2), /already partition 1/);
});

test('topic name - non-persistent and unknown domains are rejected with the allowed form', () => {
  rejects('non-persistent://a/b/c', /non-persistent topics are not supported yet/);
  rejects('http://a/b/c', /allowed: persistent:\/\/tenant\/namespace\/topic/);
});

test('topic name - wrong segment counts, including the legacy cluster form, are rejected', () => {
  rejects('a/b', /2 segments/);
  rejects('persistent://a/b/c/d', /4 segments/);
  rejects('persistent://a/b', /2 segments/);
  rejects('persistent://abc', /1 segments/);
  rejects('a/b/c/d', /'\/' separates segments/);
});

test('topic name - empty segments are rejected', () => {
  rejects('', /empty local name/);
  rejects('persistent:///b/c', /empty tenant/);
  rejects('a//c', /empty namespace/);
  rejects('a/b/', /empty local name/);
  rejects('persistent://a/b/', /empty local name/);
});

test('topic name - "." and ".." are rejected as whole segments but allowed inside one', () => {
  rejects('../b/c', /'\.\.' as its tenant/);
  rejects('a/../c', /'\.\.' as its namespace/);
  rejects('a/b/..', /'\.\.' as its local name/);
  rejects('a/b/.', /'\.' as its local name/);
  rejects('..');
  assert.equal(parseTopicName('a/b/...').localName, '...');
  assert.equal(parseTopicName('a/b/v1.2..3').localName, 'v1.2..3');
});

test('topic name - characters outside [a-zA-Z0-9_-=:.] are rejected, naming the character and the allowed set', () => {
  rejects('a/b/c d', /' ' \(U\+0020\) in its local name; allowed: letters a-z A-Z, digits 0-9 and _ - = : \./);
  rejects('a/b/c\u0000d', /U\+0000 in its local name/);
  rejects('a/b/c\nd', /U\+000A/);
  rejects('a/b/c\u007fd', /U\+007F/);
  rejects('a/b%20/c', /'%' \(U\+0025\) in its namespace/);
  rejects('a\\b/c/d', /'\\' \(U\+005C\)/);
  rejects('a/b/é', /'é' \(U\+00E9\)/);
  rejects('a/b/😀', /U\+1F600/);
  assert.equal(parseTopicName('A-b_c/x=y:z/Q.9').toString(), 'persistent://A-b_c/x=y:z/Q.9');
});

test('topic name - a full name of 255 bytes is accepted and one of 256 is rejected, also when the short form is shorter', () => {
  const prefix = 'persistent://public/default/';
  const fits = 'x'.repeat(MAX_TOPIC_NAME_BYTES - prefix.length);
  assert.equal(parseTopicName(fits).toString().length, 255);
  rejects(fits + 'x', /256 bytes in full form; at most 255/);
  rejects('y'.repeat(300), /longer than 255 bytes/);
  rejects('a/b/' + 'é'.repeat(200));
  // The partition name of a base that fits can itself be too long.
  assert.throws(() => partitionTopicName(fits, 1), (e: unknown) => isMillraceError(e, 'TOPIC_NAME_INVALID'));
});

test('topic name - a non-string is rejected', () => {
  assert.throws(() => parseTopicName(42 as unknown as string), (e: unknown) => isMillraceError(e, 'TOPIC_NAME_INVALID'));
});

test('topic name - parseNamespace reads tenant/namespace under the same rules', () => {
  const ns = parseNamespace('acme/orders');
  assert.equal(ns.tenant, 'acme');
  assert.equal(ns.namespace, 'orders');
  assert.equal(ns.toString(), 'acme/orders');
  for (const bad of ['acme', 'a/b/c', '/b', 'a/', '../b', 'a/..', 'a b/c', 'a/b\u0000']) {
    assert.throws(() => parseNamespace(bad), (e: unknown) => isMillraceError(e, 'TOPIC_NAME_INVALID'), bad);
  }
});

test('topic name - property: parseTopicName(toString()) returns the same name for every valid name', () => {
  fc.assert(
    fc.property(segment, segment, segment, fc.option(fc.nat({ max: 2 ** 31 - 1 }), { nil: undefined }), fc.constantFrom('full', 'short3', 'short1'),
      (tenant, ns, local, part, form) => {
        const localName = part === undefined ? local : `${local}-partition-${part}`;
        const input = form === 'full' ? `persistent://${tenant}/${ns}/${localName}` : form === 'short3' ? `${tenant}/${ns}/${localName}` : localName;
        const t = parseTopicName(input);
        const again = parseTopicName(t.toString());
        assert.deepEqual({ ...again, s: again.toString(), b: again.baseName }, { ...t, s: t.toString(), b: t.baseName });
        assert.equal(t.partitionIndex, part ?? (t.isPartition ? t.partitionIndex : -1));
        if (part !== undefined) assert.equal(t.baseName, parseTopicName(input.slice(0, input.lastIndexOf('-partition-'))).toString());
      }),
    { seed: testSeed(0x70c1c), numRuns: runs(500, 20_000) },
  );
});

test('topic name - property: names with "..", "/", NUL or over 255 bytes are rejected wherever they appear', () => {
  const poison = fc.constantFrom('..', '/x/', '\u0000', '%00', 'x'.repeat(256));
  fc.assert(
    fc.property(segment, segment, segment, poison, fc.integer({ min: 0, max: 2 }), fc.boolean(), (tenant, ns, local, bad, at, full) => {
      const segs = [tenant, ns, local];
      // '..' is only a traversal when it is the whole segment; elsewhere it replaces the segment.
      segs[at] = bad === '..' ? '..' : segs[at] + bad;
      const name = (full ? 'persistent://' : '') + segs.join('/');
      assert.throws(() => parseTopicName(name), (e: unknown) => isMillraceError(e, 'TOPIC_NAME_INVALID'));
    }),
    { seed: testSeed(0xbad), numRuns: runs(500, 20_000) },
  );
});

test('topic name - property: any accepted name is at most 255 bytes and contains no path step out', () => {
  // Mostly near-misses (allowed characters mixed with separators and a few bad ones), some noise.
  const nearMiss = fc.tuple(
    fc.constantFrom('', 'persistent://', 'non-persistent://', 'persistent:/'),
    fc.string({ unit: fc.constantFrom('a', 'b', '.', '/', ':', '-', '_', '=', '\u0000', ' ', '%', 'é', '\n'), maxLength: 40 }),
  ).map(([p, s]) => p + s);
  fc.assert(
    fc.property(fc.oneof(nearMiss, fc.string({ maxLength: 300, unit: 'binary' })), (s) => {
      let t;
      try {
        t = parseTopicName(s);
      } catch (err) {
        assert.ok(isMillraceError(err, 'TOPIC_NAME_INVALID'));
        return;
      }
      const full = t.toString();
      assert.ok(Buffer.byteLength(full) <= 255);
      for (const seg of [t.tenant, t.namespace, t.localName]) {
        assert.match(seg, /^[a-zA-Z0-9_\-=:.]+$/);
        assert.ok(seg !== '.' && seg !== '..');
      }
    }),
    { seed: testSeed(0x5afe), numRuns: runs(1000, 50_000) },
  );
});
