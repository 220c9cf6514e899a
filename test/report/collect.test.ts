/**
 * collectRun on a real run folder: Parquet parts written by DuckDB (an independent writer),
 * manifests as the runner writes them, one unfinished part, and the `vrdata report` command
 * run as a real process on it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { duckRun } from '../io/helpers.js';
import { collectRun, evalOrder, thoughtOf } from '../../src/report/collect.js';
import { PLOT_IDS } from '../../src/report/render.js';

let run = '';


/** Writes part `part` of `parts` of a table from a SELECT, and its manifest unless `finished` is false. */
async function part(table: string, select: string, opts: { part?: number; parts?: number; rows: number; seconds: number; start?: string; finished?: boolean }): Promise<void> {
  const name = `part-${String(opts.part ?? 0).padStart(5, '0')}-of-${String(opts.parts ?? 1).padStart(5, '0')}`;
  await mkdir(join(run, table), { recursive: true });
  await duckRun(`COPY (${select}) TO '${join(run, table, `${name}.parquet`)}' (FORMAT parquet)`);
  if (opts.finished === false) return;
  const start = opts.start ?? '2026-01-01T00:00:00.000Z';
  const manifest = {
    table,
    stage: table.endsWith('samples') ? 'prepare' : table.startsWith('eval') ? 'eval' : table,
    part: opts.part ?? 0,
    parts: opts.parts ?? 1,
    rows: opts.rows,
    seconds: opts.seconds,
    started_at: start,
    finished_at: new Date(Date.parse(start) + opts.seconds * 1000).toISOString(),
  };
  await writeFile(join(run, table, `${name}.json`), JSON.stringify(manifest));
}

before(async () => {
  run = await mkdtemp(join(tmpdir(), 'vrdata-collect-'));
  await writeFile(join(run, 'pipeline.yaml'), 'name: t\n');
  await part('samples', `SELECT * FROM (VALUES ('q1', 'ten chars!'), ('q2', '  twenty characters...  '), ('q3', NULL)) t(sample_id, reference_thought)`, { rows: 3, seconds: 0.5, start: '2026-01-01T00:00:00.000Z' });
  await part(
    'traces',
    `SELECT sample_id, k::INTEGER AS k, tokens::INTEGER AS tokens, trace FROM (VALUES
      ('q1', 0, 11, '<|begin_of_thought|>\n\nabc\n\n<|end_of_thought|> rest'),
      ('q1', 1, 12, 'abcdefgh<|end_of_thought|>'),
      ('q2', 0, 13, 'no marker at all')) t(sample_id, k, tokens, trace)`,
    { part: 0, parts: 2, rows: 3, seconds: 4, start: '2026-01-01T00:00:01.000Z' },
  );
  await part('traces', `SELECT 'q2' AS sample_id, 1::INTEGER AS k, 14::INTEGER AS tokens, 'xy' AS trace`, { part: 1, parts: 2, rows: 1, seconds: 6, start: '2026-01-01T00:00:02.000Z' });
  await part(
    'weights',
    `SELECT sample_id, k::INTEGER AS k, estimator, eligible, acc::DOUBLE AS acc, rho::DOUBLE AS rho, selected FROM (VALUES
      ('q1', 0, 'Acc', true, 0.5, 0.25, false),
      ('q1', 1, 'Acc', true, 1.0, 0.75, true),
      ('q2', 0, 'GML', true, NULL, 1.0, true),
      ('q2', 1, 'GML', false, NULL, 0.0, false)) t(sample_id, k, estimator, eligible, acc, rho, selected)`,
    { rows: 4, seconds: 0.1, start: '2026-01-01T00:00:10.000Z' },
  );
  await part('verdicts', `SELECT * FROM (VALUES (true), (false), (true)) t(correct)`, { rows: 3, seconds: 1, start: '2026-01-01T00:00:05.000Z' });
  await part('rollouts', `SELECT 'q1' AS sample_id`, { rows: 1, seconds: 1, finished: false });
  const evalRows = (bits: string) =>
    `SELECT * FROM (VALUES ${[...bits].map((b, i) => `('q${i >> 1}', ${i < 4 ? "'arith-2step'" : "'arith-3step'"}, ${b === '1'})`).join(', ')}) t(sample_id, source, correct)`;
  await part('eval_after', evalRows('111011'), { rows: 6, seconds: 2, start: '2026-01-01T00:00:20.000Z' });
  await part('eval_before', evalRows('100001'), { rows: 6, seconds: 2, start: '2026-01-01T00:00:00.500Z' });
  // an eval set prepared into the run is not an eval table, despite its name
  await part('eval_samples', `SELECT 'q0' AS sample_id, 'Start with 1.' AS question`, { rows: 1, seconds: 0.1, start: '2026-01-01T00:00:00.200Z' });
  await mkdir(join(run, 'logs'));
  await writeFile(join(run, 'logs', 'sample.log'), 'not a table\n');
});

after(async () => {
  if (run) await rm(run, { recursive: true, force: true });
});

test('collectRun reads counts, timings, weights, lengths and evals from a real run folder', async () => {
  const d = await collectRun(run, { now: new Date('2026-02-02T00:00:00Z') });
  assert.equal(d.generatedAt, '2026-02-02T00:00:00.000Z');
  assert.equal(d.pipelineYaml, 'name: t\n');
  const t = Object.fromEntries(d.tables.map((x) => [x.table, x]));
  assert.deepEqual(Object.keys(t).sort(), ['eval_after', 'eval_before', 'eval_samples', 'rollouts', 'samples', 'traces', 'verdicts', 'weights']);
  assert.deepEqual({ ...t.traces }, { table: 'traces', stage: 'traces', partsDone: 2, parts: 2, rows: 4, seconds: 10, wallSeconds: 7, startedAt: '2026-01-01T00:00:01.000Z' });
  assert.equal(t.rollouts?.partsDone, 0);
  assert.equal(t.rollouts?.rows, 0);
  assert.ok(d.notes.some((n) => /^rollouts: 0 of 1 parts finished/.test(n)), d.notes.join('\n'));
  // tables ordered by start time
  assert.deepEqual(d.tables.slice(0, 4).map((x) => x.table), ['samples', 'eval_samples', 'eval_before', 'traces']);

  const w = d.weights;
  assert.ok(w);
  assert.deepEqual(w.rho, [0.25, 0.75, 1]);
  assert.deepEqual(w.acc, [0.5, 1]);
  assert.deepEqual([w.eligible, w.ineligible, w.selected, w.questions], [3, 1, 2, 2]);
  assert.deepEqual(w.estimators, { Acc: 2, GML: 2 });
  assert.deepEqual(d.traceTokens?.slice().sort(), [11, 12, 13, 14]);
  // selected: q1/k1 -> "abcdefgh" (8), q2/k0 -> "no marker at all" (16); originals: 10 and 20 (trimmed), null skipped
  assert.deepEqual(d.selectedVsOriginal?.selected.slice().sort((a, b) => a - b), [8, 16]);
  assert.deepEqual(d.selectedVsOriginal?.original, [10, 20]);
  assert.deepEqual(d.verdicts, { total: 3, correct: 2 });

  assert.deepEqual(d.evals.map((e) => e.table), ['eval_before', 'eval_after']);
  assert.ok(!d.notes.some((n) => n.includes('eval_samples')), 'the eval set is not read as an eval table');
  const before = d.evals[0]?.report;
  // questions q0 '10', q1 '00', q2 '01' -> 0.5, 0, 0.5
  assert.equal(before?.overall.questions, 3);
  assert.ok(Math.abs((before?.overall.accuracy ?? 0) - 1 / 3) < 1e-12);
  assert.deepEqual(Object.keys(before?.bySource ?? {}), ['arith-2step', 'arith-3step']);
  assert.equal(before?.overall.passAtK[2], 2 / 3);
  assert.equal(d.evals[1]?.report.overall.accuracy, 5 / 6);
});

test('vrdata report writes one page with every plot drawn for a complete run', async () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', run], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /report: wrote .*report\.html \(1 note on the page\)/);
  const html = await readFile(join(run, 'report.html'), 'utf8');
  for (const id of PLOT_IDS) assert.match(html, new RegExp(`<figure class="plot" data-plot="${id}">`), `${id} drawn`);
  assert.ok(html.indexOf('eval_before') < html.indexOf('eval_after'));
});

test('a missing run folder is a usage error with a fix; an empty one is a page of notes', async () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'report', join(run, 'nope')], { encoding: 'utf8' });
  assert.equal(res.status, 2);
  assert.match(res.stderr, /report: no run folder at .*nope; pass the folder a pipeline run wrote/);
  const empty = await mkdtemp(join(tmpdir(), 'vrdata-empty-run-'));
  try {
    const d = await collectRun(empty);
    assert.equal(d.tables.length, 0);
    assert.equal(d.weights, undefined);
    assert.match(d.notes.join(' '), /No tables in .* yet/);
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
});

test('thoughtOf and evalOrder', () => {
  assert.equal(thoughtOf('<|begin_of_thought|>\n\nx = 1\n\n<|end_of_thought|>\n\nsolution'), 'x = 1');
  assert.equal(thoughtOf('cut<|end_of'), 'cut');
  assert.deepEqual(['eval_after', 'eval_round10', 'eval', 'eval_round2', 'eval_before'].sort(evalOrder), ['eval_before', 'eval', 'eval_round2', 'eval_round10', 'eval_after']);
});
