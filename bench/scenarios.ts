/** The registered benchmark scenarios, in the order they run. One file per scenario beside this one. */
import type { Scenario } from './harness.js';

export const scenarios: Scenario[] = [];
