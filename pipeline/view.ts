/**
 * The live terminal view, on stderr: on a terminal, a block of lines redrawn in place a few times a
 * second (progress bars with rates, backlog per subscription, local and offloaded bytes, and a row
 * per finished epoch); otherwise plain lines, one per milestone and a progress line every few
 * seconds, so a log file or CI output reads top to bottom.
 */
import type { LiveState, StageProgress } from './state.js';
import { bytes, fixed, int, rate, seconds } from './format.js';

const BAR = 24;
const TTY_EVERY_MS = 150;
const PLAIN_EVERY_MS = 3000;

function bar(done: number, total: number): string {
  const filled = total > 0 ? Math.min(BAR, Math.round((done / total) * BAR)) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]`;
}

function stageRate(s: StageProgress, now: number): string {
  if (s.startedAt === undefined) return '';
  return rate(s.done, (s.endedAt ?? now) - s.startedAt);
}

function stageLine(label: string, s: StageProgress, now: number, extra = ''): string {
  const state = s.startedAt === undefined ? 'waiting' : s.endedAt !== undefined ? 'done' : '';
  return `${label.padEnd(10)}${bar(s.done, s.total)} ${int(s.done).padStart(11)}/${int(s.total)}  ${stageRate(s, now)}  ${state}${extra}`.trimEnd();
}

/** The lines of the live block. */
export function renderLines(state: LiveState, now: number): string[] {
  const lines = [`millrace pipeline ${state.runId}  ${state.phase}  ${seconds(now - state.startedAt)}`];
  lines.push(stageLine('ingest', state.ingest, now));
  lines.push(stageLine('features', state.features, now, `  ${state.features.workers} workers, ${int(state.features.retriesDropped)} republishes dropped by dedup`));
  if (state.current) lines.push(stageLine(`epoch ${state.current.epoch}`, state.current, now, `  ${state.current.step === 'train' ? 'training' : 'scoring'}`));
  const backlog = Object.entries(state.backlog).map(([k, v]) => `${k} ${int(v)}`).join('   ');
  lines.push(`backlog   ${backlog || '-'}`);
  for (const [topic, s] of Object.entries(state.storage)) {
    lines.push(`storage   ${topic.padEnd(9)} ${bytes(s.localBytes).padStart(10)} local  ${bytes(s.offloadedBytes).padStart(10)} offloaded  (${s.offloadedLedgers} of ${s.ledgers} ledgers offloaded)`);
  }
  if (state.epochs.length > 0) {
    lines.push('epoch  train loss  holdout loss  accuracy  hard examples in/out  replay began offloaded');
    for (const e of state.epochs) {
      lines.push(`${String(e.epoch).padEnd(7)}${fixed(e.trainLoss).padEnd(12)}${fixed(e.holdoutLoss).padEnd(14)}${fixed(e.accuracy).padEnd(10)}` +
        `${`${int(e.weightedExamples)}/${int(e.feedbackPublished)}`.padEnd(23)}${e.replayStartOffloaded} of ${e.partitions} partitions`);
    }
  }
  return lines;
}

export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private drawn = 0;
  private lastPlain = 0;
  private stopped = false;

  constructor(private readonly state: LiveState, private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number },
    private readonly tty = out.isTTY === true) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.tty ? TTY_EVERY_MS : 500);
    this.timer.unref();
    this.tick();
  }

  /** A milestone: printed above the live block on a terminal, as a plain line otherwise. */
  log(line: string): void {
    if (this.tty) {
      this.clear();
      this.out.write(`${line}\n`);
      this.draw();
    } else {
      this.out.write(`${line}\n`);
    }
  }

  /** Draws the final state (on a terminal) and stops refreshing. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) {
      this.clear();
      this.draw();
      this.drawn = 0;
    }
  }

  private tick(): void {
    if (this.tty) {
      this.clear();
      this.draw();
      return;
    }
    const now = Date.now();
    if (now - this.lastPlain < PLAIN_EVERY_MS) return;
    this.lastPlain = now;
    const s = this.state;
    const active = s.current ? { label: `epoch ${s.current.epoch} ${s.current.step}`, p: s.current }
      : s.features.startedAt !== undefined && s.features.endedAt === undefined ? { label: 'features', p: s.features }
        : s.ingest.startedAt !== undefined && s.ingest.endedAt === undefined ? { label: 'ingest', p: s.ingest } : undefined;
    if (!active) return;
    const local = Object.values(s.storage).reduce((a, t) => a + t.localBytes, 0);
    const off = Object.values(s.storage).reduce((a, t) => a + t.offloadedBytes, 0);
    const backlog = Object.entries(s.backlog).map(([k, v]) => `${k} ${int(v)}`).join(', ');
    this.out.write(`  ${active.label}: ${int(active.p.done)}/${int(active.p.total)} (${stageRate(active.p, now)}); backlog ${backlog || '-'}; ` +
      `storage ${bytes(local)} local, ${bytes(off)} offloaded\n`);
  }

  private clear(): void {
    // Up to the first line of the block, then erase to the end of the screen.
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    // Lines cut to the terminal's width: a wrapped line would break the count of lines to move up.
    const width = Math.max(20, (this.out.columns ?? 120) - 1);
    const lines = renderLines(this.state, Date.now()).map((l) => (l.length > width ? l.slice(0, width) : l));
    this.out.write(`${lines.join('\n')}\n`);
    this.drawn = lines.length;
  }
}
