/** Runs the real `millrace` binary (dist/cli/main.js) in a child process, for the CLI tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `millrace ...args` with `input` on stdin (closed at once when absent); rejects after `timeoutMs`. */
export function cli(args: string[], options: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`millrace ${args.join(' ')} did not finish in ${options.timeoutMs ?? 20_000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Starts `millrace ...args` and resolves once its stderr contains `ready`; the caller ends it. */
export function cliBackground(args: string[], ready: string): Promise<{ child: ChildProcess; done: Promise<CliResult> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let started = false;
    const done = new Promise<CliResult>((res) => child.on('close', (code, signal) => res({ code, signal, stdout, stderr })));
    const guard = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`millrace ${args.join(' ')} never printed ${JSON.stringify(ready)}; stderr: ${stderr}`));
    }, 20_000);
    child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!started && stderr.includes(ready)) {
        started = true;
        clearTimeout(guard);
        resolve({ child, done });
      }
    });
    void done.then((r) => {
      if (!started) {
        clearTimeout(guard);
        reject(new Error(`millrace ${args.join(' ')} exited (${r.code}) before ${JSON.stringify(ready)}: ${r.stderr}`));
      }
    });
  });
}

/** Lines of output, without the empty one after the last newline. */
export const lines = (s: string): string[] => s.split('\n').filter((l, i, all) => l.length > 0 || i < all.length - 1);

/** JSON lines of output. */
export const jsonLines = (s: string): Record<string, unknown>[] => lines(s).map((l) => JSON.parse(l) as Record<string, unknown>);

/** Asserts the failure contract: the given exit code and exactly one line on stderr naming the code. */
export function oneLineError(r: CliResult): string {
  const errLines = lines(r.stderr);
  if (errLines.length !== 1) throw new Error(`expected one line on stderr, got ${errLines.length}: ${r.stderr}`);
  return errLines[0]!;
}
