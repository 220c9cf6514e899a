import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { tempDir } from './helpers.js';

// In a child process: the guard holds Node's uncaught-exception capture callback while a call is
// in flight, and must hand any error that is not a wasm panic back to Node's usual handling.
test('guardWasm lets errors that are not wasm panics reach the process as usual', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const script = join(dir, 'guard-child.mts');
    await writeFile(script, `
      import { guardWasm } from ${JSON.stringify(resolve('src/io/parquet-guard.ts'))};
      process.on('uncaughtException', (e) => { console.log('seen: ' + e.message); process.exit(3); });
      const p = guardWasm(() => new Promise((r) => setTimeout(r, 2000)));
      setTimeout(() => { throw new Error('unrelated'); }, 10);
      await p;
      console.log('guard swallowed it');
    `);
    const res = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: process.cwd(), timeout: 30_000 });
    assert.equal(res.stdout.trim(), 'seen: unrelated', res.stderr);
    assert.equal(res.status, 3);
  } finally {
    await cleanup();
  }
});
