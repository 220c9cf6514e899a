/**
 * The code checker: the last ```python block of a response runs against stdin/stdout tests (APPS,
 * LiveCodeBench "stdin") or call-based tests (a function name plus JSON argument lists: APPS fn_name,
 * LiveCodeBench "functional"), each test in its own sandboxed process, at most `parallel` at once,
 * stopping at the first failure. Outputs compare as those benchmarks do: line by line with trailing
 * whitespace ignored, then token by token with floats within 1e-6.
 */

import pLimit from 'p-limit';
import { performance } from 'node:perf_hooks';
import { runPython, type SandboxOptions, type RunResult } from './sandbox.js';

/** Tests for one problem. For 'call', input is newline-separated JSON arguments and output the JSON result. */
export interface CodeTests {
  kind: 'stdin' | 'call';
  fnName?: string;
  cases: { input: string; output: string }[];
}

export interface CodeOptions {
  sandbox?: SandboxOptions;
  /** Wall-clock limit for the whole problem. */
  problemTimeoutMs?: number;
  /** Tests run at once. */
  parallel?: number;
}

export interface CodeResult {
  correct: boolean;
  passed: number;
  total: number;
  reason: string;
  extracted: string | null;
}

/** The last fenced code block (```python, ```py or bare ```), or null. */
export function extractCode(response: string): string | null {
  const re = /```[ \t]*(python3?|py)?[^\n`]*\n([\s\S]*?)```/g;
  let last: string | null = null;
  let lastPy: string | null = null;
  for (let m = re.exec(response); m !== null; m = re.exec(response)) {
    last = m[2]!;
    if (m[1]) lastPy = m[2]!;
  }
  return lastPy ?? last;
}

/** Reads tests from an APPS row (input_output JSON string) or a LiveCodeBench row (tests list + starter_code). */
export function parseCodeTests(row: Record<string, unknown>): CodeTests | null {
  if (typeof row.input_output === 'string' && row.input_output.trim() !== '') {
    const io = JSON.parse(row.input_output) as { inputs?: unknown[]; outputs?: unknown[]; fn_name?: string };
    const ins = io.inputs ?? [];
    const outs = io.outputs ?? [];
    if (io.fn_name) {
      return {
        kind: 'call',
        fnName: io.fn_name,
        cases: ins.map((a, i) => ({ input: (Array.isArray(a) ? a : [a]).map((x) => JSON.stringify(x)).join('\n'), output: JSON.stringify(outs[i]) })),
      };
    }
    return { kind: 'stdin', cases: ins.map((a, i) => ({ input: asText(a), output: asText(outs[i]) })) };
  }
  if (Array.isArray(row.tests)) {
    const tests = row.tests as { input: string; output: string; testtype?: string }[];
    if (tests.length === 0) return null;
    if (tests[0]!.testtype === 'functional') {
      const starter = typeof row.starter_code === 'string' ? row.starter_code : '';
      const fn = /def\s+(\w+)\s*\(\s*self/.exec(starter)?.[1] ?? /def\s+(\w+)\s*\(/.exec(starter)?.[1];
      if (!fn) return null;
      return { kind: 'call', fnName: fn, cases: tests.map((t) => ({ input: t.input, output: t.output })) };
    }
    return { kind: 'stdin', cases: tests.map((t) => ({ input: t.input, output: t.output })) };
  }
  return null;
}

function asText(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(String).join('\n');
  return String(v);
}

const MARK = '\n__VRDATA_RESULT__';

function callHarness(code: string, fn: string): string {
  return `${code}

import json as __vr_json, sys as __vr_sys
def __vr_main():
    __args = [__vr_json.loads(l) for l in __vr_sys.stdin.read().split('\\n') if l.strip()]
    __g = globals()
    if 'Solution' in __g and hasattr(__g['Solution'], ${JSON.stringify(fn)}):
        __f = getattr(__g['Solution'](), ${JSON.stringify(fn)})
    else:
        __f = __g[${JSON.stringify(fn)}]
    __r = __f(*__args)
    if isinstance(__r, tuple):
        __r = list(__r)
    __vr_sys.stdout.write(${JSON.stringify(MARK)} + __vr_json.dumps(__r))
__vr_main()
`;
}

function floatsClose(a: string, b: string): boolean {
  if (a === b) return true;
  const x = Number(a);
  const y = Number(b);
  if (!Number.isFinite(x) || !Number.isFinite(y) || a.trim() === '' || b.trim() === '') return false;
  return Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(y));
}

/** stdout against the expected output: exact lines (trailing whitespace ignored), then tokens with float tolerance. */
export function outputsMatch(got: string, want: string): boolean {
  const lines = (s: string): string[] => s.replace(/\r\n/g, '\n').trimEnd().split('\n').map((l) => l.trimEnd());
  const g = lines(got);
  const w = lines(want);
  if (g.length === w.length && g.every((l, i) => l === w[i] || l.trim() === w[i]!.trim())) return true;
  const gt = got.trim().split(/\s+/);
  const wt = want.trim().split(/\s+/);
  return gt.length === wt.length && gt.every((t, i) => floatsClose(t, wt[i]!));
}

function deepClose(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepClose(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a as object).sort();
    const kb = Object.keys(b as object).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && deepClose((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** A call-based result against the expected JSON (APPS wraps some expected values in a one-element list). */
export function resultsMatch(gotJson: string, wantJson: string): boolean {
  let got: unknown;
  let want: unknown;
  try {
    got = JSON.parse(gotJson);
    want = JSON.parse(wantJson);
  } catch {
    return gotJson.trim() === wantJson.trim();
  }
  return deepClose(got, want) || (Array.isArray(want) && want.length === 1 && deepClose(got, want[0]));
}

function failure(r: RunResult): string {
  if (r.timedOut) return 'time limit exceeded';
  if (r.outputTruncated) return 'output limit exceeded';
  if (r.signal === 'SIGXCPU' || r.exitCode === 152) return 'CPU time limit exceeded';
  if (r.exitCode !== 0) return `runtime error (exit ${r.exitCode ?? r.signal}): ${r.stderr.trim().split('\n').slice(-1)[0]?.slice(0, 200) ?? ''}`;
  return 'wrong answer';
}

/** Runs the response's code on every test; correct only when all pass within the limits. */
export async function checkCode(response: string, tests: CodeTests, o: CodeOptions = {}): Promise<CodeResult> {
  const code = extractCode(response);
  const total = tests.cases.length;
  if (code === null) return { correct: false, passed: 0, total, reason: 'no code block in the response', extracted: null };
  if (total === 0) return { correct: false, passed: 0, total, reason: 'no tests', extracted: code };
  if (tests.kind === 'call' && !tests.fnName) return { correct: false, passed: 0, total, reason: 'call-based tests without a function name', extracted: code };
  const source = tests.kind === 'call' ? callHarness(code, tests.fnName!) : code;
  const deadline = performance.now() + (o.problemTimeoutMs ?? 30_000);
  const limit = pLimit(Math.max(1, o.parallel ?? 2));
  let firstFailure: string | null = null;
  let passed = 0;
  await Promise.all(
    tests.cases.map((t, i) =>
      limit(async () => {
        if (firstFailure !== null) return;
        const left = deadline - performance.now();
        if (left <= 0) {
          firstFailure ??= 'problem time limit exceeded';
          return;
        }
        const timeoutMs = Math.min(o.sandbox?.timeoutMs ?? 6000, left);
        const r = await runPython(source, t.input, { ...o.sandbox, timeoutMs });
        let ok = false;
        if (r.exitCode === 0 && !r.timedOut && !r.outputTruncated) {
          if (tests.kind === 'call') {
            const at = r.stdout.lastIndexOf(MARK);
            ok = at >= 0 && resultsMatch(r.stdout.slice(at + MARK.length), t.output);
          } else ok = outputsMatch(r.stdout, t.output);
        }
        if (ok) passed++;
        else firstFailure ??= `test ${i + 1}/${total}: ${failure(r)}`;
      }),
    ),
  );
  if (firstFailure !== null) return { correct: false, passed, total, reason: firstFailure, extracted: code };
  return { correct: true, passed, total, reason: `all ${total} tests passed`, extracted: code };
}
