#!/usr/bin/env node
// Runs every test/**/*.test.ts with node's own test runner (TypeScript through tsx).
// Node 20's runner does not expand globs itself, hence this file. Extra args filter by path substring.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const filters = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('--'));
const files = readdirSync('test', { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.test.ts'))
  .map((f) => join('test', f))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error(`test: no test file matches ${filters.join(', ')}`);
  process.exit(1);
}
const concurrency = process.env.VRDATA_TEST_CONCURRENCY ?? '2';
const reporter = process.stdout.isTTY ? 'spec' : 'tap';
const res = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, `--test-reporter=${reporter}`, ...passthrough, ...files],
  { stdio: 'inherit', env: { ...process.env, VRDATA_TEST: '1' } },
);
process.exit(res.status ?? 1);
