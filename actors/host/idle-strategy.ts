/**
 * What a thread that serves rings does when it runs out of work: park (a futex wait; the next
 * writer pays a notify and the sleeper a wake-up) or spin (keep polling its rings, so the next
 * record is seen within microseconds and the core stays warm).
 *
 * Waking a parked thread costs tens of microseconds here and, about once in a hundred, over half a
 * millisecond; a partition's append path has two of them (client to host, host to client). Spinning
 * removes them but takes a whole core while it lasts, which a loaded machine cannot give: a host that
 * lingered 0.2 ms before parking measured 5% slower in e2e.pubsub, where every core has work. So the
 * default, `adaptive`, spins only while traffic is recent and at least one core would otherwise be
 * idle, judged from the process's and the machine's CPU time over the last 100 ms (the thread's own
 * spinning counted as idle). That is Aeron's and the LMAX Disruptor's idle strategies (busy-spin,
 * backoff, park), with the choice made from measured spare CPU instead of by the deployer.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';

/**
 * - `adaptive` (default): spin between requests while traffic is recent (the last 5 ms) and a core
 *   is spare (never with fewer than two usable cores); park otherwise.
 * - `spin`: spin while traffic is recent, whatever else needs the CPU, every host (cores set aside
 *   for the broker).
 * - `park`: never spin beyond a few microseconds of re-checks; the least CPU.
 */
export type IdleStrategy = 'adaptive' | 'spin' | 'park';

export const IDLE_STRATEGIES: readonly IdleStrategy[] = ['adaptive', 'spin', 'park'];

/** Spin only while the thread found work this recently. */
const RECENT_MS = 5;
/**
 * Longest stretch of polling before the event loop gets a turn, when a write's completion can be
 * waiting there (LMDB's writer thread reports commits through the event loop).
 */
export const SLICE_MS = 0.05;
/**
 * The same when nothing urgent comes through the event loop (timers and control messages only, as
 * when writes commit on the thread itself). Each turn of the event loop leaves about 200 bytes of
 * garbage (the Immediate and its bookkeeping); at 20,000 turns a second that was a young collection
 * of a spinning host's heap every few hundred milliseconds.
 */
export const LONG_SLICE_MS = 0.5;
/** Bounds a slice's checks should a check ever be near free. */
const MAX_CHECKS = 1 << 24;
/** How often spare CPU is measured. */
const SAMPLE_MS = 100;
/**
 * Spare cores needed to spin. A spinning thread takes a whole core; CPU times come in 10 ms ticks
 * per core, so 100 ms of two cores is known to about a tenth of a core.
 */
const SPARE_CORES = 0.9;

/** CPU time counters: the process's (all threads) and the machine's idle time, in ms. */
export interface CpuCounters {
  wallMs: number;
  processMs: number;
  /** Idle time summed over the machine's cores, or NaN when the platform does not report it. */
  idleMs: number;
}

export function readCpuCounters(): CpuCounters {
  const u = process.cpuUsage();
  return { wallMs: performance.now(), processMs: (u.user + u.system) / 1000, idleMs: machineIdleMs() };
}

/**
 * The machine's idle time. On Linux from the first line of /proc/stat (one small read, about 10 us):
 * os.cpus() also reads /proc/cpuinfo and every core's frequency file, which on a many-core machine
 * takes long enough to stall a host's loop every 100 ms. Elsewhere os.cpus().
 */
function machineIdleMs(): number {
  const ticks = procStatIdleTicks();
  if (ticks === undefined) return cpusIdleMs();
  // /proc/stat counts USER_HZ ticks (100 a second nearly everywhere): calibrated once against os.cpus().
  msPerTick ??= cpusIdleMs() / ticks;
  return Number.isFinite(msPerTick) && msPerTick > 0 ? ticks * msPerTick : cpusIdleMs();
}

let msPerTick: number | undefined;
let procStatMissing = process.platform !== 'linux';
const procStatLine = Buffer.alloc(256);

/** The `idle` field of /proc/stat's all-cores line, or undefined where there is none. */
function procStatIdleTicks(): number | undefined {
  if (procStatMissing) return undefined;
  let fd = -1;
  try {
    fd = openSync('/proc/stat', 'r');
    const n = readSync(fd, procStatLine, 0, procStatLine.length, 0);
    // "cpu  user nice system idle iowait ...": the fifth word.
    const idle = Number(procStatLine.toString('latin1', 0, n).split(/\s+/, 5)[4]);
    if (Number.isFinite(idle)) return idle;
  } catch {
    // A sandbox without /proc: os.cpus() from now on.
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  procStatMissing = true;
  return undefined;
}

function cpusIdleMs(): number {
  const cores = cpus();
  let idle = 0;
  for (const c of cores) idle += c.times.idle;
  return cores.length > 0 ? idle : NaN;
}

/**
 * One spinner per process at a time: a word in shared memory (0 free, else the holder's ID) that a
 * thread takes to spin and gives back when it parks. Without it, every host of a many-core machine
 * with traffic would spin, up to every idle core; with it, the cost is bounded to one core.
 */
export class SpinToken {
  private constructor(readonly buffer: SharedArrayBuffer, private readonly i32 = new Int32Array(buffer)) {}

  static create(): SpinToken {
    return new SpinToken(new SharedArrayBuffer(4));
  }

  static attach(buffer: SharedArrayBuffer): SpinToken {
    return new SpinToken(buffer);
  }

  /** Takes the token for `holder` (non-zero), or confirms it holds it already. */
  take(holder: number): boolean {
    const was = Atomics.compareExchange(this.i32, 0, 0, holder);
    return was === 0 || was === holder;
  }

  /** Gives the token back if `holder` has it (also what the system does for a holder that died). */
  release(holder: number): void {
    Atomics.compareExchange(this.i32, 0, holder, 0);
  }
}

/**
 * Decides, for one thread, whether to spin or park when it has no work. Each thread has its own
 * and counts its own spinning; under `adaptive`, a shared {@link SpinToken} lets only one of them
 * spin at a time.
 */
export class IdleGate {
  private last: CpuCounters | undefined;
  private spunMs = 0;
  /**
   * hasWork() checks in a slice, fitted to take about the slice's length. The clock is read only at
   * the ends: each performance.now() leaves a boxed number, and reading it every few microseconds
   * made the clock most of a spinning host's garbage (384 of 800 bytes a slice, measured with the sampling
   * heap profiler; every young collection is a pause a request can arrive in).
   */
  private checks = 16;
  private spare = false;

  constructor(
    private readonly strategy: IdleStrategy,
    /** The process's spin token and this thread's non-zero ID for it; none: no limit. */
    private readonly token: { token: SpinToken; holder: number } | undefined,
    private readonly read: () => CpuCounters = readCpuCounters,
    /** Cores this process may use. */
    private readonly cores: number = usableCores(),
    /** The clock of `lastWorkMs` and of the counters' `wallMs`. */
    private readonly clock: () => number = () => performance.now(),
    /** How long one spin() polls at most: {@link SLICE_MS} or {@link LONG_SLICE_MS}. */
    private readonly sliceMs: number = SLICE_MS,
  ) {}

  /**
   * Spins up to one slice while `lastWorkMs` (performance.now() of the last work found) is recent
   * and the strategy allows. Returns true when `hasWork` came true; false when the slice ended
   * without work (the caller yields to its event loop and asks again); undefined when the thread
   * should park instead.
   */
  spin(lastWorkMs: number, hasWork: () => boolean): boolean | undefined {
    if (this.strategy === 'park') return undefined;
    const now = this.clock();
    if (now - lastWorkMs > RECENT_MS || (this.strategy === 'adaptive' && !this.coreIsSpare(now))) return this.park();
    if (this.strategy === 'adaptive' && this.token && !this.token.token.take(this.token.holder)) return undefined;
    const start = performance.now();
    const checks = this.checks;
    let found = false;
    let i = 0;
    while (i < checks && !(found = hasWork())) i++;
    const took = performance.now() - start;
    // A check costs tens of nanoseconds per client thread: fit the count to the time it took.
    if (!found) {
      // Steps of a quarter, so slices settle near their length rather than anywhere in a factor of four.
      if (took < this.sliceMs * 0.75 && checks < MAX_CHECKS) this.checks = checks + (checks >> 2) + 1;
      else if (took > this.sliceMs * 1.5 && checks > 1) this.checks = checks - (checks >> 2);
    }
    this.spunMs += took;
    return found;
  }

  private park(): undefined {
    this.token?.token.release(this.token.holder);
    return undefined;
  }

  private coreIsSpare(now: number): boolean {
    // With one core the thread it waits for cannot run while it spins: spinning only delays it.
    if (this.cores < 2) return false;
    const last = this.last;
    if (last !== undefined && now - last.wallMs < SAMPLE_MS) return this.spare;
    const c = this.read();
    this.last = c;
    const spun = this.spunMs;
    this.spunMs = 0;
    if (last === undefined) return (this.spare = false);
    const wall = c.wallMs - last.wallMs;
    // What the rest of the process and the machine leave idle, with this thread's spinning idle.
    const processSpare = this.cores - (c.processMs - last.processMs - spun) / wall;
    const machineSpare = Number.isNaN(c.idleMs) ? processSpare : (c.idleMs - last.idleMs + spun) / wall;
    return (this.spare = Math.min(processSpare, machineSpare) >= SPARE_CORES);
  }
}

/**
 * Cores the process may use: the scheduler's count, lowered by a CPU quota of a Linux cgroup
 * (a container's CPU limit, which the core count does not show). A spinner in a container limited
 * to one core on a large idle machine would otherwise spend the container's whole quota.
 */
export function usableCores(): number {
  let cores = availableParallelism();
  const quota = cgroupQuota();
  if (quota !== undefined && quota < cores) cores = quota;
  return cores;
}

function cgroupQuota(): number | undefined {
  // cgroup v2: "max 100000" or "<quota> <period>"; v1: two files, quota -1 when unlimited.
  const v2 = readSmall('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2 && v2.length === 2 && v2[0] !== 'max') return Number(v2[0]) / Number(v2[1]);
  const q = Number(readSmall('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
  const p = Number(readSmall('/sys/fs/cgroup/cpu/cpu.cfs_period_us'));
  return q > 0 && p > 0 ? q / p : undefined;
}

function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'latin1');
  } catch {
    return undefined;
  }
}
