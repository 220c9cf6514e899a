/**
 * Crash safety, the headline of issue 2: `prepare` (parts 4, two output tables) runs in a child
 * process that is SIGKILLed at >= 10 points: inside Parquet row-group writes, after a file is complete
 * but not renamed, between renames and manifests, and at random times. After every kill the manifests
 * on disk must still vouch only for intact files; a rerun to completion must give output row-for-row
 * identical (DuckDB, stored order per part) to an uninterrupted run, with no temp file left.
 * Kill points come from a seeded RNG: set VRDATA_CRASH_SEED to replay a failure (hook points replay
 * exactly; timed kills replay as the same fractions of the reference run's measured duration).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile, readFile, readdir, cp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { tempDir } from '../helpers/tmp.js';
import { duckdbRows } from '../helpers/duckdb.js';
import { checkManifests, tempFiles } from '../helpers/run-folder.js';
import { prepareInProcess } from '../helpers/prepare.js';
import { partPath } from '../../src/pipeline/layout.js';
import { REPO_ROOT } from '../helpers/cli.js';

const PARTS = 4;
// Enough for several row groups per part (1,024 rows each) and a run of a few seconds on two cores.
const ROWS = 6_000;
const TABLES = ['samples', 'quarantine'];
const CHILD = join(REPO_ROOT, 'test', 'pipeline', 'crash-child.ts');

/** mulberry32: small, seedable, good enough to spread kill points. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** ROWS Bespoke-style rows of ~0.6 KB; every 97th is cut off (quarantine), every 501st repeats an earlier one. */
async function writeInput(path: string, random: () => number): Promise<void> {
  const lines: string[] = [];
  const filler = (n: number) => Array.from({ length: n }, () => 'lorem ipsum dolor sit amet'[Math.floor(random() * 26)]).join('');
  for (let i = 0; i < ROWS; i++) {
    if (i % 501 === 500) {
      lines.push(lines[i - 400]!);
      continue;
    }
    let answer = `<|begin_of_thought|>\n\n${filler(100 + Math.floor(random() * 400))}\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\nso \\boxed{${i}}\n\n<|end_of_solution|>`;
    if (i % 97 === 0) answer = answer.slice(0, 200);
    lines.push(JSON.stringify({ system: 'sys', conversations: [{ from: 'user', value: `Problem ${i}: ${filler(60)}` }, { from: 'assistant', value: answer }] }));
  }
  await writeFile(path, lines.join('\n') + '\n');
}

interface ChildRun { code: number | null; signal: NodeJS.Signals | null; stdout: string; workMs: number }

/** Runs the child; kills it `killAfterMs` after it is ready (if given). Never waits longer than 120 s. */
function runChild(env: Record<string, string>, killAfterMs?: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readyAt = 0;
    let hung = false;
    const guard = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, 120_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (!readyAt && stdout.includes('ready\n')) {
        readyAt = Date.now();
        if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(guard);
      if (hung) reject(new Error(`crash child hung for 120 s: ${stderr}`));
      else if (code !== 0 && signal === null) reject(new Error(`crash child failed (exit ${code}): ${stderr}`));
      else resolve({ code, signal, stdout, workMs: readyAt ? Date.now() - readyAt : 0 });
    });
  });
}

/** Every part of every table, rows in stored order, as DuckDB reads them. */
async function snapshot(runDir: string): Promise<Record<string, Record<string, unknown>[][]>> {
  const out: Record<string, Record<string, unknown>[][]> = {};
  for (const table of TABLES) {
    out[table] = [];
    for (let p = 0; p < PARTS; p++) out[table]!.push(await duckdbRows(partPath(runDir, table, p, PARTS)));
  }
  return out;
}

async function assertManifestsVouchOnlyForIntactFiles(runDir: string, label: string): Promise<number> {
  let count = 0;
  for (const table of TABLES) {
    let checks: Awaited<ReturnType<typeof checkManifests>> = [];
    try {
      checks = await checkManifests(runDir, table);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // the folder may not exist yet
    }
    for (const c of checks) assert.deepEqual(c.problems, [], `${label}: ${table} part ${c.part}: a manifest vouches for a bad file`);
    count += checks.length;
  }
  return count;
}

/** Temp files left by the killed child: size, and whether they end in a Parquet footer (complete). */
async function tempInfo(runDir: string): Promise<{ size: number; complete: boolean }[]> {
  const out: { size: number; complete: boolean }[] = [];
  for (const table of TABLES) {
    let names: string[] = [];
    try {
      names = await readdir(join(runDir, table));
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.tmp')) continue;
      const bytes = await readFile(join(runDir, table, name));
      out.push({ size: bytes.length, complete: bytes.length >= 12 && bytes.subarray(bytes.length - 4).toString('latin1') === 'PAR1' });
    }
  }
  return out;
}

test('SIGKILL at 12 points (several inside Parquet writes), rerun: output identical to an uninterrupted run', { timeout: 600_000 }, async (t) => {
  const seed = Number(process.env.VRDATA_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`crash seed ${seed} (VRDATA_CRASH_SEED=${seed} replays it)`);
  console.log(`# crash seed ${seed}`);
  const random = rng(seed);
  const { dir, cleanup } = await tempDir();
  try {
    const input = join(dir, 'input.jsonl');
    await writeInput(input, random);
    const env = (runDir: string, kill: string, extra: Record<string, string> = {}) => ({ CRASH_INPUT: input, CRASH_RUN_DIR: runDir, CRASH_PARTS: String(PARTS), CRASH_KILL: kill, ...extra });

    // The uninterrupted reference, in a child like the others; it also counts the hook points.
    const reference = join(dir, 'reference');
    const base = await runChild(env(reference, 'none'));
    assert.equal(base.code, 0);
    const counts = JSON.parse(/counts (.*)/.exec(base.stdout)![1]!) as { flushes: number; closes: number; renames: number };
    assert.equal(counts.closes, PARTS * TABLES.length);
    assert.equal(counts.renames, 2 * PARTS * TABLES.length, 'a rename per Parquet file and per manifest');
    assert.ok(counts.flushes >= PARTS * TABLES.length, 'several row groups');
    const expected = await snapshot(reference);
    const total = expected.samples!.flat().length + expected.quarantine!.flat().length;
    assert.equal(total, ROWS, 'every input row is a sample or quarantined');
    assert.ok(expected.quarantine!.flat().some((r) => /duplicate of/.test(String(r.reason))));
    for (const table of TABLES) assert.equal(new Set(expected[table]!.flat().map((r) => r.sample_id)).size, expected[table]!.flat().length, `${table}: no duplicates`);

    const pick = (n: number) => 1 + Math.floor(random() * n);
    const plan = [
      ...Array.from({ length: 5 }, () => `flush:${pick(counts.flushes)}`),
      ...Array.from({ length: 2 }, () => `close:${pick(counts.closes)}`),
      ...Array.from({ length: 2 }, () => `rename:${pick(counts.renames)}`),
      ...Array.from({ length: 3 }, () => `time:${Math.floor(base.workMs * (0.05 + 0.9 * random()))}`),
    ];
    let kills = 0;
    let killsMidWrite = 0;
    let previous: string | undefined;
    for (const [i, point] of plan.entries()) {
      const label = `kill ${i} at ${point}`;
      const runDir = join(dir, `run-${i}`);
      // Odd scenarios resume over a finished run whose fingerprint changed (a harmless parameter), so
      // the killed run replaces old files; even ones start from nothing.
      const stale = i % 2 === 1 && previous !== undefined;
      const extra: Record<string, string> = stale ? { CRASH_MAX_ROW_CHARS: '3000000' } : {};
      const [kind, value] = point.split(':') as [string, string];
      let child: ChildRun | undefined;
      // A timed kill can come after the child finished (the machine got faster): retry sooner.
      for (let delay = Number(value), attempt = 0; attempt < 3 && child?.signal !== 'SIGKILL'; attempt++, delay = Math.floor(delay / 2)) {
        await rm(runDir, { recursive: true, force: true });
        if (stale) await cp(previous!, runDir, { recursive: true });
        child = await runChild(env(runDir, kind === 'time' ? 'none' : point, extra), kind === 'time' ? delay : undefined);
        if (kind !== 'time') break;
      }
      if (child!.signal === 'SIGKILL') kills++;
      else assert.equal(kind, 'time', `${label}: the self-kill happened`);
      const temps = await tempInfo(runDir);
      // Inside a Parquet write: bytes on disk under the temp name, no footer yet.
      if (child!.signal === 'SIGKILL' && temps.some((f) => f.size > 0 && !f.complete)) killsMidWrite++;

      // The invariant at the moment of the crash: no manifest vouches for a partial or foreign file.
      const vouched = await assertManifestsVouchOnlyForIntactFiles(runDir, label);
      t.diagnostic(`${label}: ${child!.signal ?? 'finished first'}, ${temps.length} temp file(s) (${temps.filter((f) => !f.complete).length} partial), ${vouched} manifest(s) standing`);

      // Rerun to completion (in-process; same code path as the CLI) and compare with the reference.
      const resumed = await prepareInProcess([input], runDir, { parts: PARTS });
      assert.equal(resumed.partsRun.length + resumed.partsSkipped.length, PARTS);
      assert.deepEqual(await tempFiles(runDir), [], `${label}: no temp file left`);
      assert.equal(await assertManifestsVouchOnlyForIntactFiles(runDir, label), PARTS * TABLES.length, `${label}: every part finished`);
      const got = await snapshot(runDir);
      for (const table of TABLES) {
        for (let p = 0; p < PARTS; p++) assert.deepEqual(got[table]![p], expected[table]![p], `${label}: ${table} part ${p} row-for-row`);
      }
      previous = runDir;
    }
    t.diagnostic(`${kills} kills, ${killsMidWrite} inside a Parquet write (a partial temp file on disk)`);
    assert.ok(kills >= 11, `at least 11 kills landed (${kills})`);
    assert.ok(killsMidWrite >= 3, `several kills inside a Parquet write (${killsMidWrite})`);
  } finally {
    await cleanup();
  }
});
