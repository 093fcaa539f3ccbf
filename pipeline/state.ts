/**
 * What the pipeline reports: the live state the terminal view draws while it runs, and the summary
 * it returns at the end (printed as text, or as JSON with `--json`).
 */

/** A stage's progress: `done` of `total`, timed. */
export interface StageProgress {
  done: number;
  total: number;
  startedAt?: number;
  endedAt?: number;
}

/** One training epoch's results. */
export interface EpochResult {
  epoch: number;
  /** Mean log loss over the training examples during the pass (each taken before its step; unweighted). */
  trainLoss: number;
  /** Mean log loss on the held-out events after the epoch. */
  holdoutLoss: number;
  /** Accuracy on the held-out events after the epoch (threshold 0.5). */
  accuracy: number;
  /** Hard examples of the previous epoch consumed from the feedback topic and weighted up in this one. */
  weightedExamples: number;
  /** Misclassified training events this epoch published to the feedback topic. */
  feedbackPublished: number;
  /** Messages this epoch's training replay read, and how many distinct events they were. */
  replayed: number;
  distinctEvents: number;
  /** Partitions whose replay began in a ledger that was offloaded when the epoch started, of all partitions. */
  replayStartOffloaded: number;
  partitions: number;
  trainMs: number;
  scoreMs: number;
}

/** Storage of one topic: ledgers (those with a complete offload) and bytes by tier. */
export interface TopicStorage {
  ledgers: number;
  offloadedLedgers: number;
  localBytes: number;
  offloadedBytes: number;
}

/** What the live view reads; the pipeline updates it as it goes. */
export interface LiveState {
  runId: string;
  dataDir: string;
  offloadDir: string;
  startedAt: number;
  phase: string;
  ingest: StageProgress;
  features: StageProgress & { retriesDropped: number; workers: number };
  /** The epoch being trained or scored now. */
  current?: StageProgress & { epoch: number; step: 'train' | 'score' };
  /** Backlog per subscription, labelled `topic/subscription`. */
  backlog: Record<string, number>;
  /** Per topic (short name). */
  storage: Record<string, TopicStorage>;
  epochs: EpochResult[];
}

/** The run's result; `checks` lists what was verified, each with whether it held. */
export interface PipelineSummary {
  runId: string;
  dataDir: string;
  offloadDir: string;
  topics: { events: string; features: string; feedback: string };
  partitions: number;
  events: number;
  epochsRun: number;
  ingest: { published: number; stored: number; ms: number; msgPerS: number };
  features: {
    workers: number;
    /** Features stored per worker. */
    perWorker: number[];
    published: number;
    stored: number;
    retriesDropped: number;
    retriesStored: number;
    redeliveriesDropped: number;
    misrouted: number;
    ms: number;
    msgPerS: number;
  };
  model: { users: number; ads: number; learningRate: number; oracleAccuracy: number; baselineAccuracy: number; holdoutEvents: number };
  epochs: EpochResult[];
  accuracy: { first: number; last: number; gain: number; improved: boolean };
  storage: Record<string, TopicStorage>;
  offload: { offloadedLedgers: number; lastEpochStartedOffloaded: boolean };
  checks: { name: string; ok: boolean; detail: string }[];
  ok: boolean;
  elapsedMs: number;
}
