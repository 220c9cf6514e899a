// The two commands end to end, as a user runs them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

function vrdata(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test('check-answer prints a verdict; --json prints the Verdict object', () => {
  const r = vrdata('check-answer', '--gold', '\\frac{1}{2}', '--pred', 'so the answer is \\boxed{0.5}', '--json');
  assert.equal(r.code, 0, r.err);
  const v = JSON.parse(r.out) as Record<string, unknown>;
  assert.equal(v.correct, true);
  assert.equal(v.extracted, '0.5');
  assert.match(String(v.verifier), /^math-mathverify@\d+$/);
  const t = vrdata('check-answer', '--gold', '10', '--pred', '\\boxed{10\\%}', '--policy', 'hendrycks');
  assert.equal(t.code, 0);
  assert.match(t.out, /^correct/);
  const bad = vrdata('check-answer', '--gold', '1');
  assert.equal(bad.code, 2);
});

test('check-answers prints one JSON line per case and a summary', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vrdata-cli-'));
  const file = join(dir, 'cases.jsonl');
  writeFileSync(
    file,
    [
      { id: 'a', gold: '\\frac{1}{2}', pred: 'The answer is $\\boxed{0.5}$.', expected: true },
      { id: 'b', gold: '3', pred: 'I think it is \\boxed{4}', expected: false },
      { id: 'c', gold: '10', pred: '\\boxed{10\\%}', config: { percent: 'strip' } },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );
  const r = vrdata('check-answers', file, '--json');
  assert.equal(r.code, 0, r.err);
  const lines = r.out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 4);
  assert.deepEqual(lines.slice(0, 3).map((l) => [l.id, l.correct]), [['a', true], ['b', false], ['c', true]]);
  for (const l of lines.slice(0, 3)) for (const k of ['id', 'correct', 'extracted', 'reason', 'ms']) assert.ok(k in l, k);
  assert.deepEqual((lines[3] as { summary: Record<string, unknown> }).summary.agree, 2);
  const mv = vrdata('check-answers', resolve('..', 'shared', 'data', 'verify', 'mathverify_cases.jsonl'));
  assert.match(mv.out.trim().split('\n').pop()!, /agrees with expected on 198\/199/);
  writeFileSync(file, '{"id": 1, "gold": "1"}\n');
  const broken = vrdata('check-answers', file);
  assert.equal(broken.code, 1);
  assert.match(broken.err, /verify: .*cases\.jsonl:1: row needs "gold" and "pred"/);
});
