import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { synthesize, type StratosRow, type TaskName } from '../../src/synth/index.js';

const D = { minSteps: 2, maxSteps: 4, minDigits: 1, maxDigits: 2 };
const ASSISTANT = /^<\|begin_of_thought\|>\n\n([\s\S]+?)\n\n<\|end_of_thought\|>\n\n<\|begin_of_solution\|>\n\n([\s\S]+?)\n\n<\|end_of_solution\|>$/;

/** Splits an assistant turn the way `prepare` will; fails the test when the layout is off. */
function parseRow(row: StratosRow): { question: string; thought: string; solution: string; boxed: string } {
  assert.equal(typeof row.system, 'string');
  assert.equal(row.conversations.length, 2);
  assert.equal(row.conversations[0].from, 'user');
  assert.equal(row.conversations[1].from, 'assistant');
  const m = ASSISTANT.exec(row.conversations[1].value);
  assert.ok(m, `assistant turn does not parse: ${row.conversations[1].value}`);
  const boxes = [...(m[2] as string).matchAll(/\\boxed\{([^{}]*)\}/g)];
  assert.equal(boxes.length, 1, 'exactly one \\boxed{} in the solution');
  return { question: row.conversations[0].value, thought: m[1] as string, solution: m[2] as string, boxed: boxes[0]?.[1] as string };
}

/** Recomputes an arith question from its words alone. */
function solveArith(question: string): number {
  const m = /^Start with (\d+)\. (.+)\. What is the result\?$/.exec(question);
  assert.ok(m, question);
  let v = Number(m[1]);
  for (const part of (m[2] as string).split(/, (?:then )?/)) {
    const s = /^(Add|add|Subtract|subtract|Multiply by|multiply by|Divide by|divide by) (\d+)$/.exec(part.replace(/^then /, ''));
    assert.ok(s, `unknown operation "${part}" in ${question}`);
    const x = Number(s[2]);
    const op = (s[1] as string).toLowerCase();
    if (op === 'add') v += x;
    else if (op === 'subtract') v -= x;
    else if (op === 'multiply by') v *= x;
    else {
      assert.equal(v % x, 0, `inexact division in ${question}`);
      v /= x;
    }
    assert.ok(v >= 0, `negative intermediate in ${question}`);
  }
  return v;
}

/** Every "a op b = c" written in a thought must be true arithmetic. */
function checkThoughtArithmetic(thought: string): number {
  let checked = 0;
  for (const m of thought.matchAll(/(-?\d+) ([-+*/]) (\(-?\d+\)|\d+) = (-?\d+)/g)) {
    const a = Number(m[1]);
    const b = Number((m[3] as string).replace(/[()]/g, ''));
    const want = m[2] === '+' ? a + b : m[2] === '-' ? a - b : m[2] === '*' ? a * b : a / b;
    assert.equal(Number(m[4]), want, `wrong step "${m[0]}" in:\n${thought}`);
    checked++;
  }
  return checked;
}

test('same seed and options give identical rows; another seed gives others', () => {
  for (const task of ['arith', 'linear'] as TaskName[]) {
    const a = synthesize({ task, n: 200, nEval: 20, seed: 7, difficulty: D });
    const b = synthesize({ task, n: 200, nEval: 20, seed: 7, difficulty: D });
    const c = synthesize({ task, n: 200, nEval: 20, seed: 8, difficulty: D });
    assert.deepEqual(a.train, b.train);
    assert.deepEqual(a.eval, b.eval);
    assert.notDeepEqual(a.train, c.train);
  }
});

test('the eval split does not depend on n and shares no question with training', () => {
  const small = synthesize({ task: 'arith', n: 50, nEval: 30, seed: 3, difficulty: D });
  const big = synthesize({ task: 'arith', n: 500, nEval: 30, seed: 3, difficulty: D });
  assert.deepEqual(small.eval, big.eval);
  const evalQs = new Set(big.eval.map((r) => r.problem));
  const trainQs = big.train.map((r) => r.conversations[0].value);
  assert.equal(new Set(trainQs).size, trainQs.length, 'training questions are distinct');
  for (const q of trainQs) assert.ok(!evalQs.has(q), `eval question leaked into training: ${q}`);
});

test('arith: rows parse, every step is right and the boxed answer is the recomputed result', () => {
  const r = synthesize({ task: 'arith', n: 300, nEval: 50, seed: 1, difficulty: D });
  for (const row of r.train) {
    const p = parseRow(row);
    const want = solveArith(p.question);
    assert.equal(p.boxed, String(want), p.question);
    const steps = checkThoughtArithmetic(p.thought);
    assert.ok(steps >= 2 && steps <= 4, `${steps} steps in ${p.question}`);
    assert.ok(row.conversations[1].value.length < 500, 'short enough for CPU training');
  }
  for (const e of r.eval) assert.equal(e.answer, String(solveArith(e.problem)));
  assert.ok(new Set(r.eval.map((e) => e.source)).size >= 2, 'eval mixes difficulties');
});

test('linear: rows parse, every step is right, and sympy (a real Python process) agrees with the answers', () => {
  const r = synthesize({ task: 'linear', n: 150, nEval: 30, seed: 2, difficulty: D });
  const items = [
    ...r.train.map((row) => {
      const p = parseRow(row);
      checkThoughtArithmetic(p.thought);
      assert.ok(row.conversations[1].value.length < 600);
      return { q: p.question, a: p.boxed };
    }),
    ...r.eval.map((e) => ({ q: e.problem, a: e.answer })),
  ];
  const equations = items.map((it) => /^Solve for x: (.+)\.$/.exec(it.q)?.[1] ?? assert.fail(it.q));
  const py = [
    'import sys, json',
    'from sympy import Eq, Symbol, solve',
    'from sympy.parsing.sympy_parser import parse_expr, standard_transformations, implicit_multiplication_application',
    'T = standard_transformations + (implicit_multiplication_application,)',
    'x = Symbol("x")',
    'out = []',
    'for eq in json.load(sys.stdin):',
    '    l, r = eq.split("=")',
    '    out.append([str(s) for s in solve(Eq(parse_expr(l, transformations=T), parse_expr(r, transformations=T)), x)])',
    'print(json.dumps(out))',
  ].join('\n');
  const res = spawnSync('python3', ['-c', py], { input: JSON.stringify(equations), encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const solutions = JSON.parse(res.stdout) as string[][];
  items.forEach((it, i) => assert.deepEqual(solutions[i], [it.a], `${it.q}`));
});

test('difficulty knobs: fixed steps and digits show in the problems', () => {
  const r = synthesize({ task: 'arith', n: 100, nEval: 0, seed: 4, difficulty: { minSteps: 3, maxSteps: 3, minDigits: 3, maxDigits: 3 } });
  for (const [i, row] of r.train.entries()) {
    const p = parseRow(row);
    assert.equal(r.trainProblems[i]?.steps, 3);
    assert.equal(checkThoughtArithmetic(p.thought), 3);
    assert.match(p.question, /^Start with \d{3}\./);
    for (const m of p.question.matchAll(/(?:add|subtract) (\d+)/gi)) assert.equal((m[1] as string).length, 3);
  }
  const lin = synthesize({ task: 'linear', n: 60, nEval: 0, seed: 4, difficulty: { minSteps: 2, maxSteps: 2, minDigits: 1, maxDigits: 1 } });
  for (const row of lin.train) assert.match(row.conversations[0].value, /^Solve for x: \dx [-+] \d = -?\d+\.$/);
});

test('a space too small for the rows asked for is refused with a fix', () => {
  assert.throws(
    () => synthesize({ task: 'arith', n: 500, nEval: 0, seed: 0, difficulty: { minSteps: 1, maxSteps: 1, minDigits: 1, maxDigits: 1 } }),
    /synth: only \d+ distinct arith questions .* widen --digits or --steps/,
  );
});

test('vrdata synth writes byte-identical files for the same seed and rejects a bad range with exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vrdata-synth-'));
  try {
    const run = (out: string, extra: string[] = []) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'synth', '--task', 'linear', '--n', '40', '--seed', '5', '--split-eval', '10', '--out', out, ...extra], {
        encoding: 'utf8',
      });
    const a = run(join(dir, 'a.jsonl'));
    const b = run(join(dir, 'b.jsonl'));
    assert.equal(a.status, 0, a.stderr);
    assert.equal(b.status, 0, b.stderr);
    assert.equal(readFileSync(join(dir, 'a.jsonl'), 'utf8'), readFileSync(join(dir, 'b.jsonl'), 'utf8'));
    assert.equal(readFileSync(join(dir, 'a.eval.jsonl'), 'utf8'), readFileSync(join(dir, 'b.eval.jsonl'), 'utf8'));
    const lines = readFileSync(join(dir, 'a.jsonl'), 'utf8').trimEnd().split('\n');
    assert.equal(lines.length, 40);
    for (const line of lines) parseRow(JSON.parse(line) as StratosRow);
    const evalRows = readFileSync(join(dir, 'a.eval.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(evalRows.length, 10);
    for (const e of evalRows) assert.deepEqual(Object.keys(e).sort(), ['answer', 'problem', 'source']);
    const bad = run(join(dir, 'c.jsonl'), ['--steps', '4-2']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /synth: bad --steps range "4-2"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bundled data/toy files are exactly what their documented commands write', () => {
  const toJsonl = (rows: readonly unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  for (const [task, n] of [['arith', 2000], ['linear', 1000]] as const) {
    const r = synthesize({ task, n, nEval: 200, seed: 0, difficulty: D });
    assert.equal(readFileSync(join('data', 'toy', `${task}.jsonl`), 'utf8'), toJsonl(r.train), `data/toy/${task}.jsonl is stale: see data/toy/README.md`);
    assert.equal(readFileSync(join('data', 'toy', `${task}.eval.jsonl`), 'utf8'), toJsonl(r.eval), `data/toy/${task}.eval.jsonl is stale`);
  }
});
