import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineRounds } from '../bench/rounds.js';
import type { BenchResult } from '../bench/harness.js';

const r = (name: string, value: number, extra: Record<string, number | string> = {}): BenchResult => ({ name, unit: 'msg/s', value, ...extra });

test('a figure over rounds is the median of its runs, each run listed beside it', () => {
  const out = combineRounds([
    [r('e2e.pubsub.100B', 1.19e6, { p99_us: 25_000, ratio: 0.2, note: 'first' })],
    [r('e2e.pubsub.100B', 0.97e6, { p99_us: 16_000, ratio: 0.16, note: 'second' })],
    [r('e2e.pubsub.100B', 1.08e6, { p99_us: 20_000, ratio: 0.18, note: 'third' })],
  ]);
  assert.equal(out.length, 1);
  const [c] = out;
  assert.equal(c!.value, 1.08e6);
  // Each field its own median: the p99 of the median-rate run is not the median p99 in general.
  assert.equal(c!.p99_us, 20_000);
  assert.equal(c!.ratio, 0.18);
  assert.equal(c!.note, 'first');
  assert.equal(c!.value_runs, '1190000 970000 1080000');
  assert.equal(c!.p99_us_runs, '25000 16000 20000');
  assert.equal(c!.rounds, 3);
});

test('memory over rounds is the largest peak, taken whole from its run', () => {
  const [c] = combineRounds([
    [r('e2e.queue.shared4.100B', 1, { rss_mb: 330, rss_anon_mb: 210, rss_file_mb: 120 })],
    [r('e2e.queue.shared4.100B', 2, { rss_mb: 366, rss_anon_mb: 246, rss_file_mb: 120 })],
    [r('e2e.queue.shared4.100B', 3, { rss_mb: 340, rss_anon_mb: 200, rss_file_mb: 140 })],
  ]);
  assert.deepEqual([c!.rss_mb, c!.rss_anon_mb, c!.rss_file_mb], [366, 246, 120]);
  assert.equal(c!.value, 2);
});

test('one round is passed through as it is; names keep the order of their first round', () => {
  const one = [r('a', 1), r('b', 2)];
  assert.deepEqual(combineRounds([one]), one);
  const out = combineRounds([[r('a', 1), r('b', 5)], [r('a', 3), r('b', 4)], [r('b', 6)]]);
  assert.deepEqual(out.map((x) => [x.name, x.value, x.rounds]), [['a', 1, 2], ['b', 5, 3]]);
});

test('a name given twice in a round stays two results, each combined with its own runs', () => {
  const round = (a: number, b: number): BenchResult[] => [r('ceiling', a), r('publish', 2), r('ceiling', b)];
  const out = combineRounds([round(10, 100), round(30, 300), round(20, 200)]);
  assert.deepEqual(out.map((x) => [x.name, x.value]), [['ceiling', 20], ['publish', 2], ['ceiling', 200]]);
});

test('an even count takes the lower middle; a run without the field is left out of its median', () => {
  const [c] = combineRounds([[r('x', 4, { p99_us: 9 })], [r('x', 1)], [r('x', 3, { p99_us: 7 })], [r('x', 2, { p99_us: Number.NaN })]]);
  assert.equal(c!.value, 2);
  assert.equal(c!.p99_us, 7);
  assert.equal(c!.p99_us_runs, '9 n/a 7 n/a');
});
