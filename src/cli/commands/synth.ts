/** `vrdata synth`: writes a synthetic reasoning task (Bespoke-Stratos JSONL) and its held-out eval split. */
import type { CommandModule } from 'yargs';
import { parseRange, synthesize, TASKS, writeJsonl, type TaskName } from '../../synth/index.js';
import { usageError } from '../../util/errors.js';

interface SynthArgs {
  task: TaskName;
  n: number;
  seed: number;
  out: string;
  'split-eval': number;
  'eval-out'?: string;
  steps: string;
  digits: string;
}

/** FILE.jsonl -> FILE.eval.jsonl (or FILE + ".eval.jsonl" without the extension). */
export function defaultEvalPath(out: string): string {
  return out.endsWith('.jsonl') ? `${out.slice(0, -'.jsonl'.length)}.eval.jsonl` : `${out}.eval.jsonl`;
}

export const synthCommand: CommandModule<object, SynthArgs> = {
  command: 'synth',
  describe: 'Write a synthetic step-by-step reasoning task (Bespoke-Stratos JSONL) with a held-out eval split',
  builder: (y) =>
    y
      .option('task', { choices: Object.keys(TASKS) as TaskName[], default: 'arith' as TaskName, describe: 'arith: a chain of + - * / on small integers; linear: solve a*x + b = c (and harder forms) for integer x' })
      .option('n', { type: 'number', default: 1000, describe: 'training rows (all distinct questions)' })
      .option('seed', { type: 'number', default: 0, describe: 'random seed; the same seed and options give byte-identical files' })
      .option('out', { type: 'string', demandOption: true, describe: 'training rows, JSONL: {"system", "conversations": [user, assistant]}' })
      .option('split-eval', { type: 'number', default: 0, describe: 'held-out eval rows {"problem","answer","source"}, never among the training questions' })
      .option('eval-out', { type: 'string', describe: 'where the eval split goes (default: OUT with .eval.jsonl)' })
      .option('steps', { type: 'string', default: '2-4', describe: 'operations per problem (arith) or solving steps 2..4 (linear), MIN-MAX' })
      .option('digits', { type: 'string', default: '1-2', describe: 'digits of the numbers drawn, MIN-MAX (1 = 1..9)' })
      .example('$0 synth --task arith --n 2000 --seed 0 --split-eval 200 --out data/toy/arith.jsonl', 'the demo task'),
  handler: async (args) => {
    if (!Number.isInteger(args.n) || args.n < 0) throw usageError('synth', `--n must be a non-negative integer, got ${args.n}`);
    if (!Number.isInteger(args['split-eval']) || args['split-eval'] < 0) {
      throw usageError('synth', `--split-eval must be a non-negative integer, got ${args['split-eval']}`);
    }
    if (!Number.isSafeInteger(args.seed)) throw usageError('synth', `--seed must be an integer, got ${args.seed}`);
    const [minSteps, maxSteps] = parseRange(args.steps, '--steps');
    const [minDigits, maxDigits] = parseRange(args.digits, '--digits');
    const result = synthesize({
      task: args.task,
      n: args.n,
      nEval: args['split-eval'],
      seed: args.seed,
      difficulty: { minSteps, maxSteps, minDigits, maxDigits },
    });
    await writeJsonl(args.out, result.train);
    let evalNote = '';
    if (args['split-eval'] > 0) {
      const evalPath = args['eval-out'] ?? defaultEvalPath(args.out);
      await writeJsonl(evalPath, result.eval);
      evalNote = `, ${result.eval.length} eval rows to ${evalPath}`;
    }
    process.stdout.write(`synth: wrote ${result.train.length} ${args.task} rows to ${args.out}${evalNote}\n`);
  },
};
