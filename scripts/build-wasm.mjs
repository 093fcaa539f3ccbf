// Compiles the AssemblyScript hot path (wasm/assembly) to dist/wasm/millrace.wasm.
// Runs from `npm install` (prepare) so a fresh clone needs nothing else.
import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const asc = require.resolve('assemblyscript/bin/asc.js');
mkdirSync(new URL('../dist/wasm/', import.meta.url), { recursive: true });
const r = spawnSync(process.execPath, [asc, 'wasm/assembly/index.ts',
  '--outFile', 'dist/wasm/millrace.wasm',
  '--optimizeLevel', '3', '--shrinkLevel', '0', '--noAssert',
  // 16-byte vector copies in frameColumns (wasm/assembly/columns.ts); Node 20's V8 has wasm SIMD on
  // every platform it supports.
  '--enable', 'simd',
  // The module never allocates (fixed regions, see wasm/assembly/memory.ts): no GC, no runtime exports.
  '--runtime', 'stub',
  // Fixed memory: growth would detach every view the loader holds (design notes, pitfalls).
  '--initialMemory', '256', '--maximumMemory', '256',
  // abort() is the only import; the loader supplies it (nothing in the module should reach it).
  ], { stdio: 'inherit', cwd: new URL('..', import.meta.url).pathname });
process.exit(r.status ?? 1);
