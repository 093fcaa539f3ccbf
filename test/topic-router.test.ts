import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { createRouter, murmur3_32, keyHash, keyHashPartition, signSafeMod } from '../core/topic/index.js';
import { isMillraceError } from '../core/errors.js';
import { testSeed, runs, prng } from './util/seed.js';

const enc = new TextEncoder();
const bytes = (...b: number[]): Uint8Array => new Uint8Array(b);

/**
 * Austin Appleby's MurmurHash3_x86_32, transcribed line by line from the C reference with BigInt
 * arithmetic mod 2^32: a second implementation to check the fast one against, sharing no code.
 */
function referenceMurmur3(data: Uint8Array, seed: number): number {
  const M = 0xffffffffn;
  const mul = (a: bigint, b: bigint): bigint => (a * b) & M;
  const rotl = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (32n - r))) & M;
  const fmix = (h: bigint): bigint => {
    h ^= h >> 16n; h = mul(h, 0x85ebca6bn);
    h ^= h >> 13n; h = mul(h, 0xc2b2ae35n);
    h ^= h >> 16n;
    return h;
  };
  const c1 = 0xcc9e2d51n;
  const c2 = 0x1b873593n;
  const nblocks = Math.floor(data.length / 4);
  let h1 = BigInt(seed >>> 0);
  for (let i = 0; i < nblocks; i++) {
    let k1 = BigInt(data[i * 4]!) | (BigInt(data[i * 4 + 1]!) << 8n) | (BigInt(data[i * 4 + 2]!) << 16n) | (BigInt(data[i * 4 + 3]!) << 24n);
    k1 = mul(k1, c1); k1 = rotl(k1, 15n); k1 = mul(k1, c2);
    h1 ^= k1; h1 = rotl(h1, 13n); h1 = (mul(h1, 5n) + 0xe6546b64n) & M;
  }
  const tail = nblocks * 4;
  let k1 = 0n;
  const rem = data.length & 3;
  if (rem >= 3) k1 ^= BigInt(data[tail + 2]!) << 16n;
  if (rem >= 2) k1 ^= BigInt(data[tail + 1]!) << 8n;
  if (rem >= 1) {
    k1 ^= BigInt(data[tail]!);
    k1 = mul(k1, c1); k1 = rotl(k1, 15n); k1 = mul(k1, c2); h1 ^= k1;
  }
  h1 ^= BigInt(data.length);
  return Number(fmix(h1));
}

// Published MurmurHash3_x86_32 vectors (SMHasher's algorithm; the set commonly quoted for ports),
// each also checked against the reference transcription above.
const VECTORS: [Uint8Array, number, number][] = [
  [bytes(), 0, 0],
  [bytes(), 1, 0x514e28b7],
  [bytes(), 0xffffffff, 0x81f16f39],
  [bytes(0, 0, 0, 0), 0, 0x2362f9de],
  [bytes(0xff, 0xff, 0xff, 0xff), 0, 0x76293b50],
  [bytes(0x21, 0x43, 0x65, 0x87), 0, 0xf55b516b],
  [bytes(0x21, 0x43, 0x65, 0x87), 0x5082edee, 0x2362f9de],
  [bytes(0x21, 0x43, 0x65), 0, 0x7e4a8634],
  [bytes(0x21, 0x43), 0, 0xa0f7b07a],
  [bytes(0x21), 0, 0x72661cf4],
  [bytes(0, 0, 0), 0, 0x85f0b427],
  [bytes(0, 0), 0, 0x30f4c306],
  [bytes(0), 0, 0x514e28b7],
  [enc.encode('hello'), 0, 0x248bfa47],
  [enc.encode('aaaa'), 0x9747b28c, 0x5a97808a],
  [enc.encode('abc'), 0, 0xb3dd93fa],
  [enc.encode('Hello, world!'), 0x9747b28c, 0x24884cba],
  [enc.encode('The quick brown fox jumps over the lazy dog'), 0x9747b28c, 0x2fa826cd],
];

test('router - murmur3_32 matches the published MurmurHash3 x86_32 vectors', () => {
  for (const [data, seed, want] of VECTORS) {
    const label = `${Buffer.from(data).toString('hex')} seed ${seed.toString(16)}`;
    assert.equal(referenceMurmur3(data, seed), want, `reference: ${label}`);
    assert.equal(murmur3_32(data, seed), want, label);
  }
});

test('router - property: murmur3_32 equals the BigInt reference transcription for any bytes and seed', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat({ max: 0xffffffff }), (data, seed) => {
      assert.equal(murmur3_32(data, seed), referenceMurmur3(data, seed));
    }),
    { seed: testSeed(0x3a3), numRuns: runs(1000, 50_000) },
  );
});

test('router - keyHash is Pulsar\'s masked hash and keyHashPartition its signSafeMod', () => {
  // 0x248bfa47 has bit 31 clear; pick keys whose hash has it set to see the mask matter.
  const key = enc.encode('hello');
  assert.equal(keyHash(key), 0x248bfa47);
  let seen = 0;
  for (let i = 0; i < 100; i++) {
    const k = enc.encode(`key-${i}`);
    const raw = murmur3_32(k);
    assert.equal(keyHash(k), raw & 0x7fffffff);
    assert.ok(keyHash(k) >= 0);
    assert.equal(keyHashPartition(k, 7), (raw & 0x7fffffff) % 7);
    if (raw > 0x7fffffff) seen++;
  }
  assert.ok(seen > 10, 'some raw hashes have the sign bit set');
  assert.equal(signSafeMod(-1, 5), 4);
  assert.equal(signSafeMod(7, 5), 2);
});

test('router - key-hash sends one key to one partition, whatever happens between messages', () => {
  const r = createRouter('key-hash', 16, prng(1));
  const keys = Array.from({ length: 200 }, (_, i) => enc.encode(`customer-${i}`));
  const first = keys.map((k) => r.choosePartition(k));
  for (let round = 0; round < 5; round++) {
    r.onBatchBoundary();
    r.choosePartition(null);
    keys.forEach((k, i) => assert.equal(r.choosePartition(k), first[i]));
  }
  // Another router (another producer) agrees: the partition depends on the key only.
  const other = createRouter('key-hash', 16, prng(99));
  keys.forEach((k, i) => assert.equal(other.choosePartition(k), first[i]));
});

test('router - key-hash spreads 10k random keys roughly evenly (chi-square, 8 partitions)', () => {
  const n = 8;
  const r = createRouter('key-hash', n, prng(2));
  const rnd = prng(testSeed(0xd157));
  const counts = new Array<number>(n).fill(0);
  const total = 10_000;
  for (let i = 0; i < total; i++) {
    const key = new Uint8Array(1 + Math.floor(rnd() * 24));
    for (let j = 0; j < key.length; j++) key[j] = Math.floor(rnd() * 256);
    counts[r.choosePartition(key)]!++;
  }
  const expected = total / n;
  const chi2 = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  // 7 degrees of freedom: P(chi2 > 24.32) = 0.001 for a uniform hash.
  assert.ok(chi2 < 24.32, `counts ${counts.join(',')} chi2 ${chi2.toFixed(1)}`);
  for (const c of counts) assert.ok(Math.abs(c - expected) < expected * 0.1, `counts ${counts.join(',')}`);
});

test('router - key-hash routes keyless messages round-robin by batch', () => {
  const r = createRouter('key-hash', 3, () => 0);
  assert.equal(r.choosePartition(null), 0);
  r.onBatchBoundary();
  assert.equal(r.choosePartition(null), 1);
  // A keyed message in between does not move the round-robin position.
  r.choosePartition(enc.encode('k'));
  assert.equal(r.choosePartition(null), 1);
});

test('router - round-robin keeps a batch on one partition and cycles through all partitions by batch', () => {
  const r = createRouter('round-robin', 4, () => 0.6);
  const seen: number[] = [];
  for (let batch = 0; batch < 9; batch++) {
    const p = r.choosePartition(null);
    for (let m = 0; m < 5; m++) assert.equal(r.choosePartition(m % 2 ? enc.encode(`k${m}`) : null), p, 'one batch, one partition');
    seen.push(p);
    r.onBatchBoundary();
  }
  // Starts at floor(0.6 * 4) = 2, as Pulsar's random start index.
  assert.deepEqual(seen, [2, 3, 0, 1, 2, 3, 0, 1, 2]);
});

test('router - single sticks to one randomly chosen partition', () => {
  const r = createRouter('single', 5, () => 0.45);
  for (let i = 0; i < 20; i++) {
    assert.equal(r.choosePartition(i % 2 ? null : enc.encode(`k${i}`)), 2);
    r.onBatchBoundary();
  }
  const picks = new Set(Array.from({ length: 200 }, (_, i) => createRouter('single', 5, prng(i)).choosePartition(null)));
  assert.equal(picks.size, 5, 'different producers land on different partitions');
  // An rnd that returns 1 (out of contract) still yields a valid partition.
  assert.equal(createRouter('single', 5, () => 1).choosePartition(null), 4);
});

test('router - a bad mode or partition count is rejected', () => {
  for (const n of [0, -1, 1.5, NaN, 2 ** 31]) {
    assert.throws(() => createRouter('round-robin', n), (e: unknown) => isMillraceError(e, 'INVALID_ARGUMENT'), String(n));
  }
  assert.throws(() => createRouter('hash' as 'single', 2), /one of round-robin, single, key-hash/);
  const one = createRouter('key-hash', 1);
  assert.equal(one.choosePartition(enc.encode('x')), 0);
  assert.equal(one.choosePartition(null), 0);
});
