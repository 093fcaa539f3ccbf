import type { Scenario } from './harness.js';

/** Scenarios of this file; see bench/scenarios.ts. */
export const scenarios: Scenario[] = [];
