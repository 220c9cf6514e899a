/**
 * `vrdata check-answers <cases.jsonl>`: checks every row {id, gold, pred, config?, expected?} and
 * prints one JSON line per case {id, correct, extracted, reason, ms} (plus expected/agree when the
 * row has `expected`), then a summary line. Rows carrying a recorded test-suite config (Math-Verify,
 * NeMo-Skills, MATH) are checked under that suite's policy; --policy overrides the rest.
 */
import type { CommandModule } from 'yargs';
import { performance } from 'node:perf_hooks';
import { readCases } from '../../verify/cases.js';
import { checkMath, type MathPolicy } from '../../verify/math/index.js';
import { referenceAsResponse } from '../../verify/index.js';
import { usageError } from '../../util/errors.js';

interface Args {
  file: string;
  json: boolean;
  policy?: MathPolicy;
  timeout: number;
}

/** One case's output line. */
export interface CaseVerdict {
  id: string;
  correct: boolean;
  extracted: string | null;
  reason: string;
  ms: number;
  expected?: boolean;
  agree?: boolean;
}

export const checkAnswersCommand: CommandModule<object, Args> = {
  command: 'check-answers <file>',
  describe: 'Check every {id, gold, pred, config?} row of a JSON-lines file; one JSON line per case, then a summary',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'JSON lines: {id, gold, pred, config?, expected?}' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the summary as JSON too' })
      .option('policy', { choices: ['mathverify', 'nemo', 'hendrycks'] as const, describe: 'Policy for rows without a recorded suite config (default mathverify)' })
      .option('timeout', { type: 'number', default: 2000, describe: 'Budget per case in ms; a case that runs out is answered false' }),
  handler: (a) => {
    if (typeof a.file !== 'string') throw usageError('check-answers', 'give a cases file: vrdata check-answers <cases.jsonl>');
    const rows = readCases(a.file);
    let correct = 0;
    let withExpected = 0;
    let agree = 0;
    const t0 = performance.now();
    for (const r of rows) {
      const s = performance.now();
      const config = r.goldIsText || !a.policy ? r.config : { ...r.config, policy: a.policy };
      const res =
        r.gold === null || r.pred === null
          ? { correct: false, extracted: null, reason: r.pred === null ? 'no prediction' : 'no reference' }
          : checkMath(r.goldIsText ? r.gold : referenceAsResponse(r.gold), r.pred, config, a.timeout);
      const line: CaseVerdict = { id: r.id, correct: res.correct, extracted: res.extracted, reason: res.reason, ms: Number((performance.now() - s).toFixed(3)) };
      if (res.correct) correct++;
      if (r.expected !== undefined) {
        line.expected = r.expected;
        line.agree = r.expected === res.correct;
        withExpected++;
        if (line.agree) agree++;
      }
      process.stdout.write(`${JSON.stringify(line)}\n`);
    }
    const ms = performance.now() - t0;
    const summary = {
      cases: rows.length,
      correct,
      ...(withExpected > 0 ? { with_expected: withExpected, agree, agreement: Number((agree / withExpected).toFixed(4)) } : {}),
      ms: Number(ms.toFixed(1)),
      cases_per_s: Number((rows.length / (ms / 1000)).toFixed(1)),
    };
    if (a.json) process.stdout.write(`${JSON.stringify({ summary })}\n`);
    else {
      const agreeText = withExpected > 0 ? `; agrees with expected on ${agree}/${withExpected} (${((100 * agree) / withExpected).toFixed(1)}%)` : '';
      process.stdout.write(`summary: ${rows.length} cases, ${correct} correct${agreeText}; ${summary.cases_per_s} cases/s\n`);
    }
  },
};
