/**
 * The piscina worker module. Each pool thread runs exactly one task, the host loop, for its whole
 * life: piscina gives the thread's lifecycle (start, replace on death, destroy) and nothing per
 * message, since a task dispatch costs 30-80 us here.
 */
import { runHost, type HostInit } from './host-loop.js';

export default function host(init: HostInit): Promise<void> {
  return runHost(init);
}
