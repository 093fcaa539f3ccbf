import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CODES, MillraceError } from '../index.js';

// The README's error table is what users read: every code, with its retriability, and nothing else.
test('errors - the README lists every error code with its retriability, and no code that does not exist', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const rows = new Map([...readme.matchAll(/^\| `([A-Z_]+)` \| (yes|no) \|/gm)].map((m) => [m[1]!, m[2] === 'yes']));
  for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
    assert.ok(rows.has(code), `README misses ${code}`);
    assert.equal(rows.get(code), new MillraceError(code, '').retriable, `README's retriable column for ${code}`);
  }
  for (const code of rows.keys()) assert.ok(code in ERROR_CODES, `README lists ${code}, which is not a code`);
});
