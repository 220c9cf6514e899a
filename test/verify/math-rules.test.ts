// The math checker's rules one by one, and its budget on pathological inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { verify } from '../../src/verify/index.js';
import { checkMath } from '../../src/verify/math/index.js';
import { extractBoxed } from '../../src/verify/math/normalize.js';
import type { MathConfig } from '../../src/verify/math/index.js';

async function ok(reference: string, response: string, config?: MathConfig): Promise<boolean> {
  return (await verify({ domain: 'math', reference, response, config })).correct;
}

test('extraction: last \\boxed with nested braces, "final answer is", Answer: line, last number', async () => {
  assert.equal(extractBoxed('first \\boxed{1} which was wrong so we redo it all: \\boxed{\\frac{a}{\\sqrt{b}}} end', 'last'), '\\frac{a}{\\sqrt{b}}');
  assert.equal(extractBoxed('\\boxed{1} and \\boxed{2}', 'last'), '1,2');
  assert.equal(await ok('\\frac{1}{2}', 'We try \\boxed{3} first. Correcting: \\boxed{\\frac{1}{2}}'), true);
  assert.equal(await ok('7', 'The final answer is $7$. I hope it is correct.'), true);
  assert.equal(await ok('7', 'lots of work, 3 and 5 ...\nAnswer: 7'), true);
  assert.equal(await ok('42', 'so in total we get 40 + 2 = 42'), true);
  assert.equal(await ok('42', 'so in total we get 41'), false);
});

test('normalisation: \\left/\\right, \\dfrac, units, degrees, thousands separators, mixed numbers, \\pm', async () => {
  assert.equal(await ok('(3, \\frac{\\pi}{2})', '\\boxed{\\left( 3, \\dfrac{\\pi}{2} \\right)}'), true);
  assert.equal(await ok('125', '\\boxed{125\\text{ miles}}'), true);
  assert.equal(await ok('90', '\\boxed{90^\\circ}'), true);
  assert.equal(await ok('10080', '\\boxed{10,\\!080}'), true);
  assert.equal(await ok('918.5', '\\boxed{918\\frac{1}{2}}'), true);
  assert.equal(await ok('1 \\pm \\sqrt{19}', '\\boxed{1 + \\sqrt{19}, 1 - \\sqrt{19}}'), true);
  assert.equal(await ok('1 \\pm \\sqrt{19}', '\\boxed{1 + \\sqrt{19}}'), false);
});

test('numbers: precision is configurable; fractions and radicals are exact', async () => {
  assert.equal(await ok('\\frac{1}{3}', '\\boxed{0.333333}'), true);
  assert.equal(await ok('\\frac{1}{3}', '\\boxed{0.3333}'), false);
  assert.equal(await ok('\\frac{1}{3}', '\\boxed{0.3333}', { floatRounding: 4 }), true);
  assert.equal(await ok('2\\sqrt{2}', '\\boxed{\\sqrt{8}}'), true);
  assert.equal(await ok('\\frac{\\sqrt{3}}{3}', '\\boxed{\\frac{1}{\\sqrt{3}}}'), true);
  assert.equal(await ok('\\sqrt{3}', '\\boxed{\\sqrt{2}}'), false);
});

test('percent policy is switchable: 10% = 0.1 (fraction) or 10 (strip)', async () => {
  assert.equal(await ok('0.1', '\\boxed{10\\%}'), true);
  assert.equal(await ok('10', '\\boxed{10\\%}'), false);
  assert.equal(await ok('10', '\\boxed{10\\%}', { percent: 'strip' }), true);
});

test('sets, tuples, intervals, matrices', async () => {
  assert.equal(await ok('\\{1, 2, 3\\}', '\\boxed{\\{3, 1, 2\\}}'), true);
  assert.equal(await ok('(1, 2)', '\\boxed{(2, 1)}'), false);
  assert.equal(await ok('(1, 2, 3)', '\\boxed{(3, 2, 1)}', { tuples: 'unordered' }), true);
  assert.equal(await ok('[0, 1)', '\\boxed{[0,1)}'), true);
  assert.equal(await ok('[0, 1)', '\\boxed{[0,1]}'), false);
  assert.equal(await ok('(-\\infty, 0) \\cup (1, \\infty)', '\\boxed{(1,\\infty) \\cup (-\\infty, 0)}'), true);
  assert.equal(await ok('\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\boxed{\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}}'), true);
  assert.equal(await ok('\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}', '\\boxed{\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}}'), false);
});

test('equations, assignments, inequalities, symbolic equality', async () => {
  assert.equal(await ok('5', '\\boxed{x = 5}'), true);
  assert.equal(await ok('x = 5', '\\boxed{5}'), true);
  assert.equal(await ok('x + y = 1', '\\boxed{2x + 2y = 2}'), true);
  assert.equal(await ok('x + y = 1', '\\boxed{x + y = 2}'), false);
  assert.equal(await ok('x \\le 5', '\\boxed{5 \\ge x}'), true);
  assert.equal(await ok('x < 5', '\\boxed{-x > -5}'), true);
  assert.equal(await ok('x < 5', '\\boxed{x > 5}'), false);
  assert.equal(await ok('-2 \\le x \\le 7', '\\boxed{[-2, 7]}'), true);
  assert.equal(await ok('(x+1)^2', '\\boxed{x^2 + 2x + 1}'), true);
  assert.equal(await ok('\\tan^2 y + 1', '\\boxed{\\sec^2 y}'), true);
  assert.equal(await ok('(x+1)^2', '\\boxed{x^2 + 1}'), false);
});

test('pathological inputs return false within their budget', () => {
  const cases: [string, string][] = [
    ['2', '\\boxed{2^2^2^2^2^2}'],
    ['2', `\\boxed{${'2^{'.repeat(12)}2${'}'.repeat(12)}}`],
    ['1', `\\boxed{${'('.repeat(5000)}1${')'.repeat(5000)}}`],
    ['1', `\\boxed{${'{'.repeat(5000)}1${'}'.repeat(5000)}}`],
    ['1', `\\boxed{${'\\frac{1}{'.repeat(3000)}1${'}'.repeat(3000)}}`],
    ['1', `${'x'.repeat(1 << 20)} \\boxed{2}`],
    ['2', `\\boxed{${'1+'.repeat(300_000)}1}`],
    ['1', '$'.repeat(1 << 20)],
    ['1', `${'$a$ '.repeat(200_000)}`],
    ['x', `\\boxed{${'x*'.repeat(100_000)}x}`],
    ['1', `\\boxed{${'9'.repeat(100_000)}!}`],
    ['1', '\\boxed{10^{10^{10}}}'],
  ];
  for (const [gold, pred] of cases) {
    const t0 = performance.now();
    const r = checkMath(`\\boxed{${gold}}`, pred, {}, 500);
    const ms = performance.now() - t0;
    assert.equal(r.correct, false, pred.slice(0, 40));
    assert.ok(ms < 1500, `${pred.slice(0, 40)} took ${ms} ms`);
  }
});

test('a budget that runs out answers false with a reason', () => {
  const r = checkMath('\\boxed{1}', `\\boxed{${'1+'.repeat(300_000)}1}`, {}, 5);
  assert.equal(r.correct, false);
  assert.match(r.reason, /budget|deep|parse/);
});
