/**
 * The stage runner's exactly-once contract, on tiny stages defined here (test/helpers/test-stages.ts):
 * skip what is done, redo what changed and only that, shards that merge to a single run's output,
 * stray temps removed, tampered files redone, failures leave nothing that looks finished.
 * Outputs are read back with DuckDB, and manifests are checked against hashes computed here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile, readdir, access, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { runStage, type RunStageOptions } from '../../src/pipeline/runner.js';
import { resolveParams } from '../../src/pipeline/params.js';
import { partOf } from '../../src/pipeline/partition.js';
import { partPath, manifestPath } from '../../src/pipeline/layout.js';
import { VrdataError } from '../../src/util/errors.js';
import type { StageDefinition } from '../../src/pipeline/stage.js';
import { tempDir } from '../helpers/tmp.js';
import { duckdbRows } from '../helpers/duckdb.js';
import { checkManifests, tempFiles } from '../helpers/run-folder.js';
import { calls, doubleStage, mergeStage, sourceStage, idOf, hooks } from '../helpers/test-stages.js';

const PARTS = 4;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function run(runDir: string, stage: StageDefinition<any>, params: Record<string, unknown> = {}, extra: Partial<RunStageOptions> = {}) {
  return runStage({ runDir, stage, params: resolveParams(stage.name, stage.params, params), parts: PARTS, quiet: true, ...extra });
}

const callCount = (stage: string) => calls[stage]?.length ?? 0;
const exists = (path: string) => access(path).then(() => true, () => false);

async function assertManifestsMatch(runDir: string, table: string, expectParts: number[]) {
  const checks = await checkManifests(runDir, table);
  assert.deepEqual(checks.map((c) => c.part), expectParts, `${table}: manifests for parts ${expectParts}`);
  for (const c of checks) assert.deepEqual(c.problems, [], `${table} part ${c.part}: ${c.problems.join('; ')}`);
}

/** Nonce per part of a table, read back with DuckDB (each part's rows all carry one nonce). */
async function noncesByPart(runDir: string, table: string, column = 'nonce'): Promise<string[]> {
  const out: string[] = [];
  for (let p = 0; p < PARTS; p++) {
    const rows = await duckdbRows(partPath(runDir, table, p, PARTS), { columns: [column] });
    const set = new Set(rows.map((r) => String(r[column])));
    assert.equal(set.size, 1, `${table} part ${p} rows come from one run`);
    out.push([...set][0]!);
  }
  return out;
}

test('first run writes every part by sample_id; a rerun skips them all without calling the stage', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const first = await run(dir, sourceStage);
    assert.deepEqual(first.partsRun, [0, 1, 2, 3]);
    assert.deepEqual(first.partsSkipped, []);
    assert.equal(first.rows.nums, 40);
    await assertManifestsMatch(dir, 'nums', [0, 1, 2, 3]);
    // Every row is in the part its sample_id hashes to, and none is lost or doubled.
    const rows = await duckdbRows(join(dir, 'nums', '*.parquet'), { columns: ['n', 'sample_id', 'filename'] as string[] });
    assert.deepEqual(rows.map((r) => r.n).sort((a, b) => Number(a) - Number(b)), [...Array(40).keys()]);
    for (const r of rows) assert.match(String(r.filename), new RegExp(`part-0000${partOf(String(r.sample_id), PARTS)}-of-00004`));

    const before = callCount('src');
    const again = await run(dir, sourceStage);
    assert.deepEqual(again.partsRun, []);
    assert.deepEqual(again.partsSkipped, [0, 1, 2, 3]);
    assert.deepEqual(again.rows, { nums: 0 });
    assert.equal(callCount('src'), before, 'a rerun with everything done does not call the stage');
    const log = await readFile(join(dir, 'logs', 'src.log'), 'utf8');
    assert.match(log, /parts_run=- parts_skipped=0,1,2,3/);
  } finally {
    await cleanup();
  }
});

test('a changed parameter invalidates the stage and everything downstream; an irrelevant one invalidates nothing', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, sourceStage);
    await run(dir, doubleStage);
    const src1 = await noncesByPart(dir, 'nums');
    const dbl1 = await noncesByPart(dir, 'doubled');

    // Downstream parameter: only the downstream stage reruns.
    assert.deepEqual((await run(dir, sourceStage)).partsRun, []);
    const d2 = await run(dir, doubleStage, { factor: 3 });
    assert.deepEqual(d2.partsRun, [0, 1, 2, 3]);
    assert.deepEqual(await noncesByPart(dir, 'nums'), src1);
    const dbl2 = await noncesByPart(dir, 'doubled');
    for (let p = 0; p < PARTS; p++) assert.notEqual(dbl2[p], dbl1[p]);
    const tripled = await duckdbRows(join(dir, 'doubled', '*.parquet'), { columns: ['n2'], orderBy: 'n2' });
    assert.deepEqual(tripled.map((r) => r.n2), [...Array(40).keys()].map((n) => n * 3));

    // Upstream parameter: the source reruns, and then every downstream part is stale.
    const s3 = await run(dir, sourceStage, { salt: 'b' });
    assert.deepEqual(s3.partsRun, [0, 1, 2, 3]);
    const d3 = await run(dir, doubleStage, { factor: 3 });
    assert.deepEqual(d3.partsRun, [0, 1, 2, 3]);
    const src3 = await noncesByPart(dir, 'nums');
    assert.deepEqual(await noncesByPart(dir, 'doubled', 'upstream_nonce'), src3, 'downstream read the new upstream rows');

    // A parameter declared affectsResult: false (batch) changes no fingerprint.
    const before = { src: callCount('src'), double: callCount('double') };
    assert.deepEqual((await run(dir, sourceStage, { salt: 'b', batch: 3 })).partsSkipped, [0, 1, 2, 3]);
    assert.deepEqual((await run(dir, doubleStage, { factor: 3 })).partsSkipped, [0, 1, 2, 3]);
    assert.deepEqual({ src: callCount('src'), double: callCount('double') }, before);
  } finally {
    await cleanup();
  }
});

test('a redone upstream part invalidates only the matching downstream part', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, sourceStage);
    await run(dir, doubleStage);
    const src1 = await noncesByPart(dir, 'nums');
    const dbl1 = await noncesByPart(dir, 'doubled');

    await rm(manifestPath(dir, 'nums', 2, PARTS));
    const s = await run(dir, sourceStage);
    assert.deepEqual(s.partsRun, [2]);
    assert.deepEqual(s.partsSkipped, [0, 1, 3]);
    const src2 = await noncesByPart(dir, 'nums');
    assert.deepEqual([src2[0], src2[1], src2[3]], [src1[0], src1[1], src1[3]]);
    assert.notEqual(src2[2], src1[2]);

    const partsBefore = calls.double!.length;
    const d = await run(dir, doubleStage);
    assert.deepEqual(d.partsRun, [2]);
    assert.deepEqual(d.partsSkipped, [0, 1, 3]);
    assert.deepEqual(calls.double!.slice(partsBefore), [2], 'the stage ran for part 2 only');
    const dbl2 = await noncesByPart(dir, 'doubled');
    assert.deepEqual([dbl2[0], dbl2[1], dbl2[3]], [dbl1[0], dbl1[1], dbl1[3]]);
    assert.equal((await noncesByPart(dir, 'doubled', 'upstream_nonce'))[2], src2[2]);
    await assertManifestsMatch(dir, 'doubled', [0, 1, 2, 3]);
  } finally {
    await cleanup();
  }
});

test('an upstream part redone with identical bytes does not invalidate downstream (content, not time)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, sourceStage, { stamp: false });
    await run(dir, doubleStage);
    const hash = JSON.parse(await readFile(manifestPath(dir, 'nums', 1, PARTS), 'utf8')).sha256;
    await rm(manifestPath(dir, 'nums', 1, PARTS));
    assert.deepEqual((await run(dir, sourceStage, { stamp: false })).partsRun, [1]);
    assert.equal(JSON.parse(await readFile(manifestPath(dir, 'nums', 1, PARTS), 'utf8')).sha256, hash, 'same rows, same bytes');
    assert.deepEqual((await run(dir, doubleStage)).partsSkipped, [0, 1, 2, 3]);
  } finally {
    await cleanup();
  }
});

test('--shard i/n on separate "machines" (concurrent runStage calls on one folder) merges to the single-run output', async () => {
  const single = await tempDir();
  const sharded = await tempDir();
  try {
    await run(single.dir, sourceStage, { stamp: false });
    await run(single.dir, doubleStage);
    await run(single.dir, mergeStage);

    // Two machines split the source, then three split the downstream stage: all at the same time.
    const s = await Promise.all([0, 1].map((index) => run(sharded.dir, sourceStage, { stamp: false }, { shard: { index, count: 2 } })));
    assert.deepEqual(s.map((r) => r.partsRun), [[0, 2], [1, 3]]);
    // Until every shard of its input is done, a downstream stage refuses to start, naming what is missing.
    const partial = await tempDir();
    try {
      await run(partial.dir, sourceStage, { stamp: false }, { shard: { index: 1, count: 2 } });
      await assert.rejects(run(partial.dir, doubleStage), (err: unknown) =>
        err instanceof VrdataError && /parts 0, 2 of 4 are not finished/.test(err.message) && /every --shard/.test(err.message));
    } finally {
      await partial.cleanup();
    }
    const d = await Promise.all([0, 1, 2].map((index) => run(sharded.dir, doubleStage, {}, { shard: { index, count: 3 } })));
    assert.deepEqual(d.map((r) => r.partsRun), [[0, 3], [1], [2]]);
    const merged = await run(sharded.dir, mergeStage);
    assert.deepEqual(merged.rows, { merged: 40 });

    for (const table of ['nums', 'doubled']) {
      await assertManifestsMatch(sharded.dir, table, [0, 1, 2, 3]);
      for (let p = 0; p < PARTS; p++) {
        const a = await duckdbRows(partPath(single.dir, table, p, PARTS), { columns: ['sample_id', table === 'nums' ? 'n' : 'n2'] });
        const b = await duckdbRows(partPath(sharded.dir, table, p, PARTS), { columns: ['sample_id', table === 'nums' ? 'n' : 'n2'] });
        assert.deepEqual(b, a, `${table} part ${p}: same rows in the same order`);
      }
    }
    const a = await duckdbRows(join(single.dir, 'merged', '*.parquet'));
    const b = await duckdbRows(join(sharded.dir, 'merged', '*.parquet'));
    assert.equal(b.length, 40);
    assert.deepEqual(b, a);
    assert.deepEqual(b.map((r) => r.sample_id), [...Array(40).keys()].map(idOf));
    assert.deepEqual(await tempFiles(sharded.dir), []);
  } finally {
    await single.cleanup();
    await sharded.cleanup();
  }
});

test('a shard starting while another is mid-write leaves the other\'s temp files alone', async () => {
  const { dir, cleanup } = await tempDir();
  let release!: () => void;
  let paused!: () => void;
  const isPaused = new Promise<void>((resolve) => (paused = resolve));
  hooks.afterFirstWrite = () => {
    hooks.afterFirstWrite = undefined; // only machine A pauses
    paused();
    return new Promise<void>((resolve) => (release = resolve));
  };
  try {
    const a = run(dir, sourceStage, { stamp: false }, { shard: { index: 0, count: 2 } });
    await isPaused;
    assert.ok((await tempFiles(dir)).length > 0, 'machine A has its temp files open');
    const b = await run(dir, sourceStage, { stamp: false }, { shard: { index: 1, count: 2 } });
    assert.deepEqual(b.partsRun, [1, 3]);
    release();
    assert.deepEqual((await a).partsRun, [0, 2]);
    await assertManifestsMatch(dir, 'nums', [0, 1, 2, 3]);
    assert.deepEqual(await tempFiles(dir), []);
  } finally {
    hooks.afterFirstWrite = undefined;
    release?.();
    await cleanup();
  }
});

test('stray temp files are removed on rerun, also when every part is already done', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, sourceStage);
    const strays = ['.part-00001-of-00004.parquet.99999.tmp', '.part-00003-of-00004.json.12345.tmp'];
    for (const name of strays) await writeFile(join(dir, 'nums', name), 'PAR1 half a file');
    assert.deepEqual((await run(dir, sourceStage)).partsSkipped, [0, 1, 2, 3]);
    assert.deepEqual(await tempFiles(dir), []);

    await writeFile(join(dir, 'nums', strays[0]!), 'PAR1 half a file');
    await rm(manifestPath(dir, 'nums', 1, PARTS));
    assert.deepEqual((await run(dir, sourceStage)).partsRun, [1]);
    assert.deepEqual(await tempFiles(dir), []);
    await assertManifestsMatch(dir, 'nums', [0, 1, 2, 3]);
  } finally {
    await cleanup();
  }
});

test('a Parquet file changed after its manifest was written is redone (same size, truncated, or manifest unreadable)', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, sourceStage, { stamp: false });
    const original = await duckdbRows(join(dir, 'nums', '*.parquet'));

    // Same size, one byte changed in the middle: only the hash can tell.
    const file = partPath(dir, 'nums', 1, PARTS);
    const bytes = await readFile(file);
    bytes[bytes.length >> 1] ^= 0xff;
    await writeFile(file, bytes);
    let r = await run(dir, sourceStage, { stamp: false });
    assert.deepEqual(r.partsRun, [1]);

    await truncate(partPath(dir, 'nums', 3, PARTS), 100);
    r = await run(dir, sourceStage, { stamp: false });
    assert.deepEqual(r.partsRun, [3]);

    await writeFile(manifestPath(dir, 'nums', 0, PARTS), '{"rows": 3, "trunc');
    r = await run(dir, sourceStage, { stamp: false });
    assert.deepEqual(r.partsRun, [0]);

    await rm(partPath(dir, 'nums', 2, PARTS));
    r = await run(dir, sourceStage, { stamp: false });
    assert.deepEqual(r.partsRun, [2]);

    await assertManifestsMatch(dir, 'nums', [0, 1, 2, 3]);
    assert.deepEqual(await duckdbRows(join(dir, 'nums', '*.parquet')), original);
  } finally {
    await cleanup();
  }
});

test('a stage that throws leaves no manifest, no final file and no temp file for the failed part', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    // A source stage that fails half way: nothing of it is committed.
    await assert.rejects(run(dir, sourceStage, { fail: true }), /injected failure/);
    assert.deepEqual(await readdir(join(dir, 'nums')), []);

    await run(dir, sourceStage);
    // A per-part stage: parts before the failure are committed, the failed part leaves nothing.
    await assert.rejects(run(dir, doubleStage, { fail_part: 2 }), /injected failure in part 2/);
    await assertManifestsMatch(dir, 'doubled', [0, 1]);
    assert.equal(await exists(partPath(dir, 'doubled', 2, PARTS)), false);
    assert.equal(await exists(partPath(dir, 'doubled', 3, PARTS)), false);
    assert.deepEqual(await tempFiles(dir), []);
    const resumed = await run(dir, doubleStage);
    assert.deepEqual(resumed.partsSkipped, [0, 1]);
    assert.deepEqual(resumed.partsRun, [2, 3]);

    // Redoing a finished part with new parameters and failing: the old file must not outlive its manifest.
    await assert.rejects(run(dir, doubleStage, { factor: 5, fail_part: 0 }), /injected failure in part 0/);
    assert.equal(await exists(manifestPath(dir, 'doubled', 0, PARTS)), false);
    assert.equal(await exists(partPath(dir, 'doubled', 0, PARTS)), false, 'the stale part-0 file is gone');
    assert.deepEqual(await tempFiles(dir), []);
  } finally {
    await cleanup();
  }
});
