/**
 * Ingest: a named producer streams the synthetic events into the partitioned events topic, keyed by
 * user, each with its event number as sequence ID (so a restarted ingest would be deduplicated and
 * the feature workers can derive their own sequence IDs from it).
 */
import type { Broker } from '../index.js';
import { encodeEvent } from './codec.js';
import { isHoldout, type SyntheticWorld } from './synthetic.js';
import type { StageProgress } from './state.js';

export interface IngestResult {
  published: number;
  ms: number;
  /** On the held-out events: the hidden model's accuracy and the majority class's share. */
  oracleAccuracy: number;
  baselineAccuracy: number;
  holdoutEvents: number;
}

// Sends in flight at most: a sliding window, each send waits for the one issued WINDOW before.
const WINDOW = 20_000;

export async function ingest(broker: Broker, topic: string, world: SyntheticWorld, progress: StageProgress): Promise<IngestResult> {
  const producer = await broker.createProducer({ topic, name: 'ingest', batching: { maxMessages: 1000, maxDelayMs: 2 } });
  const n = world.events;
  let holdout = 0;
  let oracle = 0;
  let clicks = 0;
  progress.startedAt = Date.now();
  const window: (Promise<unknown> | undefined)[] = new Array(WINDOW);
  const sent = (): void => {
    progress.done++;
  };
  try {
    for (let i = 0; i < n; i++) {
      const e = world.next(i);
      if (isHoldout(i)) {
        holdout++;
        clicks += e.clicked;
        if ((world.trueLogit(e) > 0 ? 1 : 0) === e.clicked) oracle++;
      }
      const slot = i % WINDOW;
      if (window[slot]) await window[slot];
      window[slot] = producer.send({ value: encodeEvent(e), key: `user-${e.user}`, sequenceId: i }).then(sent);
    }
    await Promise.all(window);
  } finally {
    await producer.close();
  }
  progress.endedAt = Date.now();
  return {
    published: n, ms: progress.endedAt - progress.startedAt, holdoutEvents: holdout,
    oracleAccuracy: holdout ? oracle / holdout : 0, baselineAccuracy: holdout ? Math.max(clicks, holdout - clicks) / holdout : 0,
  };
}
