import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ParquetWriter } from '../../src/io/parquet.js';
import type { Row, Schema } from '../../src/io/schema.js';
import { inspect, renderInspect } from '../../src/cli/commands/inspect.js';
import { tempDir } from './helpers.js';

const SCHEMA: Schema = [
  { name: 'sample_id', type: 'string' },
  { name: 'k', type: 'int32' },
  { name: 'score', type: 'float64', nullable: true },
  { name: 'ok', type: 'bool' },
  { name: 'lp', type: 'list<float32>' },
];

async function part(path: string, rows: Row[]): Promise<void> {
  const w = await ParquetWriter.open(path, { schema: SCHEMA, rowGroupRows: 3 });
  await w.write(rows);
  await w.close();
}

const rowsA: Row[] = [
  { sample_id: 'a', k: 1, score: 0.5, ok: true, lp: [1, 2] },
  { sample_id: 'bb', k: 3, score: null, ok: false, lp: [] },
  { sample_id: 'ccc', k: 5, score: Number.NaN, ok: true, lp: [1, 2, 3, 4, 5, 6, 7, 8] },
];
const rowsB: Row[] = [
  { sample_id: 'x'.repeat(100), k: -7, score: 2.5, ok: true, lp: [0] },
];

test('inspect sums a stage folder of parts: rows, groups, bytes, nulls, ranges, lengths, head', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const stage = join(dir, 'scores');
    await mkdir(stage);
    await part(join(stage, 'part-00000-of-00002.parquet'), rowsA);
    await part(join(stage, 'part-00001-of-00002.parquet'), rowsB);
    await writeFile(join(stage, 'part-00000-of-00002.json'), '{}'); // manifests are not data
    const r = await inspect(stage, { head: 2, width: 10 });
    assert.equal(r.files.length, 2);
    assert.equal(r.rows, 4);
    assert.equal(r.rowGroups, 2);
    const by = Object.fromEntries(r.columns.map((c) => [c.name, c]));
    assert.deepStrictEqual(by.k.stats.values, { min: -7, mean: 0.5, max: 5 });
    assert.equal(by.score.stats.nulls, 1);
    assert.equal(by.score.stats.nan, 1);
    assert.deepStrictEqual(by.score.stats.values, { min: 0.5, mean: 1.5, max: 2.5 });
    assert.deepStrictEqual(by.sample_id.stats.length, { min: 1, mean: 26.5, max: 100 });
    assert.deepStrictEqual(by.lp.stats.length, { min: 0, mean: 2.75, max: 8 });
    assert.equal(by.ok.stats.trueCount, 3);
    assert.equal(by.lp.type, 'list<float32>');
    assert.equal(by.score.nullable, true);
    assert.equal(r.head.length, 2);
    assert.deepStrictEqual(r.head[0], { sample_id: 'a', k: 1, score: 0.5, ok: true, lp: [1, 2] });
    const text = renderInspect(r);
    assert.match(text, /rows 4, row groups 2/);
    assert.match(text, /\(2 parts\)/);

    const one = await inspect(join(stage, 'part-00001-of-00002.parquet'), { head: 1, width: 10 });
    assert.deepStrictEqual(one.head[0].sample_id, 'xxxxxxxxxx… (100 chars)');

    await part(join(dir, 'other.parquet'), rowsA);
    const w = await ParquetWriter.open(join(stage, 'part-00002-of-00002.parquet'), { schema: [{ name: 'sample_id', type: 'string' }] });
    await w.write([{ sample_id: 'z' }]);
    await w.close();
    await assert.rejects(inspect(stage), /has columns \(sample_id: string\) but .* has \(sample_id: string, k: int32/);
    await assert.rejects(inspect(join(dir, 'nothing-here')), /inspect: .*nothing-here does not exist; give a .parquet file/);
    await mkdir(join(dir, 'empty-stage'));
    await assert.rejects(inspect(join(dir, 'empty-stage')), /has no part-\*\.parquet files/);
  } finally {
    await cleanup();
  }
});

test('vrdata inspect --json prints one JSON object; a bad file exits 1 with a one-line error', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const file = join(dir, 'a.parquet');
    await part(file, rowsA);
    const cli = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'inspect', ...args], { encoding: 'utf8' });
    const ok = cli(file, '--json', '--head', '1');
    assert.equal(ok.status, 0, ok.stderr);
    const j = JSON.parse(ok.stdout);
    assert.equal(j.rows, 3);
    assert.equal(j.head.length, 1);
    assert.equal(j.columns.find((c: { name: string }) => c.name === 'score').stats.nan, 1);

    const bad = join(dir, 'bad.parquet');
    await writeFile(bad, 'not parquet at all');
    const res = cli(bad);
    assert.equal(res.status, 1);
    assert.match(res.stderr, /^vrdata parquet: .*bad\.parquet is not a Parquet file/);
    assert.equal(res.stderr.trim().split('\n').length, 1);
    assert.equal(cli(file, '--head', '-1').status, 2);
  } finally {
    await cleanup();
  }
});
