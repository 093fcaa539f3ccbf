/** The final summary as text, for people (`--json` prints the same object as JSON instead). */
import type { PipelineSummary } from './state.js';
import { bytes, fixed, int, rate, seconds } from './format.js';

export function formatSummary(s: PipelineSummary): string {
  const f = s.features;
  const lines = [
    `millrace pipeline ${s.runId}: ${int(s.events)} events, ${s.epochsRun} epochs in ${seconds(s.elapsedMs)} (data ${s.dataDir}, object store ${s.offloadDir})`,
    `ingest     ${int(s.ingest.published)} events published by the producer "ingest" in ${seconds(s.ingest.ms)} (${rate(s.ingest.published, s.ingest.ms)}); ${int(s.ingest.stored)} stored`,
    `features   ${int(f.stored)} features stored by ${f.workers} worker threads (${f.perWorker.map(int).join(' / ')}) in ${seconds(f.ms)} (${rate(f.stored, f.ms)}); ` +
      `${int(f.retriesDropped)} deliberate republishes dropped by deduplication, ${int(f.retriesStored)} stored`,
  ];
  for (const e of s.epochs) {
    lines.push(`epoch ${String(e.epoch).padEnd(4)} accuracy ${fixed(e.accuracy)}  holdout loss ${fixed(e.holdoutLoss)}  train loss ${fixed(e.trainLoss)}  ` +
      `hard examples weighted ${int(e.weightedExamples)}, fed back ${int(e.feedbackPublished)}  replay ${int(e.replayed)} msgs in ${seconds(e.trainMs)} ` +
      `(${rate(e.replayed, e.trainMs)}), began offloaded on ${e.replayStartOffloaded} of ${e.partitions} partitions`);
  }
  const a = s.accuracy;
  lines.push(s.epochsRun > 1
    ? `accuracy   ${fixed(a.first)} after epoch 1 -> ${fixed(a.last)} after epoch ${s.epochsRun} (${a.gain >= 0 ? '+' : ''}${(a.gain * 100).toFixed(1)} points: ${a.improved ? 'improved' : 'did NOT improve'}); ` +
      `on ${int(s.model.holdoutEvents)} held-out events, where the hidden model scores ${fixed(s.model.oracleAccuracy)} and always guessing the majority ${fixed(s.model.baselineAccuracy)}`
    : `accuracy   ${fixed(a.last)} after 1 epoch on ${int(s.model.holdoutEvents)} held-out events (hidden model ${fixed(s.model.oracleAccuracy)}, majority guess ${fixed(s.model.baselineAccuracy)})`);
  for (const [topic, t] of Object.entries(s.storage)) {
    lines.push(`storage    ${topic.padEnd(9)} ${t.offloadedLedgers} of ${t.ledgers} ledgers offloaded: ${bytes(t.offloadedBytes)} in the object store, ${bytes(t.localBytes)} local`);
  }
  lines.push(`offload    the last epoch's replay ${s.offload.lastEpochStartedOffloaded ? 'began in offloaded ledgers on every partition' : 'did NOT begin in offloaded ledgers on every partition'}`);
  for (const c of s.checks) lines.push(`check      ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
  return `${lines.join('\n')}\n`;
}
