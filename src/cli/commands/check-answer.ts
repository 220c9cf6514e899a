/**
 * `vrdata check-answer --gold G --pred P`: is P a correct answer for the reference G? Prints the
 * verdict (correct, extracted answer, reason, time, verifier); --json prints it as one JSON object.
 * Exit code 0 either way: the verdict is the output, not a failure.
 */
import type { CommandModule } from 'yargs';
import { verify, type Domain } from '../../verify/index.js';
import type { MathPolicy } from '../../verify/math/index.js';
import { checkAnswersCommand } from './check-answers.js';
import { usageError } from '../../util/errors.js';

interface Args {
  gold: string;
  pred: string;
  json: boolean;
  policy: MathPolicy;
  domain: 'math' | 'multiple_choice';
  'float-rounding': number;
  percent: 'fraction' | 'strip';
  tuples: 'ordered' | 'unordered';
  timeout: number;
}

export const checkAnswerCommand: CommandModule<object, Args> = {
  command: 'check-answer',
  describe: 'Check one predicted answer (or whole response) against a reference answer',
  builder: (y) =>
    y
      .option('gold', { type: 'string', demandOption: true, describe: 'Reference answer, e.g. "\\frac{1}{2}" or "C"' })
      .option('pred', { type: 'string', demandOption: true, describe: 'Predicted answer or a whole response (its final answer is extracted)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the verdict as JSON' })
      .option('policy', { choices: ['mathverify', 'nemo', 'hendrycks'] as const, default: 'mathverify' as const, describe: 'Equivalence rules: Math-Verify 0.8, NeMo-Skills math_equal, or MATH is_equiv' })
      .option('domain', { choices: ['math', 'multiple_choice'] as const, default: 'math' as const, describe: 'math: extract and compare values; multiple_choice: compare the chosen letter A-J' })
      .option('float-rounding', { type: 'number', default: 6, describe: 'Decimals compared when either side is a decimal number' })
      .option('percent', { choices: ['fraction', 'strip'] as const, default: 'fraction' as const, describe: 'fraction: 10% = 0.1; strip: 10% = 10' })
      .option('tuples', { choices: ['ordered', 'unordered'] as const, default: 'ordered' as const, describe: 'Whether tuple order matters' })
      .option('timeout', { type: 'number', default: 2000, describe: 'Budget in ms; when it runs out the answer is false with a reason' }),
  handler: async (a) => {
    // yargs (exitProcess off) still calls the handler after a missing-option failure.
    if (typeof a.gold !== 'string' || typeof a.pred !== 'string') throw usageError('check-answer', 'give both --gold and --pred');
    const domain: Domain = a.domain;
    const v = await verify(
      { domain, response: a.pred, reference: a.gold, config: { policy: a.policy, floatRounding: a['float-rounding'], percent: a.percent, tuples: a.tuples } },
      { timeoutMs: a.timeout },
    );
    if (a.json) process.stdout.write(`${JSON.stringify(v)}\n`);
    else process.stdout.write(`${v.correct ? 'correct' : 'incorrect'}: extracted ${JSON.stringify(v.extracted)}; ${v.reason} (${v.ms.toFixed(2)} ms, ${v.verifier})\n`);
  },
};

/** Both answer-checking commands, registered together. */
export const checkAnswerCommands = [checkAnswerCommand, checkAnswersCommand];
