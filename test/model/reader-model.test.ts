/**
 * Model-based test of a reader: random sequences of sends (batched, so IDs land inside batches),
 * seeks (earliest, latest, to a message ID) and reads run against a real broker and a model that is
 * only a list of the values sent and the reader's next index. Every read must return exactly the
 * next value of the model, and a read at the end must time out with null. Reads at the end leave a
 * long poll parked at the partition, so the seeks that follow race it (an ML epoch loop: read to the
 * end, seek to the earliest, read again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Broker, MessageId, type Producer, type Reader } from '../../index.js';
import { runs, testSeed } from '../util/seed.js';
import { tempDir, removeDir } from '../util/tmp.js';

interface Model {
  /** Values sent, in order: value i is the string of i. */
  sent: number;
  /** Index of the next value the reader must return. */
  next: number;
}
interface Real {
  producer: Producer<Uint8Array>;
  reader: Reader<Uint8Array>;
  ids: MessageId[];
}

type Cmd = fc.AsyncCommand<Model, Real>;
const dec = new TextDecoder();
const enc = new TextEncoder();

class Send implements Cmd {
  constructor(readonly n: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    // Sent together, so the producer batches them (up to 4 a batch).
    const ids = await Promise.all(Array.from({ length: this.n }, (_, i) => r.producer.send({ value: enc.encode(String(m.sent + i)) })));
    r.ids.push(...ids);
    m.sent += this.n;
  }
  toString(): string { return `send(${this.n})`; }
}

class SeekEarliest implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    await r.reader.seek(MessageId.earliest);
    m.next = 0;
  }
  toString(): string { return 'seek(earliest)'; }
}

class SeekLatest implements Cmd {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    await r.reader.seek(MessageId.latest);
    m.next = m.sent;
  }
  toString(): string { return 'seek(latest)'; }
}

class SeekId implements Cmd {
  constructor(readonly pick: number) {}
  check(m: Readonly<Model>): boolean { return m.sent > 0; }
  async run(m: Model, r: Real): Promise<void> {
    const i = this.pick % m.sent;
    // A reader's seek to an ID is inclusive: that message is the next one read.
    await r.reader.seek(r.ids[i]!);
    m.next = i;
  }
  toString(): string { return `seek(id #${this.pick})`; }
}

class Read implements Cmd {
  constructor(readonly n: number) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    for (let k = 0; k < this.n; k++) {
      if (m.next === m.sent) {
        assert.equal(await r.reader.readNext({ timeoutMs: 30 }), null, `read at the end (${m.sent} sent) returned a message`);
        return;
      }
      const msg = await r.reader.readNext({ timeoutMs: 5000 });
      assert.ok(msg, `read ${m.next} of ${m.sent}: nothing within 5 s`);
      assert.equal(dec.decode(msg.data), String(m.next), `read ${k} of this command`);
      assert.equal(msg.id.toString(), r.ids[m.next]!.toString(), `ID of message ${m.next}`);
      m.next++;
    }
  }
  toString(): string { return `read(${this.n})`; }
}

const commands = [
  fc.integer({ min: 1, max: 12 }).map((n) => new Send(n)),
  fc.constant(new SeekEarliest()),
  fc.constant(new SeekLatest()),
  fc.nat().map((p) => new SeekId(p)),
  fc.integer({ min: 1, max: 15 }).map((n) => new Read(n)),
];

test('reader model - after any sequence of sends and seeks (earliest, latest, to an ID inside a batch), reads return exactly the next messages, and null at the end', async () => {
  const seed = testSeed(23);
  const dir = tempDir('millrace-reader-model');
  const broker = await Broker.open({ dataDir: dir, workers: 1, policies: { retention: { timeMs: -1, sizeBytes: -1 } } });
  let run = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.commands(commands, { maxCommands: 25 }), async (queueSize, cmds) => {
        const topic = `reader-model-${run++}`;
        const producer = await broker.createProducer({ topic, batching: { maxMessages: 4, maxDelayMs: 1 } });
        // A small read-ahead buffer, so reads refill it (and park at the end) often.
        const reader = await broker.createReader({ topic, startMessageId: MessageId.earliest, receiverQueueSize: queueSize });
        try {
          await fc.asyncModelRun(() => ({ model: { sent: 0, next: 0 }, real: { producer, reader, ids: [] } }), cmds);
        } finally {
          await reader.close();
          await producer.close();
        }
      }),
      { seed, numRuns: runs(25, 500), verbose: 1 },
    ).catch((err: unknown) => {
      throw new Error(`reader model failed with seed ${seed} (rerun: MILLRACE_SEED=${seed})\n${String(err)}`);
    });
  } finally {
    await broker.close();
    removeDir(dir);
  }
});
