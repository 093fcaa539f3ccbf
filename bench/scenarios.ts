/** The registered benchmark scenarios, in the order they run. One file per topology beside this one. */
import type { Scenario } from './harness.js';
import { scenarios as frame } from './frame.js';
import { scenarios as ring } from './ring.js';
import { scenarios as log } from './log.js';
import { scenarios as actor } from './actor.js';
import { scenarios as e2e } from './e2e.js';
import { scenarios as queue } from './queue.js';
import { scenarios as offload } from './offload.js';
import { scenarios as tiered } from './tiered.js';

export const scenarios: Scenario[] = [...frame, ...ring, ...log, ...actor, ...e2e.map(whole), ...queue.map(whole), ...offload, ...tiered];

/** The e2e workloads and the queue give one figure a run: the runner takes the median of its rounds. */
function whole(s: Scenario): Scenario {
  return { ...s, whole: true };
}
