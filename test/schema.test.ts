import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { unpack } from 'msgpackr';
import { Schemas, schemaOf, checkSchemaCompatible, encodeProperties, decodeProperties, type SchemaType } from '../core/schema/index.js';
import { isMillraceError, type MillraceError } from '../core/errors.js';
import { testSeed, runs } from './util/seed.js';

const code = (c: 'INVALID_ARGUMENT' | 'SCHEMA_MISMATCH') => (e: unknown): boolean => isMillraceError(e, c);

test('schema - bytes passes a Uint8Array through, sends a string as UTF-8, and rejects anything else', () => {
  const b = new Uint8Array([1, 2, 3]);
  assert.equal(Schemas.bytes.encode(b), b);
  assert.equal(Schemas.bytes.decode(b), b);
  assert.deepEqual(Schemas.bytes.encode(Buffer.from('hi')), Buffer.from('hi'));
  assert.deepEqual([...Schemas.bytes.encode('hé' as unknown as Uint8Array)], [0x68, 0xc3, 0xa9]);
  for (const v of [[1, 2], null, new ArrayBuffer(2), 5, new Uint16Array(2).buffer]) {
    assert.throws(() => Schemas.bytes.encode(v as unknown as Uint8Array), code('INVALID_ARGUMENT'), String(v));
  }
});

test('schema - string is UTF-8, keeps a leading BOM, rejects non-strings and invalid UTF-8', () => {
  const s = '\uFEFFhé 😀';
  const bytes = Schemas.string.encode(s);
  assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  assert.equal(Schemas.string.decode(bytes), s);
  assert.throws(() => Schemas.string.encode(42 as unknown as string), code('INVALID_ARGUMENT'));
  assert.throws(() => Schemas.string.decode(new Uint8Array([0xc3, 0x28])), (e: unknown) => {
    assert.ok(isMillraceError(e, 'SCHEMA_MISMATCH'));
    assert.ok((e as MillraceError).cause instanceof Error, 'the decoder error is the cause');
    assert.match((e as Error).message, /not valid string/);
    return true;
  });
});

test('schema - json round-trips values and rejects BigInt, cycles and values with no JSON form', () => {
  const json = Schemas.json<{ a: number; b: string[] }>();
  const v = { a: 1, b: ['x', 'ü'] };
  assert.deepEqual(json.decode(json.encode(v)), v);
  assert.equal(new TextDecoder().decode(json.encode(v)), '{"a":1,"b":["x","ü"]}');
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  for (const bad of [{ n: 1n }, cyc, undefined, () => 1, Symbol('s')]) {
    assert.throws(() => Schemas.json<unknown>().encode(bad), (e: unknown) => {
      assert.ok(isMillraceError(e, 'INVALID_ARGUMENT'), String(e));
      assert.match((e as Error).message, /json schema cannot encode the value/);
      return true;
    });
  }
  assert.throws(() => json.decode(new TextEncoder().encode('{nope')), (e: unknown) =>
    isMillraceError(e, 'SCHEMA_MISMATCH') && (e as MillraceError).cause instanceof SyntaxError);
  assert.throws(() => json.decode(new Uint8Array(0)), code('SCHEMA_MISMATCH'));
});

test('schema - msgpack writes plain maps any msgpack reader can read, and round-trips', () => {
  const mp = Schemas.msgpack<{ id: number; tags: string[]; nested: { ok: boolean } }>();
  const v = { id: 7, tags: ['a', 'b'], nested: { ok: true } };
  const bytes = mp.encode(v);
  // 0xde: a map16 (msgpackr's fixed map header); a msgpackr record would start with a record byte (0x40-0x7f).
  assert.equal(bytes[0], 0xde);
  assert.deepEqual(unpack(bytes), v, 'a fresh default decoder, which has seen no record structures, reads it');
  assert.deepEqual(mp.decode(bytes), v);
  // Two objects of one shape stay self-contained: each decodes on its own.
  const w = { id: 8, tags: [], nested: { ok: false } };
  assert.deepEqual(unpack(mp.encode(w)), w);
  // A 64-bit integer from another client decodes as a number when it is safe.
  assert.equal(mp.decode(new Uint8Array([0xcf, 0, 0, 1, 0, 0, 0, 0, 0])) as unknown, 2 ** 40);
});

test('schema - msgpack rejects values it cannot encode and payloads it cannot decode', () => {
  const cyc: Record<string, unknown> = {};
  cyc.self = cyc;
  for (const bad of [cyc, 2n ** 70n, Symbol('s')]) {
    assert.throws(() => Schemas.msgpack<unknown>().encode(bad), code('INVALID_ARGUMENT'), String(typeof bad));
  }
  for (const bad of [[], [0xc1], [0x92, 1], [0xa5, 0x61]]) {
    assert.throws(() => Schemas.msgpack<unknown>().decode(new Uint8Array(bad)), (e: unknown) => {
      assert.ok(isMillraceError(e, 'SCHEMA_MISMATCH'), `${bad}: ${String(e)}`);
      assert.ok((e as MillraceError).cause !== undefined);
      return true;
    });
  }
});

test('schema - msgpack never lets a "__proto__" key set a prototype (msgpackr renames it "__proto_")', () => {
  // {"__proto__": {"polluted": true}} written by another client.
  const bytes = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0x81, 0xa8, ...new TextEncoder().encode('polluted'), 0xc3]);
  const v = Schemas.msgpack<Record<string, unknown>>().decode(bytes);
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal((v as { polluted?: boolean }).polluted, undefined);
  assert.deepEqual(Object.keys(v), ['__proto_']);
});

test('schema - schemaOf returns the schema of each type and rejects unknown types', () => {
  for (const t of ['bytes', 'string', 'json', 'msgpack'] as SchemaType[]) assert.equal(schemaOf(t).type, t);
  assert.equal(schemaOf('string'), Schemas.string);
  assert.throws(() => schemaOf('avro' as SchemaType), code('INVALID_ARGUMENT'));
});

test('schema - checkSchemaCompatible accepts the same type and names both types when they differ', () => {
  checkSchemaCompatible('json', 'json');
  assert.throws(() => checkSchemaCompatible('json', 'string'), (e: unknown) => {
    assert.ok(isMillraceError(e, 'SCHEMA_MISMATCH'));
    assert.match((e as Error).message, /topic's schema is json but the client's schema is string/);
    return true;
  });
});

test('schema - property: every schema decodes what it encodes', () => {
  const json = fc.jsonValue();
  fc.assert(
    fc.property(fc.uint8Array(), fc.string({ unit: 'grapheme' }), json, (b, s, j) => {
      assert.deepEqual(Schemas.bytes.decode(Schemas.bytes.encode(b)), b);
      assert.equal(Schemas.string.decode(Schemas.string.encode(s)), s);
      // Neither JSON nor msgpack (as msgpackr writes it, an integer 0) keeps the sign of -0: compare
      // against the value with -0 made 0, which is what JSON itself makes of it.
      const plain = JSON.parse(JSON.stringify(j)) as unknown;
      assert.deepEqual(Schemas.json<unknown>().decode(Schemas.json<unknown>().encode(j)), plain);
      // msgpackr renames a "__proto__" key to "__proto_" on decode (its guard against prototype
      // pollution); that is tested apart, so such values are left out here.
      if (!JSON.stringify(j).includes('"__proto__"')) {
        assert.deepEqual(Schemas.msgpack<unknown>().decode(Schemas.msgpack<unknown>().encode(j)), plain);
      }
    }),
    { seed: testSeed(0x5c4e), numRuns: runs(300, 10_000) },
  );
});

test('schema - properties encode to null when absent or empty and round-trip otherwise', () => {
  assert.equal(encodeProperties(undefined), null);
  assert.equal(encodeProperties({}), null);
  const props = { a: '1', 'é': '', '': 'empty key', __proto__x: 'y' };
  const bytes = encodeProperties(props)!;
  assert.deepEqual(unpack(bytes), props, 'plain msgpack');
  assert.deepEqual(decodeProperties(bytes), props);
  assert.deepEqual(decodeProperties(null), {});
  assert.deepEqual(decodeProperties(new Uint8Array(0)), {});
});

test('schema - properties reject non-string values, non-objects, non-string keys and bad bytes', () => {
  for (const bad of [{ a: 1 }, { a: null }, { a: ['x'] }, 'str', [['a', 'b']], new Map([['a', 'b']])]) {
    assert.throws(() => encodeProperties(bad as unknown as Record<string, string>), code('INVALID_ARGUMENT'), JSON.stringify(bad));
  }
  // A map with an integer key {1: 'a'}, an array, a map with a number value, and broken msgpack.
  for (const bad of [[0x81, 0x01, 0xa1, 0x61], [0x91, 0xa1, 0x61], [0x81, 0xa1, 0x61, 0x02], [0xc1], [0x82, 0xa1, 0x61]]) {
    assert.throws(() => decodeProperties(new Uint8Array(bad)), code('INVALID_ARGUMENT'), bad.join(','));
  }
});

test('schema - a "__proto__" property key stays a property and never becomes the prototype', () => {
  // {"__proto__": "x"} written by another client.
  const bytes = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode('__proto__'), 0xa1, 0x78]);
  const props = decodeProperties(bytes);
  assert.equal(Object.getPrototypeOf(props), Object.prototype);
  assert.deepEqual(Object.keys(props), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(props, '__proto__')?.value, 'x');
});

test('schema - property: properties round-trip any string map', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.string(), { maxKeys: 8 }), (props) => {
      const bytes = encodeProperties(props);
      assert.equal(bytes === null, Object.keys(props).length === 0);
      // fc.dictionary sometimes makes null-prototype objects; decoded properties are plain objects.
      assert.deepEqual(decodeProperties(bytes), { ...props });
    }),
    { seed: testSeed(0x9e0), numRuns: runs(500, 20_000) },
  );
});
