// The verify stage on src/verify's real verifiers, and the samples.tests -> CodeTests mapping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runStage } from '../../src/pipeline/runner.js';
import { resolveParams } from '../../src/pipeline/params.js';
import { defineStage } from '../../src/pipeline/stage.js';
import { SAMPLES, ROLLOUTS } from '../../src/stages/tables.js';
import { verifyStage, codeTestsOf, rowHasVerifier } from '../../src/stages/verify.js';
import { readRows } from '../../src/io/parquet.js';
import type { Row } from '../../src/io/schema.js';
import { tempDir } from '../io/helpers.js';

test('codeTestsOf reads APPS input_output, LiveCodeBench lists and CodeTests as prepare stores them', () => {
  assert.deepEqual(codeTestsOf(JSON.stringify({ inputs: ['1\n'], outputs: ['2\n'] }), ''), { kind: 'stdin', cases: [{ input: '1\n', output: '2\n' }] });
  const lcb = JSON.stringify([{ input: '[1]', output: '2', testtype: 'functional' }]);
  assert.deepEqual(codeTestsOf(lcb, 'class Solution:\n    def plusOne(self, a):'), { kind: 'call', fnName: 'plusOne', cases: [{ input: '[1]', output: '2' }] });
  assert.equal(codeTestsOf(null, ''), undefined);
  assert.equal(rowHasVerifier({ domain: 'math', reference_answer: '4', tests: null, question: 'q' }), true);
  assert.equal(rowHasVerifier({ domain: 'code', reference_answer: '', tests: null, question: 'q' }), false);
});

test('verify stage: one verdict per rollout, with the verifier named', async () => {
  const { dir, cleanup } = await tempDir();
  try {
    const samples: Row[] = [{ sample_id: '00000001', source: 'f', row_index: 0, domain: 'math', system: '', question: 'What is 2+2?', reference_thought: null, reference_solution: null, reference_answer: '4', hint: '4', tests: null }];
    const responses = ['_thought|>\n\n<|begin_of_solution|>\\boxed{4}<|end_of_solution|>', '_thought|>\n\n<|begin_of_solution|>\\boxed{5}<|end_of_solution|>', 'no answer at all'];
    const fixture = defineStage<Record<string, never>>({
      name: 'fixture', version: 1, describe: 'inputs', inputs: {}, params: {}, outputs: { samples: SAMPLES, rollouts: ROLLOUTS },
      async run(ctx) {
        await ctx.write('samples', samples);
        await ctx.write('rollouts', responses.map((response, n) => ({ sample_id: '00000001', k: 0, n, seed: n, response, finish_reason: 'stop', tokens: 1 })));
      },
    });
    await runStage({ runDir: dir, stage: fixture, params: {}, parts: 1, quiet: true });
    await runStage({ runDir: dir, stage: verifyStage, params: resolveParams('verify', verifyStage.params, {}), parts: 1, quiet: true });
    const rows: Row[] = [];
    for await (const b of readRows(join(dir, 'verdicts', 'part-00000-of-00001.parquet'))) rows.push(...b);
    assert.deepEqual(rows.map((r) => [r.n, r.correct]), [[0, true], [1, false], [2, false]]);
    assert.equal(rows[0]!.extracted !== null, true);
    assert.ok(rows.every((r) => /@\d+$/.test(String(r.verifier)) && String(r.reason).length > 0));
  } finally {
    await cleanup();
  }
});
