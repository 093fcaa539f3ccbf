import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Broker, MessageId, type Message } from '../index.js';
import { decodeEvent, decodeFeatures } from '../pipeline/codec.js';
import type { PipelineSummary } from '../pipeline/state.js';
import { removeDir, tempDir } from './util/tmp.js';

const MAIN = fileURLToPath(new URL('../main.js', import.meta.url));
const EVENTS = 5000;
// The synthetic data's hidden model scores about 0.75 on the held-out events and always guessing the
// majority class about 0.55; a model that learned anything real is well above 0.65 after 3 epochs.
const MIN_ACCURACY = 0.65;

function run(args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 120_000, ...(cwd ? { cwd } : {}) });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every message of a topic from the earliest, checking that nothing more follows. */
async function readAll(broker: Broker, topic: string, n: number): Promise<Message<Uint8Array>[]> {
  const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: 10_000 });
  const out: Message<Uint8Array>[] = [];
  while (out.length < n) {
    const m = await reader.readNext({ timeoutMs: 10_000 });
    assert.ok(m, `${topic}: read ${out.length} of ${n} messages, then nothing`);
    out.push(m);
  }
  assert.equal(await reader.readNext({ timeoutMs: 300 }), null, `${topic} holds more than ${n} messages`);
  await reader.close();
  return out;
}

test('pipeline - npm start at a small size: every event ingested once, every feature published once (read back from the topics), accuracy improves past the threshold, the last epoch reads offloaded ledgers; a second run on the same data dir works', async () => {
  const root = tempDir('millrace-pipeline');
  const dataDir = join(root, 'data');
  const offloadDir = join(root, 'data-offload');
  try {
    const r = run(['--data-dir', dataDir, '--events', String(EVENTS), '--epochs', '3', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /\x1b\[/, 'no terminal escapes when stderr is not a terminal');
    assert.match(r.stderr, /^epoch 3: accuracy/m);
    const s = JSON.parse(r.stdout) as PipelineSummary;
    assert.ok(s.ok, JSON.stringify(s.checks));
    assert.equal(s.events, EVENTS);
    assert.equal(s.ingest.stored, EVENTS);
    assert.equal(s.features.stored, EVENTS);
    assert.equal(s.features.retriesStored, 0);
    assert.ok(s.features.retriesDropped > 0, 'deliberate republishes were dropped by deduplication');
    assert.equal(s.epochs.length, 3);
    assert.ok(s.accuracy.last >= MIN_ACCURACY, `accuracy ${s.accuracy.last}`);
    assert.ok(s.accuracy.last > s.model.baselineAccuracy + 0.05, `accuracy ${s.accuracy.last} vs majority ${s.model.baselineAccuracy}`);
    assert.ok(s.accuracy.last > s.accuracy.first, `accuracy ${s.accuracy.first} -> ${s.accuracy.last}`);
    for (const e of s.epochs.slice(1)) assert.ok(e.weightedExamples > 0, `epoch ${e.epoch} consumed the previous epoch's feedback`);
    assert.ok(s.storage.features!.offloadedLedgers > 0 && s.offload.lastEpochStartedOffloaded, JSON.stringify(s.storage));
    assert.ok(readdirSync(offloadDir).length > 0, 'the object store beside the data dir holds objects');

    // Count from the data itself, with the run's broker closed: each source event once on the events
    // topic, and exactly one feature per event, carrying that event's label and sequence ID.
    const broker = await Broker.open({ dataDir, workers: 2, tieredStorage: { driver: 'filesystem', path: offloadDir } });
    try {
      const events = await readAll(broker, s.topics.events, EVENTS);
      const label = new Map<number, { clicked: number; seq: number | undefined }>();
      for (const m of events) {
        const e = decodeEvent(m.data);
        assert.ok(!label.has(e.id), `event ${e.id} ingested twice`);
        label.set(e.id, { clicked: e.clicked, seq: m.sequenceId });
      }
      assert.equal(label.size, EVENTS);
      const features = await readAll(broker, s.topics.features, EVENTS);
      const seen = new Set<number>();
      for (const m of features) {
        const f = decodeFeatures(m.data);
        assert.ok(!seen.has(f.eventId), `feature of event ${f.eventId} published twice`);
        seen.add(f.eventId);
        assert.equal(f.label, label.get(f.eventId)?.clicked, `feature of event ${f.eventId} has its event's label`);
        assert.equal(m.sequenceId, label.get(f.eventId)?.seq, 'the feature carries its source event\'s sequence ID');
        assert.match(m.producerName, /^features-worker-\d+$/);
      }
      assert.equal(seen.size, EVENTS);
    } finally {
      await broker.close();
    }

    // A data dir that holds a previous run: the next run makes its own topics. Three epochs, as the
    // first run: at this size two can leave the accuracy gain within the noise of the feature
    // workers' interleaving, and the run's own "accuracy improved" check would fail it.
    const again = run(['--data-dir', dataDir, '--events', String(EVENTS), '--epochs', '3', '--json']);
    assert.equal(again.status, 0, again.stderr);
    const s2 = JSON.parse(again.stdout) as PipelineSummary;
    assert.ok(s2.ok, JSON.stringify(s2.checks));
    assert.notEqual(s2.topics.features, s.topics.features);
    assert.equal(s2.features.stored, EVENTS);
  } finally {
    removeDir(root);
  }
});

test('pipeline - npm start as it runs by default (200,000 events): completes, every event ingested and published once', () => {
  // The default size puts a full producer window through a client's rings, which the small run
  // above does not: two bugs of request order on the rings (acknowledged batches dropped as
  // duplicates) showed only here, and only in some runs.
  const root = tempDir('millrace-pipeline-default');
  try {
    const r = run(['--data-dir', join(root, 'data'), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const s = JSON.parse(r.stdout) as PipelineSummary;
    assert.ok(s.ok, JSON.stringify(s.checks));
    assert.equal(s.events, 200_000);
    assert.equal(s.ingest.stored, s.events);
    assert.equal(s.features.stored, s.events);
    assert.equal(s.features.retriesStored, 0);
  } finally {
    removeDir(root);
  }
});

test('pipeline - bad input is one line on stderr and exit status 1, and writes nothing: unknown flags, bad numbers, a directory that is not a Millrace data dir', () => {
  const root = tempDir('millrace-pipeline-bad');
  try {
    const fresh = join(root, 'never-created');
    for (const args of [['--bogus'], ['--events', 'many'], ['--events', '10'], ['--epochs', '0'], ['positional'], ['--data-dir']]) {
      const r = run(['--data-dir', fresh, ...args]);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^millrace: INVALID_ARGUMENT: [^\n]+\n$/, args.join(' '));
      assert.equal(r.stdout, '');
    }
    assert.ok(!existsSync(fresh), 'no data dir created');
    assert.ok(!existsSync(`${fresh}-offload`), 'no object store created');

    const foreign = join(root, 'photos');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'holiday.jpg'), 'not a database');
    const r = run(['--data-dir', foreign, '--events', '5000', '--json']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /^millrace: DATA_DIR_INVALID: [^\n]+\n$/);
    assert.equal(r.stdout, '');
    assert.deepEqual(readdirSync(foreign), ['holiday.jpg']);
    assert.ok(!existsSync(`${foreign}-offload`), 'no object store created');

    const help = run(['--help'], root);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /--events N/);
    assert.deepEqual(readdirSync(root).sort(), ['photos'], '--help opens nothing');
  } finally {
    removeDir(root);
  }
});
