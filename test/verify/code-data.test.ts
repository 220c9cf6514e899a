// The code checker on the shared APPS and LiveCodeBench rows: every row's tests parse, and a correct
// program passes while a wrong one fails, for a stdin problem and a call-based one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseCodeTests, outputsMatch, resultsMatch } from '../../src/verify/code/index.js';
import { verify } from '../../src/verify/index.js';

const EVAL = resolve('..', 'shared', 'data', 'eval');
const lcb = JSON.parse(readFileSync(resolve(EVAL, 'livecodebench.json'), 'utf8')) as Record<string, unknown>[];
const apps = readFileSync(resolve(EVAL, 'apps10.jsonl'), 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Record<string, unknown>);

test('every APPS and LiveCodeBench row yields tests of the right kind', () => {
  for (const r of apps) {
    const t = parseCodeTests(r);
    assert.ok(t && t.kind === 'stdin' && t.cases.length >= 2, `apps ${r.problem_id}`);
  }
  let call = 0;
  for (const r of lcb) {
    const t = parseCodeTests(r);
    assert.ok(t && t.cases.length > 0);
    if (t.kind === 'call') {
      call++;
      assert.match(t.fnName ?? '', /^\w+$/);
    }
  }
  assert.equal(call, lcb.filter((r) => String(r.starter_code).trim() !== '').length);
});

test('outputs compare like the benchmarks: trailing whitespace, float tolerance, APPS one-element lists', () => {
  assert.equal(outputsMatch('YES\nNO  \n\n', 'YES\nNO\n'), true);
  assert.equal(outputsMatch('0.3333333', '0.333333333'), true);
  assert.equal(outputsMatch('YES\nNO\n', 'YES\nYES\n'), false);
  assert.equal(resultsMatch('[1, 2]', '[[1, 2]]'), true);
  assert.equal(resultsMatch('2', '3'), false);
});

test('LiveCodeBench stdin problem: a correct program passes, a wrong one fails', async () => {
  const row = lcb[0]!;
  const tests = parseCodeTests(row)!;
  const right = 'Here:\n```python\nt = int(input())\nfor _ in range(t):\n    s = input().strip()\n    print("YES" if sum(a != b for a, b in zip(s, "abc")) <= 2 else "NO")\n```';
  const wrong = '```python\nt = int(input())\nfor _ in range(t):\n    input()\n    print("YES")\n```';
  const ok = await verify({ domain: 'code', response: right, reference: '', tests });
  assert.equal(ok.correct, true, ok.reason);
  assert.match(ok.verifier, /^code-bwrap@/);
  const bad = await verify({ domain: 'code', response: wrong, reference: '', tests });
  assert.equal(bad.correct, false);
  assert.match(bad.reason, /wrong answer/);
});

test('LiveCodeBench call-based problem: a correct Solution passes, a wrong one fails', async () => {
  const row = lcb.find((r) => /countSeniors/.test(String(r.starter_code)))!;
  const tests = parseCodeTests(row)!;
  assert.equal(tests.kind, 'call');
  const right = '```python\nclass Solution:\n    def countSeniors(self, details):\n        return sum(int(d[11:13]) > 60 for d in details)\n```';
  const wrong = '```python\nclass Solution:\n    def countSeniors(self, details):\n        return sum(int(d[11:13]) >= 60 for d in details) + 1\n```';
  assert.equal((await verify({ domain: 'code', response: right, reference: '', tests })).correct, true);
  assert.equal((await verify({ domain: 'code', response: wrong, reference: '', tests })).correct, false);
  const none = await verify({ domain: 'code', response: 'I cannot solve this.', reference: '', tests });
  assert.equal(none.correct, false);
  assert.match(none.reason, /no code block/);
});
