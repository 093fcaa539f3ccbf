/**
 * The pipeline's orchestration: opens the broker with small ledgers and a filesystem object store,
 * creates the run's topics, starts the feature workers, ingests, waits for every feature, trains the
 * epochs, checks what it can verify from the broker's own figures, and returns the summary.
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { Broker, MillraceError } from '../index.js';
import { FeaturePool, FEATURE_SUBSCRIPTION } from './feature-pool.js';
import { ingest } from './ingest.js';
import { SyntheticWorld } from './synthetic.js';
import { FEEDBACK_SUBSCRIPTION, Trainer } from './trainer.js';
import { topicStorage } from './storage.js';
import { createTopics, ledgerOptions, newRunId, PARTITIONS, type PipelineTopics } from './topics.js';
import type { EpochResult, LiveState, PipelineSummary, TopicStorage } from './state.js';

export interface PipelineOptions {
  dataDir: string;
  /** The filesystem object store's directory (beside the data directory, never inside it). */
  offloadDir: string;
  events: number;
  epochs: number;
  seed: number;
  /** @default 2 */
  featureWorkers?: number;
  /** @default 0.02: slow enough that later epochs still gain (the run shows learning, not one pass converging) */
  learningRate?: number;
}

/** Receives the live state once it exists, and milestone lines. */
export interface PipelineObserver {
  attach(state: LiveState): void;
  log(line: string): void;
}

// How often the monitor reads backlog and storage figures for the view.
const MONITOR_MS = 500;
// A stage that makes no progress this long has failed: report it, never hang.
const STALL_MS = 30_000;
// Each partition's housekeeping (offload by threshold) runs this often, so ledgers go to the object
// store while the pipeline runs, not only at the explicit pass before each epoch.
const MAINTENANCE_MS = 250;

/** Publish about 1 in RETRY_EVERY features twice, to show deduplication drop the second. */
const RETRY_EVERY = 997;

function checkOffloadDir(dir: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new MillraceError('INVALID_ARGUMENT', `${dir} (the object store beside the data directory) exists and is not a directory`);
  }
}

const short = (topics: PipelineTopics): [string, string][] => [['events', topics.events], ['features', topics.features], ['feedback', topics.feedback]];

/** Reads backlog and storage into the live state every MONITOR_MS until stopped. */
function startMonitor(broker: Broker, topics: PipelineTopics, state: LiveState): () => Promise<void> {
  let busy: Promise<void> | undefined;
  const sample = async (): Promise<void> => {
    const events = await broker.admin.stats(topics.events);
    const feedback = await broker.admin.stats(topics.feedback);
    state.backlog[`events/${FEATURE_SUBSCRIPTION}`] = events.subscriptions[FEATURE_SUBSCRIPTION]?.msgBacklog ?? 0;
    state.backlog[`feedback/${FEEDBACK_SUBSCRIPTION}`] = feedback.subscriptions[FEEDBACK_SUBSCRIPTION]?.msgBacklog ?? 0;
    for (const [name, topic] of short(topics)) state.storage[name] = await topicStorage(broker.admin, topic);
  };
  const timer = setInterval(() => {
    // A figure missed while the broker is busy is simply drawn at the next tick.
    busy ??= sample().catch(() => undefined).finally(() => {
      busy = undefined;
    });
  }, MONITOR_MS);
  return async () => {
    clearInterval(timer);
    await busy;
  };
}

export async function runPipeline(options: PipelineOptions, observer: PipelineObserver): Promise<PipelineSummary> {
  const started = Date.now();
  const workers = options.featureWorkers ?? 2;
  const learningRate = options.learningRate ?? 0.02;
  checkOffloadDir(options.offloadDir);
  // The broker checks the data directory before it writes anything; the object store's directory
  // is made only after, so a refused data directory leaves nothing behind.
  const broker = await Broker.open({
    dataDir: options.dataDir,
    tieredStorage: { driver: 'filesystem', path: options.offloadDir },
    ledger: ledgerOptions(options.events),
    maintenanceIntervalMs: MAINTENANCE_MS,
  });
  let pool: FeaturePool | undefined;
  let trainer: Trainer | undefined;
  let stopMonitor: (() => Promise<void>) | undefined;
  try {
    mkdirSync(options.offloadDir, { recursive: true });
    const runId = newRunId();
    const topics = await createTopics(broker, runId, options.events);
    const world = new SyntheticWorld(options.events, options.seed);
    const state: LiveState = {
      runId, dataDir: options.dataDir, offloadDir: options.offloadDir, startedAt: started, phase: 'starting',
      ingest: { done: 0, total: options.events },
      features: { done: 0, total: options.events, retriesDropped: 0, workers },
      backlog: {}, storage: {}, epochs: [],
    };
    observer.attach(state);
    stopMonitor = startMonitor(broker, topics, state);
    observer.log(`run ${runId}: ${options.events.toLocaleString('en-US')} events, ${options.epochs} epochs, ${PARTITIONS} partitions, topics persistent://public/pipeline/${runId}-*`);

    state.phase = 'ingest + features';
    pool = await FeaturePool.start(broker, { eventsTopic: topics.events, featuresTopic: topics.features, workers, retryEvery: RETRY_EVERY });
    state.features.startedAt = Date.now();
    const onFeatures = (t: { published: number; retriesDropped: number }): void => {
      state.features.done = t.published;
      state.features.retriesDropped = t.retriesDropped;
    };
    // The workers drain while the producer still publishes: the Shared subscription is the queue between them.
    const featuresDone = pool.finish(options.events, STALL_MS, onFeatures);
    featuresDone.catch(() => undefined);
    const ingested = await ingest(broker, topics.events, world, state.ingest);
    observer.log(`ingest: ${ingested.published.toLocaleString('en-US')} events in ${(ingested.ms / 1000).toFixed(1)} s`);
    const counts = await featuresDone;
    state.features.endedAt = Date.now();
    const perWorker = pool.perWorker();
    pool = undefined;
    const featuresMs = state.features.endedAt - state.features.startedAt;
    observer.log(`features: ${counts.published.toLocaleString('en-US')} published by ${workers} workers in ${(featuresMs / 1000).toFixed(1)} s`);

    const eventsStored = (await broker.admin.stats(topics.events)).msgInCounter;
    const featuresStored = (await broker.admin.stats(topics.features)).msgInCounter;

    state.phase = 'training';
    trainer = await Trainer.create(broker, topics, { features: featuresStored, events: options.events, learningRate }, state);
    const epochs: EpochResult[] = [];
    for (let e = 1; e <= options.epochs; e++) {
      const r = await trainer.epoch(e);
      epochs.push(r);
      state.epochs.push(r);
      observer.log(`epoch ${e}: accuracy ${r.accuracy.toFixed(3)}, holdout loss ${r.holdoutLoss.toFixed(3)}, ${r.feedbackPublished.toLocaleString('en-US')} hard examples fed back, ` +
        `replay began offloaded on ${r.replayStartOffloaded} of ${r.partitions} partitions`);
    }
    await trainer.close();
    trainer = undefined;

    state.phase = 'done';
    await stopMonitor();
    stopMonitor = undefined;
    const storage: Record<string, TopicStorage> = {};
    for (const [name, topic] of short(topics)) storage[name] = await topicStorage(broker.admin, topic);
    state.storage = storage;

    const first = epochs[0]!;
    const last = epochs[epochs.length - 1]!;
    const gain = last.accuracy - first.accuracy;
    const expectedRetries = Math.floor((options.events - 1) / RETRY_EVERY) + 1;
    const lastStartedOffloaded = last.partitions > 0 && last.replayStartOffloaded === last.partitions;
    const checks = [
      { name: 'every event ingested once', ok: eventsStored === options.events, detail: `${eventsStored} stored on the events topic for ${options.events} sent` },
      { name: 'every feature published once', ok: featuresStored === options.events && last.distinctEvents === options.events && last.replayed === options.events,
        detail: `${featuresStored} stored; the last replay read ${last.replayed} messages of ${last.distinctEvents} distinct events` },
      { name: 'deduplication dropped every republish', ok: counts.retriesDropped === expectedRetries && counts.retriesStored === 0,
        detail: `${counts.retriesDropped} of ${expectedRetries} dropped, ${counts.retriesStored} stored` },
      { name: 'features land on their event\'s partition', ok: counts.misrouted === 0, detail: `${counts.misrouted} elsewhere` },
      ...(epochs.length > 1 ? [{ name: 'accuracy improved across epochs', ok: gain > 0, detail: `${first.accuracy.toFixed(3)} -> ${last.accuracy.toFixed(3)}` }] : []),
      { name: 'the last epoch read through offloaded ledgers', ok: lastStartedOffloaded, detail: `its replay began in an offloaded ledger on ${last.replayStartOffloaded} of ${last.partitions} partitions` },
    ];
    return {
      runId, dataDir: options.dataDir, offloadDir: options.offloadDir, topics, partitions: PARTITIONS, events: options.events, epochsRun: epochs.length,
      ingest: { published: ingested.published, stored: eventsStored, ms: ingested.ms, msgPerS: ingested.published / Math.max(ingested.ms, 1) * 1000 },
      features: {
        workers, perWorker, published: counts.published, stored: featuresStored, retriesDropped: counts.retriesDropped, retriesStored: counts.retriesStored,
        redeliveriesDropped: counts.redeliveriesDropped, misrouted: counts.misrouted, ms: featuresMs, msgPerS: counts.published / Math.max(featuresMs, 1) * 1000,
      },
      model: {
        users: world.users, ads: world.ads, learningRate, oracleAccuracy: ingested.oracleAccuracy, baselineAccuracy: ingested.baselineAccuracy, holdoutEvents: ingested.holdoutEvents,
      },
      epochs,
      accuracy: { first: first.accuracy, last: last.accuracy, gain, improved: gain > 0 },
      storage,
      offload: { offloadedLedgers: Object.values(storage).reduce((n, t) => n + t.offloadedLedgers, 0), lastEpochStartedOffloaded: lastStartedOffloaded },
      checks,
      ok: checks.every((c) => c.ok),
      elapsedMs: Date.now() - started,
    };
  } finally {
    await stopMonitor?.();
    await pool?.terminate();
    await trainer?.close().catch(() => undefined);
    await broker.close();
  }
}
