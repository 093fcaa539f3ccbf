/**
 * `npm start`: the main job. For now a tour of the log core: open a data dir, append producer-sized
 * batches durably through the managed ledger, read them back, find a message by publish time, and
 * print what happened and how fast. Later issues grow this into the ML feedback-loop pipeline.
 *
 * Flags: --data-dir DIR (default ./data), --messages N (default 1,000,000), --json.
 */
import { parseArgs } from 'node:util';
import { ManagedLedger, Store, MillraceError, formatPosition, type Position } from './index.js';
import { decodeEntry } from './wasm/index.js';

const { values: flags } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: './data' },
    messages: { type: 'string', default: '1000000' },
    json: { type: 'boolean', default: false },
  },
});

const say = (line: string): void => {
  if (!flags.json) process.stderr.write(`${line}\n`);
};

async function main(): Promise<void> {
  const total = Number(flags.messages);
  if (!Number.isInteger(total) || total < 100) throw new MillraceError('INVALID_ARGUMENT', `--messages must be an integer >= 100, got ${flags.messages}`);
  const store = Store.open(flags['data-dir']!);
  const ml = await ManagedLedger.open(store, 'persistent://public/default/tour-partition-0', { maxEntries: 2_000 });
  const before = ml.stats();
  say(`millrace: data dir ${store.dataDir}, ${before.entries} entries in ${before.ledgerCount} ledgers already stored`);

  // Producer-sized batches: 100 messages of 100 bytes, as one entry each, 64 appends in flight.
  const perEntry = 100;
  const entries = Math.floor(total / perEntry);
  const enc = new TextEncoder();
  let next = 0;
  let first: Position | undefined;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < entries) {
      const n = next++;
      const messages = Array.from({ length: perEntry }, (_, i) => {
        const value = new Uint8Array(100);
        value.set(enc.encode(`event ${n * perEntry + i}`));
        return { value, key: enc.encode(`user-${(n * perEntry + i) % 1000}`), sequenceId: n * perEntry + i };
      });
      const r = await ml.append({ producerName: enc.encode('tour'), messages });
      if (n === 0) first = r.position;
    }
  }));
  const appendS = (performance.now() - t0) / 1000;
  const appended = entries * perEntry;
  say(`appended ${appended.toLocaleString('en-US')} messages in ${entries} entries, durable, in ${appendS.toFixed(2)} s: ${Math.round(appended / appendS).toLocaleString('en-US')} msg/s`);

  const t1 = performance.now();
  let read = 0;
  for (let from: Position = first!; ;) {
    const rs = await ml.readRange(from, { maxEntries: 1000 });
    if (rs.length === 0) break;
    for (const r of rs) read += decodeEntry(r.entry).count;
    const last = rs[rs.length - 1]!.position;
    from = { ledgerId: last.ledgerId, entryId: last.entryId + 1 };
  }
  const readS = (performance.now() - t1) / 1000;
  say(`read back ${read.toLocaleString('en-US')} messages (checksums verified) in ${readS.toFixed(2)} s: ${Math.round(read / readS).toLocaleString('en-US')} msg/s`);

  const stats = ml.stats();
  const mid = ml.ledgers()[Math.floor(ml.ledgers().length / 2)]!;
  const found = await ml.findByTime(mid.firstPublishTime);
  say(`ledgers: ${stats.ledgerCount} (${ml.ledgers().filter((l) => l.state === 'sealed').length} sealed), ${(stats.bytes / 2 ** 20).toFixed(1)} MiB; ` +
    `first message published at or after ${new Date(mid.firstPublishTime).toISOString()} is at ${found ? formatPosition(found) : 'none'}`);
  await ml.close();
  await store.close();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify({ appended, appendMsgPerS: appended / appendS, read, readMsgPerS: read / readS, ledgers: stats.ledgerCount, bytes: stats.bytes, lastConfirmed: stats.lastConfirmed })}\n`);
  }
}

main().catch((err: unknown) => {
  const e = err instanceof MillraceError ? `${err.code}: ${err.message}` : String(err);
  process.stderr.write(`millrace: ${e}\n`);
  process.exitCode = 1;
});
