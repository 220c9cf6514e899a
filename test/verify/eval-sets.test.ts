// Every reference answer of the shared eval sets is accepted against itself and reformatted
// variants (boxed in a sentence, with a unit, as a decimal) and rejected against another row's answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { verify, isCheckableMath, type VerifyInput } from '../../src/verify/index.js';
import { parseMath } from '../../src/verify/math/parse.js';
import { normalizeLatex } from '../../src/verify/math/normalize.js';
import { evaluate } from '../../src/verify/math/evaluate.js';
import { Budget } from '../../src/verify/budget.js';

const EVAL = resolve('..', 'shared', 'data', 'eval');
const jsonl = (f: string): Record<string, unknown>[] =>
  readFileSync(resolve(EVAL, f), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);

/** The reference answers of each math set, as strings. */
function mathAnswers(): { set: string; answers: string[] }[] {
  // OlympiadBench joins several answers as "a$,$b"; answers in prose ("f(x)=ax+b, where b is ...") have no verifier.
  const olymp = jsonl('olympiadbench.jsonl')
    .map((r) => (r.final_answer as string[]).map((a) => a.replace(/\$\s*,\s*\$/g, ', ').replace(/\$/g, '').trim()).join(', '))
    .filter((a) => isCheckableMath(a, 300));
  return [
    { set: 'math500', answers: jsonl('math500.jsonl').map((r) => String(r.answer)) },
    { set: 'aime24', answers: jsonl('aime24.jsonl').map((r) => String(r.answer)) },
    { set: 'aime25', answers: jsonl('aime25.jsonl').map((r) => String(r.answer)) },
    { set: 'amc23', answers: jsonl('amc23.jsonl').map((r) => String(r.answer)) },
    { set: 'olympiadbench', answers: olymp },
  ];
}

/** An exact decimal rendering of a rational answer (12 digits when it does not terminate), or null. */
function asDecimal(answer: string): string | null {
  try {
    const v = evaluate(parseMath(normalizeLatex(answer), new Budget(500)), { vars: null, percent: 'fraction', budget: new Budget(500) });
    if (!v.q || v.d === 1n) return null;
    const neg = v.n < 0n;
    const n = neg ? -v.n : v.n;
    const scale = 10n ** 12n;
    const digits = ((n * scale) / v.d).toString().padStart(13, '0');
    return `${neg ? '-' : ''}${digits.slice(0, -12)}.${digits.slice(-12)}`;
  } catch {
    return null;
  }
}

const isPlainNumber = (a: string): boolean => /^-?\d+(\.\d+)?$/.test(a.trim());

async function accepts(reference: string, response: string): Promise<boolean> {
  const input: VerifyInput = { domain: 'math', reference, response };
  return (await verify(input)).correct;
}

for (const { set, answers } of mathAnswers()) {
  test(`${set}: every reference accepts itself and its variants, rejects another row's answer`, async () => {
    const failures: string[] = [];
    for (let i = 0; i < answers.length; i++) {
      const a = answers[i]!;
      if (!(await accepts(a, a))) failures.push(`self: ${a}`);
      if (!(await accepts(a, `Thus the final answer is $\\boxed{${a}}$.`))) failures.push(`boxed: ${a}`);
      if (isPlainNumber(a) && !(await accepts(a, `The length is \\boxed{${a}\\text{ cm}}`))) failures.push(`unit: ${a}`);
      const dec = asDecimal(a);
      if (dec !== null && !(await accepts(a, `\\boxed{${dec}}`))) failures.push(`decimal: ${a} as ${dec}`);
      // Another row's answer: the next one whose text differs.
      for (let k = 1; k < answers.length; k++) {
        const b = answers[(i + k) % answers.length]!;
        const bare = (x: string): string => x.replace(/\s/g, '').replace(/^[a-zA-Z]=/, '');
        if (bare(b) === bare(a)) continue;
        if (await accepts(a, `\\boxed{${b}}`)) failures.push(`other: ${a} accepted ${b}`);
        break;
      }
    }
    assert.deepEqual(failures, []);
  });
}

test('mmlu_pro: the reference letter accepts its phrasings and rejects another letter', async () => {
  const rows = jsonl('mmlu_pro.jsonl');
  const failures: string[] = [];
  for (const [i, r] of rows.entries()) {
    const a = String(r.answer);
    const other = 'ABCDEFGHIJ'[('ABCDEFGHIJ'.indexOf(a) + 1 + (i % 9)) % 10]!;
    for (const resp of [a, `The answer is (${a}).`, `Answer: ${a}`, `so we pick \\boxed{${a}}`]) {
      if (!(await verify({ domain: 'multiple_choice', reference: a, response: resp })).correct) failures.push(`${r.question_id}: ${resp}`);
    }
    if ((await verify({ domain: 'multiple_choice', reference: a, response: `The answer is (${other}).` })).correct) failures.push(`${r.question_id}: accepted ${other}`);
  }
  assert.equal(rows.length > 12000, true);
  assert.deepEqual(failures.slice(0, 20), []);
});
