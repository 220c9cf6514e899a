/**
 * The demo pipeline end to end at tiny sizes, on the shipped toy models (data/models/pi0, q_phi):
 * every stage's table exists with the counts its parameters imply (checked by DuckDB, independently
 * of the runner), a rerun skips every part, and `vrdata report` makes a page with the eval tables.
 * Sizes are pipelines/demo.yaml's with fewer questions, traces and steps (see `tiny` below).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import YAML from 'yaml';
import { runPipeline } from '../../src/pipeline/run.js';
import { runCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/tmp.js';
import { checkManifests } from '../helpers/run-folder.js';
import { duckdbQuery, sqlString } from '../helpers/duckdb.js';

const QUESTIONS = 8;
const EVAL_QUESTIONS = 8;
const K = 2;
const N = 2;

/** pipelines/demo.yaml cut down: same stages and tables, a handful of questions, two train steps. */
async function tinyDemo(dir: string): Promise<string> {
  const doc = YAML.parse(await readFile('pipelines/demo.yaml', 'utf8')) as {
    engines: Record<string, Record<string, unknown>>;
    stages: { stage: string; id?: string; params?: Record<string, unknown> }[];
  };
  for (const engine of Object.values(doc.engines)) {
    // Models resolve against the pipeline file's folder; the copy lives in a temp folder.
    if (typeof engine.model === 'string' && !engine.model.startsWith('run:')) engine.model = resolve('pipelines', engine.model);
    engine.threads = 1;
  }
  const tiny: Record<string, Record<string, unknown>> = {
    synth: { n: 40, n_eval: EVAL_QUESTIONS },
    prepare: { limit: QUESTIONS },
    sample: { k: K, max_tokens: 48 },
    rollout: { n: N, max_tokens: 32 },
    train_pi: { base: resolve('data/models/pi0'), max_steps: 2, epochs: 4, batch_tokens: 512, threads: 1 },
    eval_before: { max_tokens: 48 },
    eval_after: { max_tokens: 48 },
  };
  for (const s of doc.stages) Object.assign((s.params ??= {}), tiny[s.id ?? s.stage] ?? {});
  const file = join(dir, 'demo-tiny.yaml');
  await writeFile(file, YAML.stringify(doc));
  return file;
}

const count = async (runDir: string, table: string, where = 'true'): Promise<number> =>
  Number((await duckdbQuery(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(runDir, table, '*.parquet'))}) WHERE ${where}`))[0]!.n);

test('the demo pipeline runs end to end, reruns from cache and gets a report', { timeout: 300_000 }, async () => {
  const { dir, cleanup } = await tempDir('vrdata-demo-');
  try {
    const pipelineFile = await tinyDemo(dir);
    const runDir = join(dir, 'run');
    const first = await runPipeline({ pipelineFile, runDir, quiet: true });
    assert.deepEqual(
      first.stages.map((s) => s.stage),
      ['synth', 'prepare', 'prepare_eval', 'sample', 'score', 'rollout', 'verify', 'weigh', 'build', 'train_pi', 'eval_before', 'eval_after'],
    );
    for (const s of first.stages) assert.ok(s.partsRun.length > 0 && s.partsSkipped.length === 0, `${s.stage} ran on the first run`);

    // Counts every stage's parameters imply, read back by DuckDB.
    assert.equal(await count(runDir, 'samples'), QUESTIONS);
    assert.equal(await count(runDir, 'eval_samples'), EVAL_QUESTIONS);
    assert.equal(await count(runDir, 'traces'), QUESTIONS * K);
    assert.equal(await count(runDir, 'scores'), QUESTIONS * K);
    assert.equal(await count(runDir, 'scores', 'len(lp) > 0 AND len(lq) > 0 AND len(la) > 0'), QUESTIONS * K, 'every trace has lp, lq and la');
    assert.equal(await count(runDir, 'rollouts'), QUESTIONS * K * N);
    assert.equal(await count(runDir, 'verdicts'), QUESTIONS * K * N);
    assert.equal(await count(runDir, 'weights'), QUESTIONS * K);
    assert.equal(await count(runDir, 'weights', "estimator = 'Acc'"), QUESTIONS * K, 'the toy task is verifiable: no GML fallback');
    assert.equal(await count(runDir, 'mix'), 2 * QUESTIONS, 'mix: the original and the selected (or standing-in) response per question');
    const weighted = await count(runDir, 'weighted');
    assert.ok(weighted <= QUESTIONS * K, `weighted rows ${weighted} at most K per question`);
    assert.equal(await count(runDir, 'weighted', 'weight <= 0 OR weight > 1'), 0, 'weights are rho~ in (0, 1]');
    assert.equal(await count(runDir, 'train_log_pi'), 2, 'two optimiser steps');
    assert.equal(await count(runDir, 'eval_before'), EVAL_QUESTIONS);
    assert.equal(await count(runDir, 'eval_after'), EVAL_QUESTIONS);
    // Acc weights: a trace has weight > 0 only if one of its rollouts is verified correct.
    const bad = await duckdbQuery(`SELECT count(*) AS n FROM read_parquet(${sqlString(join(runDir, 'weights', '*.parquet'))}) w
      WHERE w.rho > 0 AND NOT EXISTS (SELECT 1 FROM read_parquet(${sqlString(join(runDir, 'verdicts', '*.parquet'))}) v
        WHERE v.sample_id = w.sample_id AND v.k = w.k AND v.correct)`);
    assert.equal(Number(bad[0]!.n), 0);
    for (const table of ['samples', 'traces', 'scores', 'rollouts', 'verdicts', 'weights', 'mix', 'weighted', 'eval_before', 'eval_after']) {
      for (const m of await checkManifests(runDir, table)) assert.deepEqual(m.problems, [], `${table} part ${m.part}`);
    }

    // A rerun finds every part done: nothing is recomputed.
    const second = await runPipeline({ pipelineFile, runDir, quiet: true });
    for (const s of second.stages) assert.deepEqual(s.partsRun, [], `${s.stage} was skipped on the rerun`);

    const report = await runCli(['report', runDir], { timeoutMs: 60_000 });
    assert.equal(report.code, 0, report.stderr);
    const html = await readFile(join(runDir, 'report.html'), 'utf8');
    assert.match(html, /<table class="eval">/);
    assert.ok(html.indexOf('eval_before') < html.indexOf('eval_after'), 'before is shown before after');
  } finally {
    await cleanup();
  }
});
