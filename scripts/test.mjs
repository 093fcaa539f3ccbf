// Runs every compiled test file under dist/test with Node's test runner (spec reporter, whose
// closing summary CI reads). Files run one at a time: crash and worker tests each use both cores.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js')) files.push(p);
  }
})(root);
const only = process.argv.slice(2);
const selected = only.length ? files.filter((f) => only.some((o) => f.includes(o))) : files;
if (selected.length === 0) {
  console.error('no test files found under dist/test');
  process.exit(1);
}
// A test that fails half-way may leave workers or timers behind: force the exit once a file's tests
// are done, and bound each test, so a failure is reported instead of hanging CI. Soak runs are long.
const timeout = process.env.MILLRACE_SOAK === '1' ? 3_600_000 : 180_000;
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', '--test-concurrency=1', '--test-force-exit', `--test-timeout=${timeout}`, ...selected], {
  stdio: 'inherit',
});
process.exit(r.status ?? 1);
