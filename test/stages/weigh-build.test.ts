// The weigh and build stages through the real runner: hand-written samples, traces, scores, rollouts
// and verdicts tables go in as Parquet, weights and training sets come out and are read back by DuckDB.
// Expected values are worked out by hand here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runStage } from '../../src/pipeline/runner.js';
import { resolveParams } from '../../src/pipeline/params.js';
import { defineStage, type StageDefinition } from '../../src/pipeline/stage.js';
import { SAMPLES, TRACES, SCORES, ROLLOUTS, VERDICTS } from '../../src/stages/tables.js';
import { weighStage, weighLikStage } from '../../src/stages/weigh.js';
import { buildStage, buildLikStage, mixRows, type QuestionForBuild } from '../../src/stages/build.js';
import { renderTemplate } from '../../src/stages/templates.js';
import type { Row } from '../../src/io/schema.js';
import fc from 'fast-check';
import { tempDir, duck } from '../io/helpers.js';

const PARTS = 2;
// sample ids are hex so partOf spreads them: 'a…' -> part 0 or 1 by value.
const ids = ['00000001', '00000002', '00000003', '00000004'];

function samples(): Row[] {
  return ids.map((id, i) => ({
    // Question 3 is code without tests: no verifier, so Acc falls back to GML for it.
    sample_id: id, source: 'fixture.jsonl', row_index: i, domain: i === 3 ? 'code' : 'math', system: '',
    question: `What is ${i}+${i}?`, reference_thought: `thought ${i}`, reference_solution: `\\boxed{${2 * i}}`,
    reference_answer: String(2 * i), hint: String(2 * i), tests: null,
  }));
}

// Question 0: trace 0 g=-1, trace 1 g=-0.5 (lp longer than lq: the trace had no end marker).
// Question 1: trace 0 is over the length cap (4 tokens, cap 4); trace 1 is eligible.
// Question 2: both traces equal (a tie).
const scores: Row[] = [
  { sample_id: ids[0], k: 0, z: 'a<|end_of', lp: [-1, -2], lq: [-0.5, -0.5], la: [-1, -1] },
  { sample_id: ids[0], k: 1, z: 'b<|end_of', lp: [-1, -1, -5], lq: [-0.5, -0.5], la: [-3] },
  { sample_id: ids[1], k: 0, z: 'c<|end_of', lp: [0, 0, 0, 0], lq: [0, 0, 0, 0], la: [0] },
  { sample_id: ids[1], k: 1, z: 'd<|end_of', lp: [-1], lq: [-1], la: [-2] },
  { sample_id: ids[2], k: 0, z: 'e<|end_of', lp: [-1], lq: [-1], la: [-1] },
  { sample_id: ids[2], k: 1, z: 'f<|end_of', lp: [-1], lq: [-1], la: [-1] },
  { sample_id: ids[3], k: 0, z: 'g<|end_of', lp: [-1], lq: [-1], la: [-2] },
  { sample_id: ids[3], k: 1, z: 'h<|end_of', lp: [-1], lq: [-1], la: [-1] },
];
const traces: Row[] = scores.map((s) => ({
  sample_id: s.sample_id, k: s.k, seed: s.k, template: 'posterior_b',
  trace: s.k === 1 && s.sample_id === ids[0] ? 'b' : `${String(s.z).slice(0, 1)}<|end_of_thought|>\n\nignored`,
  finish_reason: 'stop', tokens: 3,
}));
// 2 rollouts per trace; question 0: trace 0 1/2 correct (n=1), trace 1 2/2; question 1 trace 1 0/2; question 2 both 1/2.
const correct: Record<string, boolean[]> = {
  [`${ids[0]}:0`]: [false, true], [`${ids[0]}:1`]: [true, true],
  [`${ids[1]}:0`]: [true, true], [`${ids[1]}:1`]: [false, false],
  [`${ids[2]}:0`]: [true, false], [`${ids[2]}:1`]: [false, true],
  [`${ids[3]}:0`]: [false, false], [`${ids[3]}:1`]: [false, false],
};
const rollouts: Row[] = scores.flatMap((s) => [0, 1].map((n) => ({
  sample_id: s.sample_id, k: s.k, n, seed: n, response: `_thought|>\n\n<|begin_of_solution|>r${s.k}${n}<|end_of_solution|>`, finish_reason: 'stop', tokens: 5,
})));
const verdicts: Row[] = rollouts.map((r) => ({
  sample_id: r.sample_id, k: r.k, n: r.n, correct: correct[`${r.sample_id}:${r.k}`]![Number(r.n)]!, extracted: null, reason: 'fixture', ms: 0, verifier: 'fixture@1',
}));

const fixture = defineStage<Record<string, never>>({
  name: 'fixture', version: 1, describe: 'hand-written input tables', inputs: {},
  outputs: { samples: SAMPLES, traces: TRACES, scores: SCORES, rollouts: ROLLOUTS, verdicts: VERDICTS },
  params: {},
  async run(ctx) {
    await ctx.write('samples', samples());
    await ctx.write('traces', traces);
    await ctx.write('scores', scores);
    await ctx.write('rollouts', rollouts);
    await ctx.write('verdicts', verdicts);
  },
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function run(runDir: string, stage: StageDefinition<any>, given: Record<string, unknown> = {}) {
  return runStage({ runDir, stage, params: resolveParams(stage.name, stage.params, given), parts: PARTS, quiet: true });
}

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} != ${b}`);

test('weigh_lik + build_lik (GML): golden weights and the mix/weighted sets, read back by DuckDB', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, fixture);
    await run(dir, weighLikStage, { estimator: 'GML', max_think_tokens: 4 });
    const w = await duck(`SELECT * FROM read_parquet('${dir}/weights/*.parquet') ORDER BY sample_id, k`);
    assert.equal(w.length, 8);
    // q0 k0: g = ((-1+0.5)+(-2+0.5))/2 = -1, mean la = -1 -> -2; k1: L = 2, g = -0.5, mean la -3 -> -3.5
    close(Number(w[0]!.log_rho), -2);
    close(Number(w[1]!.log_rho), -3.5);
    close(Number(w[0]!.rho), 1 / (1 + Math.exp(-1.5)));
    assert.deepEqual([w[0]!.selected, w[1]!.selected], [true, false]);
    assert.equal(w[1]!.think_tokens, 2);
    // q1: k0 has L = 4 = cap -> not eligible, rho 0 although its log rho (0) is the largest
    assert.deepEqual([w[2]!.eligible, w[3]!.eligible], [false, true]);
    assert.deepEqual([w[2]!.rho, w[3]!.rho, w[2]!.selected, w[3]!.selected], [0, 1, false, true]);
    // q2: a tie: rho 1/2 each, the first selected
    close(Number(w[4]!.rho), 0.5);
    assert.deepEqual([w[4]!.selected, w[5]!.selected], [true, false]);
    assert.ok(w.every((r) => r.estimator === 'GML' && r.acc === null));

    await run(dir, buildLikStage, { weighted_questions: 0 });
    const mix = await duck(`SELECT * FROM read_parquet('${dir}/mix/part-00000-of-00001.parquet') ORDER BY sample_id, source_kind`);
    assert.equal(mix.length, 8, 'exactly 2 rows per question');
    const prompt0 = renderTemplate('reasoning', { question: 'What is 0+0?' });
    const q0 = mix.filter((r) => r.sample_id === ids[0]);
    assert.equal(q0[0]!.source_kind, 'original');
    assert.equal(q0[0]!.response, 'thought 0<|end_of_thought|>\n\n<|begin_of_solution|>\\boxed{0}<|end_of_solution|>');
    assert.equal(q0[1]!.source_kind, 'trace');
    assert.equal(q0[1]!.k, 0);
    assert.equal(q0[1]!.response, 'a<|end_of_thought|>\n\n<|begin_of_solution|>\\boxed{0}<|end_of_solution|>');
    assert.ok(mix.every((r) => r.completion === r.response && r.weight === 1));
    assert.equal(q0[0]!.prompt, prompt0);
    const weighted = await duck(`SELECT sample_id, k, weight FROM read_parquet('${dir}/weighted/*.parquet') ORDER BY sample_id, k`);
    // zero-weight traces are left out: q1 k0 is ineligible
    assert.equal(weighted.length, 7);
    const sums = await duck(`SELECT sample_id, sum(weight) AS s FROM read_parquet('${dir}/weighted/*.parquet') GROUP BY sample_id`);
    for (const s of sums) close(Number(s.s), 1);
    const info = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8'));
    assert.equal(info.vrdata_mix.file_name, 'mix/part-00000-of-00001.parquet');
    assert.ok(existsSync(join(dir, info.vrdata_weighted.file_name)));

    // A pipeline that renames the sets (tables:) gets dataset_info entries naming the renamed folders.
    await runStage({ runDir: dir, stage: buildLikStage, params: resolveParams('build_lik', buildLikStage.params, { weighted_questions: 0 }), parts: PARTS, quiet: true, tables: { mix: 'mix_r2', weighted: 'weighted_r2' } });
    const renamed = JSON.parse(await readFile(join(dir, 'dataset_info.json'), 'utf8'));
    assert.equal(renamed.vrdata_mix_r2.file_name, 'mix_r2/part-00000-of-00001.parquet');
    assert.ok(existsSync(join(dir, renamed.vrdata_mix_r2.file_name)) && existsSync(join(dir, renamed.vrdata_weighted_r2.file_name)));
    assert.ok(renamed.vrdata_mix, 'the first run\'s entries stay');
  } finally {
    await cleanup();
  }
});

test('weigh + build (Acc): accuracies from verdicts, the selected trace keeps a verified rollout, GML fallback without a verifier', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    await run(dir, fixture);
    await run(dir, weighStage, { estimator: 'Acc', max_think_tokens: 4 });
    const w = await duck(`SELECT * FROM read_parquet('${dir}/weights/*.parquet') ORDER BY sample_id, k`);
    // q0: k0 acc 1/2, g -1 -> ln .5 - 1; k1 acc 1, g -0.5 -> -0.5: k1 selected
    close(Number(w[0]!.acc), 0.5);
    close(Number(w[0]!.log_rho), Math.log(0.5) - 1);
    close(Number(w[1]!.log_rho), -0.5);
    assert.equal(w[1]!.selected, true);
    // q1: k0 ineligible, k1 acc 0 -> -infinity: nothing selected, all rho 0
    assert.equal(w[3]!.log_rho, Number.NEGATIVE_INFINITY);
    assert.deepEqual([w[2]!.rho, w[3]!.rho, w[2]!.selected, w[3]!.selected], [0, 0, false, false]);
    await run(dir, buildStage, { weighted_questions: 0 });
    // q3: no verifier -> GML: mean la + g = -2 and -1, k1 selected, acc null, the fallback named
    assert.deepEqual(w.slice(6).map((r) => [r.estimator, r.acc, r.selected]), [['GML', null, false], ['GML', null, true]]);
    close(Number(w[7]!.log_rho), -1);
    assert.match(String(w[7]!.fallback), /no verifier/);
    assert.ok(w.slice(0, 6).every((r) => r.estimator === 'Acc' && r.fallback === null));
    const mix = await duck(`SELECT * FROM read_parquet('${dir}/mix/*.parquet') ORDER BY sample_id, source_kind`);
    assert.equal(mix.length, 8);
    const q3 = mix.filter((r) => r.sample_id === ids[3]);
    assert.equal(q3[1]!.response, 'h<|end_of_thought|>\n\n<|begin_of_solution|>\\boxed{6}<|end_of_solution|>');
    assert.equal(q3[1]!.estimator, 'GML');
    const q0 = mix.filter((r) => r.sample_id === ids[0]);
    // trace k1 of q0 had no end marker: z = 'b<|end_of', then its first correct rollout (n = 0)
    assert.equal(q0[1]!.source_kind, 'rollout');
    assert.equal(q0[1]!.response, 'b<|end_of_thought|>\n\n<|begin_of_solution|>r10<|end_of_solution|>');
    // q1: the original stands in
    const q1 = mix.filter((r) => r.sample_id === ids[1]);
    assert.deepEqual(q1.map((r) => r.source_kind), ['original', 'original']);
  } finally {
    await cleanup();
  }
});

test('property: the mix set has exactly 2 rows per question, and the second is the selected trace', () => {
  const weightArb = fc.array(fc.record({ rho: fc.double({ min: 0, max: 1, noNaN: true }), eligible: fc.boolean() }), { minLength: 0, maxLength: 8 });
  fc.assert(
    fc.property(weightArb, fc.constantFrom('Acc', 'GML', 'L'), fc.integer({ min: -1, max: 7 }), (ws, estimator, pick) => {
      const weights = ws.map((w, k) => ({ k, estimator, eligible: w.eligible, log_rho: Math.log(w.rho), rho: w.rho, acc: 0.5, g: 0, selected: k === pick }));
      const q: QuestionForBuild = {
        sampleId: 'x', prompt: 'P', original: 'O', referenceAnswer: '_thought|>A',
        weights, traces: new Map(weights.map((w) => [w.k, `t${w.k}`])), correctRollout: new Map(weights.map((w) => [w.k, `_thought|>R${w.k}`])),
      };
      const rows = mixRows(q);
      assert.equal(rows.length, 2);
      assert.equal(rows[0]!.source_kind, 'original');
      const selected = weights.find((w) => w.selected);
      if (selected) {
        assert.equal(rows[1]!.k, selected.k);
        assert.equal(rows[1]!.response, `t${selected.k}<|end_of` + (estimator === 'Acc' ? `_thought|>R${selected.k}` : '_thought|>A'));
      } else assert.equal(rows[1]!.response, 'O');
    }),
    { numRuns: 300 },
  );
});
