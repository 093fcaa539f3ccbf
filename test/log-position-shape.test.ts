/**
 * Positions read in from storage (LMDB keys, a recovered ledger) or from the wire (an f64 in a ring
 * record) hold small integers, as positions built in code do, so every position has one hidden
 * class. LMDB's key decoding and DataView's getFloat64 return heap numbers even for small IDs: a
 * position built from them had a class of its own, which made the cursor's and the dispatcher's hot
 * paths polymorphic and box each ID they passed on (pub+sub's host thread made about 30 bytes of
 * garbage per ack that way). Hidden classes are visible only through V8's natives syntax, so the
 * check runs in a child process started with it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { tempDir, removeDir } from './util/tmp.js';

const at = (rel: string): string => new URL(rel, import.meta.url).href;

const script = (dir: string): string => `
const { Store } = await import(${JSON.stringify(at('../core/storage/store.js'))});
const { ManagedLedger } = await import(${JSON.stringify(at('../core/log/index.js'))});
const { encodeInto, encodedSize } = await import(${JSON.stringify(at('../wasm/index.js'))});
const { readId } = await import(${JSON.stringify(at('../actors/partition/partition-protocol.js'))});
const built = () => ({ ledgerId: 1, entryId: 2 });
// The reference, made before anything is read: a field that once held a heap number would
// generalize later-made positions too, and every comparison would pass.
const reference = built();
const same = (p) => %HaveSameMap(p, reference);
const frame = { publishTime: 0, producerName: new TextEncoder().encode('p'), messages: [{ value: new Uint8Array(10) }] };
const entry = () => { const b = new Uint8Array(encodedSize(frame)); encodeInto(frame, b, 0); return b; };
const shapes = {};
let store = Store.open(${JSON.stringify(dir)});
let ml = await ManagedLedger.open(store, 't');
for (let i = 0; i < 4; i++) await ml.appendEntry(entry());
const range = await ml.readRange({ ledgerId: 0, entryId: 0 }, { maxEntries: 4 });
shapes.readRange = same(range[1].position);
shapes.findByTime = same(await ml.findByTime(0));
await ml.close();
await store.close();
// Reopened: the last entry ID is recovered from the stored keys, and the next append follows it.
store = Store.open(${JSON.stringify(dir)});
ml = await ManagedLedger.open(store, 't');
shapes.afterRecovery = same((await ml.appendEntry(entry())).position);
await ml.close();
await store.close();
const v = new DataView(new ArrayBuffer(16));
v.setFloat64(0, 5, true);
v.setFloat64(8, 2 ** 40, true);
shapes.wire = same({ ledgerId: readId(v, 0), entryId: readId(v, 0) });
shapes.wireValues = readId(v, 0) === 5 && readId(v, 8) === 2 ** 40;
console.log(JSON.stringify(shapes));
`;

test('log - positions read from storage and from the wire share the hidden class of positions built in code', () => {
  const dir = tempDir();
  try {
    const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', script(dir)], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const shapes = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, boolean>;
    assert.deepEqual(shapes, { readRange: true, findByTime: true, afterRecovery: true, wire: true, wireValues: true });
  } finally {
    removeDir(dir);
  }
});
