import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { accuracy, passAtK, summarizeEval, type EvalOutcome } from '../../src/eval/metrics.js';

const close = (a: number, b: number, tol = 1e-12) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} != ${b}`);

test('pass@k matches hand-computed values', () => {
  close(passAtK(5, 2, 1), 0.4); // c/n
  close(passAtK(5, 2, 2), 1 - 3 / 10); // 1 - C(3,2)/C(5,2)
  close(passAtK(10, 3, 5), 1 - 21 / 252); // 1 - C(7,5)/C(10,5)
  close(passAtK(4, 1, 3), 1 - 1 / 4); // 1 - C(3,3)/C(4,3)
  assert.equal(passAtK(5, 0, 3), 0);
  assert.equal(passAtK(5, 4, 2), 1); // n - c < k: every k-subset holds a correct one
  assert.equal(passAtK(1, 1, 1), 1);
});

test('pass@k agrees with exact rationals from Python (a real process) where binomials overflow doubles', () => {
  const cases: [number, number, number][] = [
    [2000, 1000, 100],
    [2000, 1, 1],
    [2000, 1, 1000],
    [1500, 3, 2],
    [1200, 700, 400],
    [64, 10, 16],
  ];
  const py = [
    'import sys, json',
    'from fractions import Fraction',
    'from math import comb',
    'print(json.dumps([float(1 - Fraction(comb(n - c, k), comb(n, k))) for n, c, k in json.load(sys.stdin)]))',
  ].join('\n');
  const res = spawnSync('python3', ['-c', py], { input: JSON.stringify(cases), encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const want = JSON.parse(res.stdout) as number[];
  cases.forEach(([n, c, k], i) => close(passAtK(n, c, k), want[i] as number, 1e-10));
});

test('pass@k refuses k above n and malformed counts, with the fix', () => {
  assert.throws(() => passAtK(4, 1, 5), /eval: pass@5 needs at least 5 samples per question, got 4: sample more or lower k/);
  assert.throws(() => passAtK(4, 5, 1), /eval: pass@k needs integers/);
  assert.throws(() => passAtK(0, 0, 1), /eval: pass@k needs integers/);
  assert.throws(() => passAtK(4, 1, 0), /eval: pass@k needs integers/);
});

test('accuracy is the fraction correct', () => {
  assert.equal(accuracy([true, false, true, true]), 0.75);
  assert.ok(Number.isNaN(accuracy([])));
});

test('summarizeEval: per question, per source, pass@k and standard error by hand', () => {
  const rows: EvalOutcome[] = [];
  const add = (source: string, id: string, pattern: string) => {
    for (const ch of pattern) rows.push({ sample_id: id, source, correct: ch === '1' });
  };
  add('b', 'q1', '1100'); // c=2 of 4
  add('b', 'q2', '0000'); // 0 of 4
  add('a', 'q3', '1111'); // 4 of 4
  add('a', 'q1', '1000'); // same id, other source: a different question
  const r = summarizeEval(rows, { ks: [1, 2, 4, 5] });
  assert.deepEqual(Object.keys(r.bySource), ['a', 'b']);
  const a = r.bySource.a!;
  const b = r.bySource.b!;
  assert.equal(a.questions, 2);
  assert.equal(a.samples, 8);
  close(a.accuracy, (1 + 0.25) / 2);
  // pass@2: q3 -> 1; 'a'/q1 (n=4, c=1) -> 1 - C(3,2)/C(4,2) = 1 - 3/6 = 0.5
  close(a.passAtK[2]!, (1 + 0.5) / 2);
  close(b.accuracy, 0.25);
  // pass@2: q1 (c=2) -> 1 - C(2,2)/C(4,2) = 5/6; q2 -> 0
  close(b.passAtK[2]!, 5 / 6 / 2);
  close(b.passAtK[4]!, 0.5);
  assert.equal(b.passAtK[5], null, 'k above the samples per question gives null, not a guess');
  const o = r.overall;
  assert.equal(o.questions, 4);
  assert.equal(o.samples, 16);
  close(o.accuracy, (0.5 + 0 + 1 + 0.25) / 4);
  // stderr: fractions 0.5, 0, 1, 0.25, mean 0.4375; sample variance = 0.5625+0.1914+0.3164+0.0352 (/3)
  const m = 0.4375;
  const v = ((0.5 - m) ** 2 + m ** 2 + (1 - m) ** 2 + (0.25 - m) ** 2) / 3;
  close(o.stderr, Math.sqrt(v / 4));
  close(o.passAtK[1]!, o.accuracy);
  assert.equal(o.minSamples, 4);
});

test('summarizeEval on nothing gives NaN accuracy and null pass@k, not an exception', () => {
  const r = summarizeEval([], { ks: [1] });
  assert.equal(r.overall.questions, 0);
  assert.ok(Number.isNaN(r.overall.accuracy));
  assert.equal(r.overall.passAtK[1], null);
  assert.throws(() => summarizeEval([], { ks: [0] }), /eval: k must be a positive integer/);
});
