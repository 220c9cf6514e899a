/**
 * synth — writes a toy task (src/synth) into the run folder, so a pipeline can make its own data of
 * a chosen difficulty: <run>/synth/<stage id>.jsonl (Bespoke-Stratos rows) and
 * <run>/synth/<stage id>.eval.jsonl (the held-out split). A prepare stage then reads them with
 * `input: [run:synth/<stage id>.jsonl]` (prepare hashes file contents, so a changed synth reruns it).
 *
 * writes: synth_files (one row per file written: path relative to the run folder, rows)
 */
import { join } from 'node:path';
import { defineStage } from '../pipeline/stage.js';
import { SYNTH_FILES } from './tables.js';
import { synthesize, writeJsonl, parseRange, TASKS, type TaskName } from '../synth/index.js';

export interface SynthParams {
  task: string;
  n: number;
  n_eval: number;
  seed: number;
  steps: string;
  digits: string;
}


export const synthStage = defineStage<SynthParams>({
  name: 'synth',
  version: 1,
  describe: 'Generate a toy reasoning task (arith, linear) of a chosen difficulty into the run folder',
  scope: 'all',
  inputs: {},
  outputs: { synth_files: SYNTH_FILES },
  params: {
    task: { type: 'string', default: 'arith', choices: Object.keys(TASKS), describe: 'arith (chains of + - * /) or linear (solve for x)' },
    n: { type: 'integer', default: 2000, describe: 'training rows' },
    n_eval: { type: 'integer', default: 200, describe: 'held-out eval rows (never among the training questions)' },
    seed: { type: 'integer', default: 0, describe: 'generator seed (same seed and options: same files)' },
    steps: { type: 'string', default: '2-4', describe: 'operations per problem, MIN-MAX' },
    digits: { type: 'string', default: '1-2', describe: 'digits of the numbers drawn, MIN-MAX' },
  },
  async run(ctx) {
    const p = ctx.params;
    const [minSteps, maxSteps] = parseRange(p.steps, 'steps');
    const [minDigits, maxDigits] = parseRange(p.digits, 'digits');
    const made = synthesize({ task: p.task as TaskName, n: p.n, nEval: p.n_eval, seed: p.seed, difficulty: { minSteps, maxSteps, minDigits, maxDigits } });
    const train = join('synth', `${ctx.stageId}.jsonl`);
    const evalFile = join('synth', `${ctx.stageId}.eval.jsonl`);
    await writeJsonl(join(ctx.runDir, train), made.train);
    await writeJsonl(join(ctx.runDir, evalFile), made.eval);
    await ctx.write('synth_files', [
      { sample_id: train, file: train, split: 'train', rows: made.train.length },
      { sample_id: evalFile, file: evalFile, split: 'eval', rows: made.eval.length },
    ]);
    ctx.progress.tick(2);
  },
});
