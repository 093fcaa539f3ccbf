/**
 * `actor.append.100B`: durable appends from the main thread through the rings to partition actors on
 * the worker pool (4 partitions, 2 hosts by default) and back, against `log.append.100B` measured in
 * the same run (the managed ledger called directly on the main thread): what the actor layer costs.
 */
import os from 'node:os';
import { ActorSystem, PartitionClient } from '../actors/index.js';
import type { BenchContext, BenchResult, Scenario } from './harness.js';
import { logRun, producerBatch, MESSAGES_PER_ENTRY, INFLIGHT } from './log.js';

const PARTITIONS = 4;

async function actorRun(ctx: BenchContext, seconds: number): Promise<number> {
  const dir = ctx.tmpDir('actor');
  const sys = await ActorSystem.open({ dataDir: dir });
  const parts = await Promise.all(Array.from({ length: PARTITIONS }, (_, i) => PartitionClient.spawn(sys, `bench-partition-${i}`)));
  // No sequence IDs: the same batch is appended again and again, and a partition actor drops a
  // batch whose sequence IDs it has stored (deduplication) without writing it.
  const batch = producerBatch(100, false);
  let entries = 0;
  const t0 = performance.now();
  const stopAt = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: INFLIGHT }, async (_, lane) => {
    const p = parts[lane % PARTITIONS]!;
    while (performance.now() < stopAt) {
      await p.append(batch);
      entries++;
    }
  }));
  const rate = entries / ((performance.now() - t0) / 1000);
  await sys.close();
  return rate * MESSAGES_PER_ENTRY;
}

export const scenarios: Scenario[] = [{
  name: 'actor.append.100B',
  description: 'main thread -> rings -> partition actors on the pool, durable, vs the managed ledger called directly',
  async run(ctx): Promise<BenchResult[]> {
    const seconds = ctx.quick ? 1 : 3;
    const reps = ctx.quick ? 1 : 3;
    const actor: number[] = [];
    const log: number[] = [];
    for (let i = 0; i < reps; i++) {
      const l = await logRun(ctx, producerBatch(100, false), seconds);
      log.push((l.run.entries / l.run.seconds) * MESSAGES_PER_ENTRY);
      actor.push(await actorRun(ctx, seconds));
      ctx.log(`  rep ${i + 1}/${reps}: log ${Math.round(log[i]!)} msg/s, actor ${Math.round(actor[i]!)} msg/s`);
    }
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const a = med(actor);
    const b = med(log);
    return [
      { name: 'log.append.100B', unit: 'msg/s', value: b, baseline_for: 'actor.append.100B', inflight: INFLIGHT, reps },
      { name: 'actor.append.100B', unit: 'msg/s', value: a, ratio_vs_log: a / b, partitions: PARTITIONS, workers: os.availableParallelism(), inflight: INFLIGHT, reps },
    ];
  },
}];
