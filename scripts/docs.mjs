// `npm run docs`: the API reference (TypeDoc) in docs/api. TypeDoc needs TypeScript 5.9's compiler
// API, which TypeScript 7 (what the project builds with) does not have, so it runs from its own small
// package in scripts/docs, installed on first use from its lockfile.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const tool = fileURLToPath(new URL('./docs/', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit', shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
if (!existsSync(`${tool}node_modules/typedoc`)) run('npm', ['ci', '--no-audit', '--no-fund'], tool);
run(process.execPath, [`${tool}node_modules/typedoc/bin/typedoc`, ...process.argv.slice(2)], root);
