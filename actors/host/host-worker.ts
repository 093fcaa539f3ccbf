/**
 * The piscina worker module. Each pool thread runs exactly one task, the host loop, for its whole
 * life: piscina gives the thread's lifecycle (start, replace on death, destroy) and nothing per
 * message, since a task dispatch costs 30-80 us here.
 */
import { existsSync } from 'node:fs';
import { runHost, type HostInit } from './host-loop.js';

// Tests only: while the file this names exists, a worker fails as it starts (a module that cannot
// load), the way piscina reports as a pool error rather than a failed task. Unset, nothing happens.
const failStartWhile = process.env['MILLRACE_TEST_FAIL_WORKER_START'];
if (failStartWhile !== undefined && failStartWhile !== '' && existsSync(failStartWhile)) {
  throw new Error(`host worker start failed on purpose (${failStartWhile} exists)`);
}

export default function host(init: HostInit): Promise<void> {
  return runHost(init);
}
