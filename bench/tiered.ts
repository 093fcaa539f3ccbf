/**
 * tiered: replay from the earliest message with every sealed ledger local, then with every sealed
 * ledger offloaded to the filesystem object store and its local copy deleted, on the same topic in
 * the same run (the target: offloaded at least 70% of local). Between the two, the offload
 * of those ledgers is timed as `offload.write.e2e` (MB/s through the managed ledger, checksums and
 * the verify re-read included).
 *
 * Two ledger sizes, each its own broker and topic: 1,000 entries (100,000 messages, ~11 MB
 * objects; the `.100B` results) and 100 entries (~1.1 MB objects; `.smallLedgers`), so a replay
 * crosses many objects. Pulsar's ledgers hold up to 50,000 entries; the small size shows what the
 * per-object cost (open, index read, first blocks) does. The offloaded replay starts with a cold
 * block cache for its topic; unmeasured replays run first (the topic local, another topic
 * offloaded), so the JIT warm-up counts against neither.
 *
 * `rss_mb` is the peak resident memory of this whole process during that replay (the bench is not
 * isolated per phase): it includes what the earlier phases left resident, above all the LMDB pages
 * of the local ledgers that were written and replayed before (file-backed, `rss_file_mb`), and the
 * `.smallLedgers` run comes after the first broker's. An offloaded replay of the same 1,000-entry
 * ledgers in a process of its own peaked at 209-244 MB (anonymous 162-196, file-backed 47-48).
 *
 * Measured 2026-11-25 on 2 vCPUs: 1,000-entry ledgers 0.81-0.89 of local; 100-entry ledgers
 * 0.53-0.66 (the reader waits on each object's opening: file system round trips the prefetch of the
 * next two ledgers only partly hides).
 */
import { Broker } from '../index.js';
import type { BenchContext, BenchResult, Scenario } from './harness.js';
import { replayFromEarliest } from './e2e.js';
import { sendWindowed } from './send-window.js';

const VALUE_BYTES = 100;

async function tiered(ctx: BenchContext, ledgerEntries: number, suffix: string): Promise<BenchResult[]> {
  const total = ctx.quick ? 200_000 : 1_000_000;
  const offloadDir = ctx.tmpDir('offload');
  const broker = await Broker.open({
    dataDir: ctx.tmpDir('tiered'), ledger: { maxEntries: ledgerEntries }, maintenanceIntervalMs: 3_600_000,
    tieredStorage: { driver: 'filesystem', path: offloadDir }, policies: { retention: { timeMs: -1, sizeBytes: -1 } },
  });
  try {
    const topic = 'persistent://public/default/bench-tiered';
    await broker.admin.createTopic(topic);
    const producer = await broker.createProducer({ topic, batching: { maxMessages: 100 }, maxPendingMessages: 40_000 });
    const value = new Uint8Array(VALUE_BYTES);
    await sendWindowed(producer, total, () => value);
    await producer.close();
    // Unmeasured passes first, so neither measured replay pays the JIT warm-up: one of this topic
    // (local), and one of a small topic offloaded on its own (the offloaded read path's code, without
    // warming this topic's blocks into the cache).
    await replayFromEarliest(broker, topic, total);
    const warm = 'persistent://public/default/bench-tiered-warmup';
    await broker.admin.createTopic(warm);
    const wp = await broker.createProducer({ topic: warm, batching: { maxMessages: 100 } });
    await sendWindowed(wp, 50_000, () => value);
    await wp.close();
    await broker.admin.setPolicies(warm, { offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
    await broker.admin.runMaintenance(warm);
    await replayFromEarliest(broker, warm, 50_000);
    const local = await replayFromEarliest(broker, topic, total);
    ctx.log(`  local replay ${Math.round(local.rate).toLocaleString('en-US')} msg/s`);
    const t0 = performance.now();
    // Setting the policies starts the offload; runMaintenance waits for it.
    await broker.admin.setPolicies(topic, { offloadThresholdBytes: 0, offloadDeletionLagMs: 0 });
    await broker.admin.runMaintenance(topic);
    const offloadS = (performance.now() - t0) / 1000;
    const st = await broker.admin.stats(topic);
    const ledgers = Object.values(await broker.admin.internalStats(topic))[0]!.ledgers;
    const offloaded = ledgers.filter((l) => l.state === 'offloaded').length;
    const offloadedRun = await replayFromEarliest(broker, topic, total);
    return [
      { name: `replay.local.100B${suffix}`, unit: 'msg/s', value: local.rate, messages: local.n, ledgers: ledgers.length, ledger_entries: ledgerEntries, rss_mb: local.rss, ...local.parts },
      {
        name: `replay.offloaded.100B${suffix}`, unit: 'msg/s', value: offloadedRun.rate, messages: offloadedRun.n, rss_mb: offloadedRun.rss, ...offloadedRun.parts,
        ratio_to_local: offloadedRun.rate / local.rate, offloaded_ledgers: offloaded, local_bytes: st.localStorageSize, offloaded_bytes: st.offloadedStorageSize,
      },
      { name: `offload.write.e2e${suffix}`, unit: 'MB/s', value: st.offloadedStorageSize / 2 ** 20 / offloadS, bytes: st.offloadedStorageSize, seconds: offloadS, note: 'managed ledger to filesystem store, verify and local deletion included' },
    ];
  } finally {
    await broker.close();
  }
}

export const scenarios: Scenario[] = [
  {
    name: 'replay.tiered.100B',
    description: 'reader from the earliest: all sealed ledgers local, then all offloaded (filesystem store); 1,000- and 100-entry ledgers',
    run: async (ctx) => [...await tiered(ctx, 1000, ''), ...await tiered(ctx, 100, '.smallLedgers')],
  },
];
