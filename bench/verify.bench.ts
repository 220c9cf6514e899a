/**
 * Answer verification speed (single process, one core's worth of work: everything runs on the main
 * thread, so cases/s here is cases/s per core).
 *
 *   1. math: every case of ../shared/data/verify (Math-Verify, NeMo-Skills, MATH suites, each under
 *      its own config), repeated for ~3 s after one warm-up pass. Named baseline: "Math-Verify 0.8.0:
 *      37-54 cases/s per core on this machine" (issue 3; Math-Verify cannot be installed here, so the
 *      figure is a constant, not a measurement of this run).
 *   2. equivalence engines on the same answer pairs: the hand-written exact evaluator (parse +
 *      compare) against mathjs and @cortex-js/compute-engine when they are installed
 *      (`npm install --no-save mathjs @cortex-js/compute-engine`); skipped with a note otherwise.
 *   3. code: stdin tests per second through the sandbox (2 at a time), and the sandbox's start cost
 *      per test: a sandboxed `pass` program against a bare `/usr/bin/python3 -c pass` spawn, same run.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readCases, type CaseRow } from '../src/verify/cases.js';
import { checkMath } from '../src/verify/math/index.js';
import { parseMath } from '../src/verify/math/parse.js';
import { nodesEqual } from '../src/verify/math/equal.js';
import { normalizeLatex } from '../src/verify/math/normalize.js';
import { Budget } from '../src/verify/budget.js';
import { runPython, sandboxAvailable } from '../src/verify/code/sandbox.js';
import { checkCode } from '../src/verify/code/index.js';

const MV_LOW = 37;
const MV_HIGH = 54;

function mathCasesPerSecond(rows: CaseRow[], seconds: number): { perS: number; perCpuS: number; agree: number } {
  let agree = 0;
  const once = (): void => {
    for (const r of rows) {
      const ok = r.gold !== null && r.pred !== null && checkMath(r.gold, r.pred, r.config).correct;
      if (ok === r.expected) agree++;
    }
  };
  once(); // warm-up: regex compilation and JIT
  once();
  const firstAgree = agree / 2;
  let n = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < seconds * 1000) {
    once();
    n += rows.length;
  }
  const cpu = process.cpuUsage(c0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  return { perS: n / ((performance.now() - t0) / 1000), perCpuS: n / cpuS, agree: firstAgree };
}

/** LaTeX answer pairs (and plain-text forms for mathjs) that each engine decides. */
const PAIRS: [string, string, string, string][] = [
  ['\\frac{1}{2}', '0.5', '1/2', '0.5'],
  ['2\\sqrt{2}', '\\sqrt{8}', '2*sqrt(2)', 'sqrt(8)'],
  ['x^2+2x+1', '(x+1)^2', 'x^2+2x+1', '(x+1)^2'],
  ['\\frac{x+2}{7}', '\\frac{x}{7}+\\frac{2}{7}', '(x+2)/7', 'x/7+2/7'],
  ['\\frac{\\sqrt{3}}{3}', '\\frac{1}{\\sqrt{3}}', 'sqrt(3)/3', '1/sqrt(3)'],
  ['3\\sqrt{13}', '\\sqrt{117}', '3*sqrt(13)', 'sqrt(117)'],
  ['\\frac{\\pi}{6}', '\\frac{\\pi}{3}', 'pi/6', 'pi/3'],
  ['x^3+3x-6', 'x^3+3x-5', 'x^3+3x-6', 'x^3+3x-5'],
  ['\\tan^2(y)+1', '\\sec^2(y)', 'tan(y)^2+1', 'sec(y)^2'],
  ['2k+2', '2(k+1)', '2k+2', '2(k+1)'],
];

function timePairs(label: string, seconds: number, decide: (i: number) => boolean): number {
  for (let i = 0; i < PAIRS.length; i++) decide(i);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < PAIRS.length; i++) decide(i);
    n += PAIRS.length;
  }
  const perS = n / ((performance.now() - t0) / 1000);
  console.log(`  ${label.padEnd(38)} ${perS.toFixed(0).padStart(9)} pairs/s   answers: ${PAIRS.map((_, i) => (decide(i) ? 'T' : 'F')).join('')}`);
  return perS;
}

async function engines(): Promise<void> {
  console.log('equivalence engines, same 10 answer pairs (expected answers: TTTTTTFFTT):');
  const eqOpts = (b: Budget) => ({ floatRounding: 6, strict: true, allowSetRelation: false, percent: 'fraction' as const, tuples: 'ordered' as const, budget: b });
  const mine = timePairs('hand-written (rationals + sampling)', 1.5, (i) => {
    const b = new Budget(1000);
    return nodesEqual(parseMath(normalizeLatex(PAIRS[i]![0]), b), parseMath(normalizeLatex(PAIRS[i]![1]), b), eqOpts(b));
  });
  try {
    const mathjs = (await import('mathjs' as string)) as { simplify: (s: string) => { toString(): string } };
    const mj = timePairs('mathjs simplify(a - (b))', 1.5, (i) => {
      try {
        return mathjs.simplify(`(${PAIRS[i]![2]}) - (${PAIRS[i]![3]})`).toString() === '0';
      } catch {
        return false;
      }
    });
    console.log(`  ratio hand-written / mathjs: ${(mine / mj).toFixed(1)}x`);
  } catch {
    console.log('  mathjs: not installed, skipped (npm install --no-save mathjs)');
  }
  try {
    const mod = (await import('@cortex-js/compute-engine' as string)) as { ComputeEngine: new () => { parse(s: string): { isEqual(o: unknown): boolean | undefined } } };
    const ce = new mod.ComputeEngine();
    const c = timePairs('compute-engine parse + isEqual', 1.5, (i) => {
      try {
        return ce.parse(PAIRS[i]![0]).isEqual(ce.parse(PAIRS[i]![1])) === true;
      } catch {
        return false;
      }
    });
    console.log(`  ratio hand-written / compute-engine: ${(mine / c).toFixed(1)}x`);
  } catch {
    console.log('  @cortex-js/compute-engine: not installed, skipped (npm install --no-save @cortex-js/compute-engine)');
  }
}

function bareSpawn(): Promise<number> {
  const t0 = performance.now();
  return new Promise((res) => {
    // The interpreter the sandbox runs (its PATH is /usr/bin:/bin); a `python3` found on the host's
    // PATH may be a slow wrapper (a pyenv shim here takes ~2 s), which would flatter the sandbox.
    const c = spawn('/usr/bin/python3', ['-c', 'pass'], { stdio: 'ignore', env: { PATH: '/usr/bin:/bin' } });
    c.on('close', () => res(performance.now() - t0));
  });
}

async function code(): Promise<void> {
  const av = sandboxAvailable();
  if (!av.ok) {
    console.log(`code: skipped, ${av.why}`);
    return;
  }
  const N = 12;
  let bare = 0;
  let boxed = 0;
  await bareSpawn();
  await runPython('pass', '');
  for (let i = 0; i < N; i++) {
    bare += await bareSpawn();
    boxed += (await runPython('pass', '')).ms;
  }
  console.log(`code: start cost per test: sandboxed ${(boxed / N).toFixed(1)} ms vs bare /usr/bin/python3 -c pass ${(bare / N).toFixed(1)} ms (baseline) = ${(boxed / bare).toFixed(2)}x, +${((boxed - bare) / N).toFixed(1)} ms`);
  const tests = { kind: 'stdin' as const, cases: Array.from({ length: 16 }, (_, i) => ({ input: `${i}\n`, output: `${2 * i}\n` })) };
  const t0 = performance.now();
  const r = await checkCode('```python\nprint(int(input()) * 2)\n```', tests, { parallel: 2 });
  const s = (performance.now() - t0) / 1000;
  console.log(`code: ${(tests.cases.length / s).toFixed(1)} tests/s (16 stdin tests, 2 in parallel, all passed: ${r.correct})`);
}

export async function run(): Promise<void> {
  const dir = resolve('..', 'shared', 'data', 'verify');
  const rows = ['mathverify_cases', 'nemo_skills_cases', 'hendrycks_cases'].flatMap((f) => readCases(resolve(dir, `${f}.jsonl`)));
  const { perS, perCpuS, agree } = mathCasesPerSecond(rows, 3);
  // Per CPU-second of this process = per core, whatever else shares the machine; wall-clock shown too.
  console.log(`math: ${rows.length} cases of shared/data/verify, single process: ${perCpuS.toFixed(0)} cases per CPU-second (per core); ${perS.toFixed(0)} cases/s wall-clock (agreement with expected ${agree}/${rows.length})`);
  console.log(`  baseline: Math-Verify 0.8.0: ${MV_LOW}-${MV_HIGH} cases/s per core on this machine (issue 3, a constant)`);
  console.log(`  ratio per core: ${(perCpuS / MV_HIGH).toFixed(0)}x to ${(perCpuS / MV_LOW).toFixed(0)}x (goal >= 40x)`);
  await engines();
  await code();
}
