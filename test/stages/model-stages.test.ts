// sample, score and rollout through the runner on a real (tiny, seeded) ONNX model: every row
// must equal what the engine gives when called directly with the documented prompt and seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runStage } from '../../src/pipeline/runner.js';
import { resolveParams } from '../../src/pipeline/params.js';
import { defineStage, type StageDefinition } from '../../src/pipeline/stage.js';
import { SAMPLES } from '../../src/stages/tables.js';
import { sampleStage } from '../../src/stages/sample.js';
import { scoreStage } from '../../src/stages/score.js';
import { rolloutStage, priorSampleStage } from '../../src/stages/rollout.js';
import { renderTemplate, cutTrace, referenceAnswerText } from '../../src/stages/templates.js';
import { initModelFolder } from '../../src/model/folder.js';
import { bindEngine, journalWrapper } from '../../src/engines/registry.js';
import { openOnnxEngine } from '../../src/engines/onnx/engine.js';
import { readRows } from '../../src/io/parquet.js';
import type { Row } from '../../src/io/schema.js';
import { tempDir } from '../io/helpers.js';

const samples: Row[] = ['0000000a', '0000000b'].map((id, i) => ({
  sample_id: id, source: 'fixture', row_index: i, domain: 'math', system: '', question: `Add ${i} and 2.`,
  reference_thought: 't', reference_solution: `\\boxed{${i + 2}}`, reference_answer: String(i + 2), hint: String(i + 2), tests: null,
}));
const fixture = defineStage<Record<string, never>>({
  name: 'fixture', version: 1, describe: 'samples', inputs: {}, outputs: { samples: SAMPLES }, params: {},
  run: async (ctx) => ctx.write('samples', samples),
});

async function readAll(dir: string, table: string): Promise<Row[]> {
  const out: Row[] = [];
  for (const part of [0, 1]) for await (const b of readRows(join(dir, table, `part-0000${part}-of-00002.parquet`))) out.push(...b);
  return out;
}

test('sample, score and prior_sample rows equal direct engine calls with the documented prompts and seeds', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const modelDir = join(dir, 'model');
    await initModelFolder({ out: modelDir, layers: 1, hidden: 32, heads: 2, kvHeads: 1, seed: 7 });
    const binding = await bindEngine({ kind: 'onnx', model: modelDir, threads: 1 });
    const engines = { posterior: binding, prior: binding };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const run = (stage: StageDefinition<any>, given: Record<string, unknown> = {}) =>
      runStage({ runDir: dir, stage, params: resolveParams(stage.name, stage.params, given), parts: 2, engines, journal: journalWrapper, quiet: true });
    await run(fixture);
    const first = await run(sampleStage, { k: 2, seed0: 5, max_tokens: 6 });
    assert.deepEqual(first.rows, { traces: 4 });
    await run(scoreStage);
    await run(priorSampleStage, { n: 2, seed0: 9, max_tokens: 6 });
    // A rerun is a resume: nothing is redone.
    const again = await run(sampleStage, { k: 2, seed0: 5, max_tokens: 6 });
    assert.equal(again.partsRun.length, 0);

    const engine = await openOnnxEngine({ modelDir, threads: 1 });
    try {
      const gen = async (prompt: string, seed: number) =>
        (await engine.generate([{ prompt, options: { n: 1, seed, temperature: 0.7, topP: 1, topK: 0, maxTokens: 6, stop: ['<|end_of_solution|>'] } }]))[0]![0]!;
      const traces = await readAll(dir, 'traces');
      assert.equal(traces.length, 4);
      for (const t of traces) {
        const s = samples.find((x) => x.sample_id === t.sample_id)!;
        assert.equal(t.seed, 5 + Number(t.k));
        assert.equal(t.template, 'posterior_b');
        const posteriorPrompt = renderTemplate('posterior_b', { question: String(s.question), hint: String(s.hint) });
        const direct = (await engine.generate([{ prompt: posteriorPrompt, options: { n: 1, seed: 5 + Number(t.k), temperature: 0.7, topP: 1, topK: 0, maxTokens: 6, stop: [] } }]))[0]![0]!;
        assert.equal(t.trace, direct.text, 'trace k is sampled with seed seed0 + k');
        assert.equal(t.tokens, direct.tokens);
      }
      const scores = await readAll(dir, 'scores');
      assert.equal(scores.length, 4);
      for (const sc of scores) {
        const s = samples.find((x) => x.sample_id === sc.sample_id)!;
        const t = traces.find((x) => x.sample_id === sc.sample_id && x.k === sc.k)!;
        const z = cutTrace(String(t.trace)).z;
        assert.equal(sc.z, z);
        const r = renderTemplate('reasoning', { question: String(s.question) });
        const p = renderTemplate('posterior_b', { question: String(s.question), hint: String(s.hint) });
        const [lq, lp, la] = await engine.score([
          { prompt: p, continuation: String(t.trace) },
          { prompt: r, continuation: z },
          { prompt: r + z, continuation: referenceAnswerText(String(s.reference_solution)) },
        ]);
        assert.deepEqual(Array.from(sc.lq as Float32Array), Array.from(lq!.logprobs));
        assert.deepEqual(Array.from(sc.lp as Float32Array), Array.from(lp!.logprobs));
        assert.deepEqual(Array.from(sc.la as Float32Array), Array.from(la!.logprobs));
        // the marker tokens make lp longer than lq when the trace had none
        assert.ok((sc.lp as Float32Array).length > 0 && (sc.la as Float32Array).length > 0);
      }
      const prior = await readAll(dir, 'rollouts');
      assert.equal(prior.length, 4);
      for (const r of prior) {
        const s = samples.find((x) => x.sample_id === r.sample_id)!;
        assert.equal(r.k, -1);
        const direct = await gen(renderTemplate('reasoning', { question: String(s.question) }), 9 + Number(r.n));
        assert.equal(r.response, direct.text);
        assert.equal(r.seed, 9 + Number(r.n));
      }
    } finally {
      await engine.close();
    }
  } finally {
    await cleanup();
  }
});

test('rollout: N answers per trace on R(x) + z with seed seed0 + k*N + n', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const modelDir = join(dir, 'model');
    await initModelFolder({ out: modelDir, layers: 1, hidden: 32, heads: 2, kvHeads: 1, seed: 3 });
    const binding = await bindEngine({ kind: 'onnx', model: modelDir, threads: 1 });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const run = (stage: StageDefinition<any>, given: Record<string, unknown> = {}) =>
      runStage({ runDir: dir, stage, params: resolveParams(stage.name, stage.params, given), parts: 2, engines: { posterior: binding, prior: binding }, quiet: true });
    await run(fixture);
    await run(sampleStage, { k: 2, max_tokens: 4 });
    await run(rolloutStage, { n: 3, seed0: 11, max_tokens: 5 });
    const traces = await readAll(dir, 'traces');
    const rollouts = await readAll(dir, 'rollouts');
    assert.equal(rollouts.length, 2 * 2 * 3);
    const engine = await openOnnxEngine({ modelDir, threads: 1 });
    try {
      for (const r of rollouts.filter((x) => x.n === 2 || x.k === 1)) {
        const s = samples.find((x) => x.sample_id === r.sample_id)!;
        const t = traces.find((x) => x.sample_id === r.sample_id && x.k === r.k)!;
        const seed = 11 + Number(r.k) * 3 + Number(r.n);
        assert.equal(r.seed, seed);
        const prompt = renderTemplate('reasoning', { question: String(s.question) }) + cutTrace(String(t.trace)).z;
        const direct = (await engine.generate([{ prompt, options: { n: 1, seed, temperature: 0.7, topP: 1, topK: 0, maxTokens: 5, stop: ['<|end_of_solution|>'] } }]))[0]![0]!;
        assert.equal(r.response, direct.text);
      }
    } finally {
      await engine.close();
    }
  } finally {
    await cleanup();
  }
});
