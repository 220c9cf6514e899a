/** The report's accuracy per round: round 1 is the run folder, round r > 1 is <run>/round-r (as runPipeline writes them). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runStage } from '../../src/pipeline/runner.js';
import { defineStage } from '../../src/pipeline/stage.js';
import { roundDir } from '../../src/pipeline/run.js';
import { EVAL } from '../../src/stages/tables.js';
import { collectRun } from '../../src/report/collect.js';
import { renderReport } from '../../src/report/render.js';
import { tempDir } from '../helpers/tmp.js';

/** Writes an eval table of `total` answers, `correct` of them right, through the real runner (manifests and all). */
async function writeEval(dir: string, table: string, correct: number, total: number): Promise<void> {
  const stage = defineStage<Record<string, never>>({
    name: 'eval', version: 1, describe: 'fixed answers', inputs: {}, outputs: { eval: EVAL }, params: {},
    async run(ctx) {
      await ctx.write('eval', Array.from({ length: total }, (_, i) => ({
        sample_id: `q${i}`, source: 'toy', n: 0, response: '', correct: i < correct, extracted: null, reason: 'fixture',
      })));
    },
  });
  await runStage({ runDir: dir, stage, id: table, params: {}, parts: 1, tables: { eval: table }, quiet: true });
}

test('report collects eval accuracy per round and shows it', async () => {
  const { dir, cleanup } = await tempDir('vrdata-rounds-');
  try {
    const figures = [[4, 8], [5, 8], [6, 8]] as const; // eval_after per round
    for (const [i, [after, total]] of figures.entries()) {
      await writeEval(roundDir(dir, i + 1), 'eval_before', i === 0 ? 2 : figures[i - 1]![0], total);
      await writeEval(roundDir(dir, i + 1), 'eval_after', after, total);
    }
    const data = await collectRun(dir);
    assert.deepEqual(data.rounds?.map((r) => r.round), [1, 2, 3]);
    assert.deepEqual(data.rounds?.map((r) => r.evals.find((e) => e.table === 'eval_after')?.accuracy), [0.5, 0.625, 0.75]);
    assert.deepEqual(data.rounds?.map((r) => r.evals.map((e) => e.table)), [['eval_before', 'eval_after'], ['eval_before', 'eval_after'], ['eval_before', 'eval_after']]);
    const html = renderReport(data);
    assert.match(html, /Accuracy per round/);
    assert.match(html, /75\.0%/);
    // a single-round run has no per-round section
    const single = await collectRun(join(dir, 'round-2'));
    assert.equal(single.rounds, undefined);
    assert.doesNotMatch(renderReport(single), /Accuracy per round/);
  } finally {
    await cleanup();
  }
});
